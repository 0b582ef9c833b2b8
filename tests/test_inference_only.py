"""Inference-only counting (docs/inference-only.md): a layer whose output never reaches the model's
output counts its params and buffers, but no MACs, FLOPs, other ops or activations. The numbers
below are derived by hand; the sweep engine must give what `analyze` of each concrete model gives."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import archsweep
from archsweep import zoo

ROOT = Path(__file__).resolve().parents[1]

#: x (4) -> a: linear 4->8 -> head: linear 8->2 (the output); aux: linear 8->3 + relu on a's output,
#: read by nothing that reaches the output
DANGLING = {
    "name": "dangling",
    "input": [4],
    "layers": [
        {"name": "a", "op": "linear", "out_features": 8},
        {"name": "aux.fc", "op": "linear", "out_features": 3},
        {"name": "aux.relu", "op": "relu"},
        {"name": "head", "op": "linear", "inputs": ["a"], "out_features": 2},
    ],
}


def test_a_dangling_branch_counts_params_only():
    r = archsweep.analyze(DANGLING)
    rows = {row["name"]: row for row in r.layers.iter_rows(named=True)}
    assert [rows[n]["reaches_output"] for n in ("a", "aux.fc", "aux.relu", "head")] == [True, False, False, True]
    # params: a 4*8 + 8 = 40, aux.fc 8*3 + 3 = 27, head 8*2 + 2 = 18
    assert [rows[n]["params"] for n in ("a", "aux.fc", "aux.relu", "head")] == [40, 27, 0, 18]
    assert r.totals["params"] == r.totals["trainable_params"] == 85
    # MACs: a 4*8 = 32, head 8*2 = 16; aux.fc's 8*3 = 24 do not run at inference
    assert [rows[n]["macs"] for n in ("a", "aux.fc", "head")] == [32, 0, 16]
    assert r.totals["macs"] == 48 and r.totals["flops"] == 96
    assert rows["aux.relu"]["other_ops"] == 0 and r.totals["other_ops"] == 0
    # activations (fp32): a 8 * 4 = 32 B, head 2 * 4 = 8 B; the aux outputs are never made
    assert r.totals["activation_bytes"] == 40
    # peak: the caller holds x (16 B) throughout (docs/memory.md); x, a (32 B) and head (8 B)
    # live together when head runs: 56 B (aux never runs, so it adds nothing)
    assert r.totals["peak_activation_bytes"] == 56
    # weights: 85 params * 4 B
    assert r.totals["weight_bytes"] == 340
    assert "never reaches the model output" in rows["aux.fc"]["formula"]


def test_the_json_output_has_every_layer_column(tmp_path, capsys):
    from archsweep.analysis import LAYER_COLUMNS
    from archsweep.cli import main

    path = tmp_path / "m.json"
    path.write_text(json.dumps(DANGLING))
    assert main(["analyze", str(path), "--format", "json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert list(layers[0]) == LAYER_COLUMNS  # is_view and reaches_output included
    assert [row["reaches_output"] for row in layers] == [True, False, False, True]
    assert main(["analyze", str(path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split(",") == LAYER_COLUMNS


#: a space whose auxiliary head is switched on and off, of variable width and depth: every variant
#: is checked against the analysis of its concrete model
AUX_SPACE = """
name = "aux_space"
input = [3, 16, 16]

[variables]
width = [4, 8]
depth = [1, 2, 3]
aux = [false, true]

[[layers]]
name = "stem"
op = "conv2d"
out_channels = "=width"
kernel_size = 3
padding = 1

[[layers]]
name = "body"
  [[layers.layers]]
  name = "{i}"
  repeat = "=depth"
  index = "i"
  layers = [
    { name = "conv", op = "conv2d", out_channels = "=width", kernel_size = 3, padding = 1 },
    { name = "relu", op = "relu" },
  ]

  [[layers.layers]]
  name = "out"
  op = "identity"

[[layers]]
name = "aux"
when = "=aux"
layers = [
  { name = "pool", op = "adaptive_avgpool2d", output_size = 1 },
  { name = "flatten", op = "flatten" },
  { name = "fc", op = "linear", out_features = 10 },
]

[[layers]]
name = "pool"
op = "adaptive_avgpool2d"
inputs = ["body.out"]
output_size = 1

[[layers]]
name = "flatten"
op = "flatten"

[[layers]]
name = "fc"
op = "linear"
out_features = 10
"""

METRICS = ["params", "trainable_params", "buffers", "buffer_bytes", "macs", "flops", "other_ops", "weight_bytes",
           "activation_bytes", "peak_activation_bytes", "saved_bytes", "train_bytes"]


def reference(space: archsweep.Space, ids: list[int]) -> pl.DataFrame:
    rows = []
    for i in ids:
        t = archsweep.analyze(space.model(i), batch=2).totals
        rows.append({"variant_id": i, **{k: t[k] for k in METRICS}})
    return pl.DataFrame(rows, schema={"variant_id": pl.UInt64, **{k: pl.UInt64 for k in METRICS}})


def check_against_reference(space: archsweep.Space, df: pl.DataFrame) -> None:
    df = df.filter(pl.col("valid")).sort("variant_id")
    want = reference(space, df["variant_id"].to_list())
    assert df.select(want.columns).equals(want)


def test_aux_space_sweeps_equal_the_concrete_models(tmp_path):
    path = tmp_path / "aux.toml"
    path.write_text(AUX_SPACE)
    space = archsweep.Space.load(path)
    assert space.size == 12
    grid = archsweep.sweep(space, batch=2)
    check_against_reference(space, grid)
    # the head's params count, its MACs do not: width 8, depth 1 with and without it
    on = grid.filter((pl.col("width") == 8) & (pl.col("depth") == 1) & pl.col("aux")).row(0, named=True)
    off = grid.filter((pl.col("width") == 8) & (pl.col("depth") == 1) & ~pl.col("aux")).row(0, named=True)
    assert on["params"] - off["params"] == 8 * 10 + 10
    assert on["macs"] == off["macs"] and on["activation_bytes"] == off["activation_bytes"]
    # every order and path: explicit ids in random order, a sample, reuse off
    ids = [11, 0, 7, 3, 5, 10, 1]
    check_against_reference(space, archsweep.sweep(space, ids=ids, batch=2))
    check_against_reference(space, archsweep.sweep(space, sample=12, seed=3, batch=2))
    fresh = pl.concat([pl.from_arrow(b) for b in space.compiled.evaluate("grid", 0, 12, batch=2, reuse=False)[0]])  # type: ignore[misc]
    check_against_reference(space, fresh)  # type: ignore[arg-type]


@pytest.mark.parametrize("family,n", [("inception", 40), ("googlenet", 20), ("resnet", 20), ("mobilenet", 20)])
def test_family_sweeps_equal_the_concrete_models(family, n):
    space = archsweep.Space.load(ROOT / "data" / "families" / f"{family}.toml")
    check_against_reference(space, archsweep.sweep(space, sample=n, seed=1, batch=2))


def test_inception_v3_preset_gives_the_published_macs_and_params():
    # torchvision's table (tests/data/reference/torchvision_models.csv): 27,161,264 params,
    # 5.713 GMACs; the preset keeps AuxLogits (its weights are published), which does not run in
    # eval mode: the exact count is that of the model without the head
    t = archsweep.analyze(zoo.load("inception_v3")).totals
    space, vid = zoo.family("inception_v3")
    without = space.variant_id(space.preset_config("inception_v3") | {"aux_logits": False})
    assert t["params"] == 27_161_264
    assert t["macs"] == archsweep.analyze(space.model(without)).totals["macs"] == 5_713_216_096


#: b's output reaches the model's output (d's) only where c runs (c reads it as its second input;
#: off, c passes a through to d): b counts its MACs in one variant and not in the other, which the
#: engine finds per variant
SOMETIMES = """
name = "sometimes"
input = [4]

[variables]
on = [false, true]

[[layers]]
name = "a"
op = "linear"
out_features = 4

[[layers]]
name = "b"
op = "linear"
out_features = 4

[[layers]]
name = "c"
op = "add"
when = "=on"
inputs = ["a", "b"]

[[layers]]
name = "d"
op = "relu"
"""


def test_a_layer_on_the_path_in_some_variants_only_is_counted_per_variant(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SOMETIMES)
    space = archsweep.Space.load(path)
    df = archsweep.sweep(space, batch=2).sort("variant_id")
    check_against_reference(space, df)
    off, on = df.row(0, named=True), df.row(1, named=True)
    # a: 4*4 MACs per sample; b: 4*4 more where c reads it; params 20 + 20 either way; batch 2
    assert (off["on"], on["on"]) == (False, True)
    assert (off["macs"], on["macs"]) == (2 * 16, 2 * 32)
    assert off["params"] == on["params"] == 40
    check_against_reference(space, archsweep.sweep(space, ids=[1, 0], batch=2))
