"""The sweep engine: rows equal archsweep.analyze of the concrete model, pushed-down filters
equal filtering afterwards, determinism, the Parquet dataset (manifest, metadata, resume,
shards, kill -9), the CLI, and pareto/top_k against brute force written here."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError, Space
from archsweep.sweep import MANIFEST, read_manifest, verify_dataset
from archsweep.sweep.layout import write_manifest

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"

TOTALS = [
    "params", "trainable_params", "buffers", "macs", "flops", "other_ops", "weight_bytes",
    "buffer_bytes", "activation_bytes", "peak_activation_bytes", "saved_bytes", "train_bytes",
]
METRICS = TOTALS + ["num_layers"]

# A ResNet-like space: stem conv+bn+relu+maxpool, three stages of a variable number of basic
# blocks (conv-bn-relu-conv-bn + shortcut), a projection shortcut switched on by `when`,
# per-stage widths, derived variables, a constraint, and variants that are invalid (a final
# 2x2 pool on a 1x1 map, an identity shortcut whose channels do not match).
RESNET = {
    "name": "resnetish",
    "input": [3, "=res", "=res"],
    "variables": {
        "res": [8, 32, 64],
        "base": [8, 16],
        "depth": {"per_stage": 3, "choices": [0, 1, 2]},
        "width": {"per_stage": 3, "choices": [16, 32]},
        "proj": [True, False],
        "expand": {"range": [1, 3]},
    },
    "derived": {"stem_w": "base * 2", "hidden": "width[2] * expand"},
    "constraints": ["width[2] >= width[0]"],
    "layers": [
        {"name": "stem", "op": "conv2d", "out_channels": "=stem_w", "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
        {"name": "stem_bn", "op": "batchnorm2d"},
        {"name": "stem_relu", "op": "relu", "inplace": True},
        {"name": "maxpool", "op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        {"name": "layer{s+1}", "repeat": 3, "index": "s", "layers": [
            {"name": "block{i}", "repeat": "=depth[s]", "index": "i", "layers": [
                {"name": "conv1", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 3,
                 "stride": "=2 if (i == 0 and s > 0) else 1", "padding": 1, "bias": False},
                {"name": "bn1", "op": "batchnorm2d"},
                {"name": "relu1", "op": "relu", "inplace": True},
                {"name": "conv2", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 3, "padding": 1, "bias": False},
                {"name": "bn2", "op": "batchnorm2d"},
                # constant-false for i > 0 (then the layer stands for its first input, block_input)
                {"name": "down", "op": "conv2d", "inputs": ["block_input"], "out_channels": "=width[s]", "kernel_size": 1,
                 "stride": "=2 if s > 0 else 1", "bias": False, "when": "=i == 0 and (s > 0 or proj)"},
                {"name": "down_bn", "op": "batchnorm2d", "when": "=i == 0 and (s > 0 or proj)"},
                {"name": "sum", "op": "add", "inputs": ["bn2", "down_bn"]},
                {"name": "relu2", "op": "relu", "inplace": True},
            ]},
        ]},
        {"name": "pool", "op": "avgpool2d", "kernel_size": 2},
        {"name": "flatten", "op": "flatten"},
        {"name": "fc1", "op": "linear", "out_features": "=hidden", "when": "=expand > 1"},
        {"name": "fc", "op": "linear", "out_features": 10},
    ],
}
RESNET_SIZE = 3 * 2 * (3 * 2) ** 3 * 2 * 3  # 7776
# rows surviving the constraint width_2 >= width_0: 3 of the 4 (width_0, width_2) pairs
RESNET_KEPT = RESNET_SIZE * 3 // 4

# A constraint-free space from the Rust sweep tests (repeat/when/block_input), 648 variants.
MINI = {
    "name": "mini",
    "input": [3, "=res", "=res"],
    "variables": {
        "res": [8, 16, 32],
        "depth": {"per_stage": 2, "choices": [1, 2, 3]},
        "width": {"per_stage": 2, "choices": [4, 8]},
        "k": [1, 3, 5],
        "proj": [True, False],
    },
    "derived": {"hidden": "width[1] * 4"},
    "layers": [
        {"name": "stage{s}", "repeat": 2, "index": "s", "layers": [
            {"name": "b{i}", "repeat": "=depth[s]", "index": "i", "layers": [
                {"name": "conv", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": "=k", "padding": "=k // 2"},
                {"name": "bn", "op": "batchnorm2d"},
                {"name": "relu", "op": "relu", "inplace": True},
                {"name": "short", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 1, "inputs": ["block_input"], "when": "=proj and i == 0"},
                {"name": "sum", "op": "add", "inputs": ["relu", "short"]},
            ]},
            {"name": "pool", "op": "maxpool2d", "kernel_size": 2, "ceil_mode": True},
        ]},
        {"op": "flatten"},
        {"op": "linear", "out_features": "=hidden"},
        {"op": "linear", "out_features": 10},
    ],
}
MINI_SIZE = 3 * 3 * 2 * 3 * 2 * 3 * 2  # 648

# Block-level `when` over a loop index and a variable, a repeat count from a derived variable, a
# frozen layer, and an attribute over 17 variables (2^17 combinations: more than the core
# tabulates, so that op is built per variant).
BITS = 17
BLOCKS = {
    "name": "blocks",
    "input": [4, "=res"],
    "variables": {
        "res": [4, 8, 16],
        "n": [0, 1, 2, 3],
        "gate": [True, False],
        "k": [1, 3, 5],
        "bits": {"per_stage": BITS, "choices": [0, 1]},
    },
    "derived": {"m": "n * 2 if gate else n"},
    "layers": [
        {"name": "pre", "op": "conv1d", "out_channels": 8, "kernel_size": "=k", "trainable": False},
        {"name": "tower{t}", "repeat": "=m", "index": "t", "when": "=t % 2 == 0 or gate", "layers": [
            {"name": "c", "op": "conv1d", "out_channels": 8, "kernel_size": 3, "padding": "=t % 2"},
            {"name": "r", "op": "relu"},
        ]},
        {"name": "gap", "op": "adaptive_avgpool1d", "output_size": 1},
        {"op": "flatten"},
        {"name": "fc", "op": "linear", "out_features": "=1 + " + " + ".join(f"{1 << i} * bits[{i}]" for i in range(BITS))},
    ],
}


def small_vgg_spec() -> dict:
    """vgg.toml with fewer choices, so its full grid (the incremental evaluation path) is small."""
    spec = Space.load(VGG).spec
    spec = json.loads(json.dumps(spec))
    spec["variables"] = {
        "res": [32, 64],
        "depth": {"per_stage": 5, "choices": [1, 2]},
        "width": {"per_stage": 5, "choices": [8, 16]},
        "kernel": {"per_stage": 5, "choices": [1, 3]},
        "fc": [64, 128],
    }
    return spec


@pytest.fixture(scope="module")
def resnet() -> Space:
    return Space(RESNET)


@pytest.fixture(scope="module")
def mini() -> Space:
    return Space(MINI)


@pytest.fixture(scope="module")
def vgg() -> Space:
    return Space.load(VGG)


@pytest.fixture(scope="module")
def resnet_grid(resnet) -> pl.DataFrame:
    return archsweep.sweep(resnet)


@pytest.fixture(scope="module")
def vgg_sample(vgg) -> pl.DataFrame:
    return archsweep.sweep(vgg, sample=400, seed=11)


# --------------------------------------------------------------------------------------------
# 3. rows equal analyze of the concrete model


def check_rows_against_analyze(space: Space, df: pl.DataFrame, **opts) -> tuple[int, int]:
    """Every row of df equals archsweep.analyze(space.model(id), **opts); returns (valid, invalid)."""
    n_valid = n_invalid = 0
    for row in df.iter_rows(named=True):
        vid = row["variant_id"]
        cfg = space.config(vid)
        for name in space.variables:
            assert row[name] == cfg[name], (vid, name)
        model = space.model(vid)
        try:
            rep = archsweep.analyze(model, **opts)
        except ArchsweepError as e:
            assert row["valid"] is False, f"variant {vid}: analyze raises {e} but the row is valid"
            assert row["error"] == str(e), vid
            assert all(row[m] is None for m in METRICS), vid
            n_invalid += 1
            continue
        assert row["valid"] is True, f"variant {vid}: the row says {row['error']!r} but analyze succeeds"
        assert row["error"] is None
        for m in TOTALS:
            assert row[m] == rep.totals[m], f"variant {vid} column {m}: sweep {row[m]}, analyze {rep.totals[m]}"
        assert row["num_layers"] == len(model.layers) == rep.layers.height, vid
        assert row["output_shape"] == rep.layers["output_shape"][-1].to_list(), vid
        n_valid += 1
    return n_valid, n_invalid


def test_resnet_grid_shape_and_counts(resnet, resnet_grid):
    assert resnet.size == RESNET_SIZE
    assert list(resnet.variables) == [
        "res", "base", "depth_0", "width_0", "proj", "depth_1", "width_1", "depth_2", "width_2", "expand",
    ]
    df = resnet_grid
    assert df.columns == ["variant_id", *resnet.variables, "valid", "error", *METRICS, "output_shape"]
    assert df.height == RESNET_KEPT
    assert df["variant_id"].is_sorted() and df["variant_id"].n_unique() == df.height
    assert (df["width_2"] >= df["width_0"]).all()
    assert 0 < (~df["valid"]).sum() < df.height
    assert_frame_equal(archsweep.sweep(resnet), df)  # the same call again: identical


def test_resnet_grid_rows_equal_analyze(resnet, resnet_grid):
    # every 4th row plus a few contiguous runs (consecutive grid ids reuse earlier layers' work)
    rows = resnet_grid.filter((pl.col("variant_id") % 4 == 1) | pl.col("variant_id").is_between(2000, 2100)
                              | pl.col("variant_id").is_between(RESNET_SIZE - 60, RESNET_SIZE))
    n_valid, n_invalid = check_rows_against_analyze(resnet, rows)
    assert n_valid > 300 and n_invalid > 300
    errors = rows.filter(~pl.col("valid"))["error"]
    assert errors.str.contains(r"^pool \(avgpool2d\)").any()
    assert errors.str.contains(r"^layer1\.block0\.sum \(add\)").any()


def test_resnet_sampled_rows_equal_analyze(resnet):
    df = archsweep.sweep(resnet, sample=500, seed=5)
    assert df.height <= 500 and df["variant_id"].n_unique() == df.height
    n_valid, n_invalid = check_rows_against_analyze(resnet, df)
    assert n_valid > 50 and n_invalid > 50


def test_resnet_explicit_ids_equal_analyze(resnet):
    ids = [0, 1, 7775, 4000, 4001, 3999, 123, 123]
    ids = [i for i in ids if resnet.config(i)["width_2"] >= resnet.config(i)["width_0"]]
    df = archsweep.sweep(resnet, ids=ids)
    assert df["variant_id"].to_list() == ids
    check_rows_against_analyze(resnet, df)


def test_resnet_batchnorm_buffers_and_when(resnet, resnet_grid):
    # variant with every block present, projection in stage 1, fc1 on
    row = resnet_grid.filter(
        (pl.col("res") == 64) & (pl.col("base") == 8) & (pl.col("depth_0") == 2) & (pl.col("width_0") == 16)
        & pl.col("proj") & (pl.col("depth_1") == 2) & (pl.col("width_1") == 32) & (pl.col("depth_2") == 2)
        & (pl.col("width_2") == 32) & (pl.col("expand") == 2)
    ).row(0, named=True)
    assert row["valid"]
    # batchnorm2d: running mean + var per channel and num_batches_tracked
    bn_channels = 16 + 16 * 5 + 32 * 5 + 32 * 5  # stem; per stage bn1, bn2 of 2 blocks + down_bn
    n_bn = 1 + 5 + 5 + 5
    assert row["buffers"] == 2 * bn_channels + n_bn
    # stem 1 + bn + relu + maxpool = 4; each block 7 layers + 2 with projection; pool, flatten, fc1, fc = 4
    assert row["num_layers"] == 4 + 6 * 7 + 3 * 2 + 4
    assert row["output_shape"] == [1, 10]
    # expand is the last digit: id - 1 has expand == 1, which switches fc1 off
    other = resnet_grid.filter(pl.col("variant_id") == row["variant_id"] - 1).row(0, named=True)
    assert other["expand"] == 1 and other["num_layers"] == row["num_layers"] - 1


def test_vgg_sampled_rows_equal_analyze(vgg, vgg_sample):
    assert vgg_sample.height == 400
    n_valid, _ = check_rows_against_analyze(vgg, vgg_sample.head(150))
    assert n_valid == 150


def test_small_vgg_grid_rows_equal_analyze():
    space = Space(small_vgg_spec())
    assert space.size == 2 * 8**5 * 2
    df = archsweep.sweep(space)
    assert df.height == space.size
    rng = random.Random(3)
    picks = sorted(rng.sample(range(space.size), 250)) + list(range(70000, 70060)) + list(range(space.size - 40, space.size))
    rows = df.filter(pl.col("variant_id").is_in(picks))
    n_valid, n_invalid = check_rows_against_analyze(space, rows)
    assert n_valid > 0 and n_valid + n_invalid == rows.height


def test_blocks_sampled_rows_equal_analyze():
    space = Space(BLOCKS)
    assert space.size == 3 * 4 * 2 * 3 * 2**BITS
    df = archsweep.sweep(space, sample=300, seed=4)
    n_valid, n_invalid = check_rows_against_analyze(space, df)
    assert n_valid > 50 and n_invalid > 10
    valid = df.filter(pl.col("valid"))
    assert (valid["trainable_params"] < valid["params"]).all()  # pre is frozen
    assert valid["num_layers"].n_unique() > 3


@pytest.mark.parametrize("opts", [dict(batch=4), dict(dtype="fp16", optimizer="sgd"), dict(batch=3, dtype="bf16", optimizer="adamw")])
def test_rows_equal_analyze_with_batch_dtype_optimizer(resnet, opts):
    df = archsweep.sweep(resnet, sample=150, seed=6, **opts)
    n_valid, n_invalid = check_rows_against_analyze(resnet, df, **opts)
    assert n_valid > 20 and n_invalid > 20
    if "batch" in opts:
        assert (df.filter(pl.col("valid"))["output_shape"].list.first() == opts["batch"]).all()


EDGE = {
    "name": "edge",
    "input": [3, "=side", "=side"],  # the input shape from a derived variable
    "variables": {"late": [1, 2, 3], "scale": [1, 2], "w": [4, 8], "drop": [0.0, 0.25, 0.5], "z": [True, False]},
    "derived": {"side": "8 * scale", "deep": "late > 1 and z"},
    "layers": [
        {"name": "c1", "op": "conv2d", "out_channels": "=w", "kernel_size": 3, "padding": 1},
        {"name": "d", "op": "dropout", "p": "=drop"},  # float choices
        {"name": "c2", "op": "conv2d", "out_channels": "=w * late", "kernel_size": 3, "when": "=deep"},
        {"name": "blk", "repeat": "=late - 1", "index": "i", "layers": [{"name": "p{i}", "op": "maxpool2d", "kernel_size": 2}]},
        {"op": "flatten"},
        {"op": "linear", "out_features": 5},
    ],
}


def test_edge_grid_rows_equal_analyze():
    space = Space(EDGE)
    assert list(space.variables) == ["scale", "w", "drop", "late", "z"]
    df = archsweep.sweep(space)
    assert df.height == space.size == 72
    assert df.schema["drop"] == pl.Float64 and df.schema["z"] == pl.Boolean
    assert check_rows_against_analyze(space, df) == (72, 0)
    assert df["num_layers"].n_unique() > 3


def test_empty_results_keep_the_schema(tmp_path):
    space = Space(EDGE)
    schema = archsweep.sweep(space, ids=[0]).schema
    for kw in [dict(where="params < 0"), dict(where="params < 0", chunk_rows=5), dict(ids=[]), dict(sample=0)]:
        df = archsweep.sweep(space, **kw)
        assert df.height == 0 and df.schema == schema, kw
    s = archsweep.sweep_to_dataset(space, where="params < 0", out=tmp_path / "d", chunk_rows=10)
    assert s.parts_written == 8 and s.kept == 0 and s.filtered_out == 72
    assert archsweep.scan(tmp_path / "d").collect().schema == schema


def test_mini_grid_rows_equal_analyze(mini):
    df = archsweep.sweep(mini)
    assert df.height == MINI_SIZE
    n_valid, n_invalid = check_rows_against_analyze(mini, df.filter(pl.col("variant_id") % 3 == 0))
    assert n_valid > 0 and n_invalid > 0


# --------------------------------------------------------------------------------------------
# 4. pushed-down `where` equals filtering afterwards


@pytest.mark.parametrize("where, expr", [
    ("params < 5e6 and macs < 3e8", (pl.col("params") < 5_000_000) & (pl.col("macs") < 300_000_000)),
    ("peak_activation_bytes < 64 MiB", pl.col("peak_activation_bytes") < 64 * 2**20),
    ("res >= 192 and width_4 <= 128", (pl.col("res") >= 192) & (pl.col("width_4") <= 128)),
    ("num_layers > 30 or fc == 512", (pl.col("num_layers") > 30) | (pl.col("fc") == 512)),
])
def test_where_on_vgg_equals_filtering_afterwards(vgg, vgg_sample, where, expr):
    pushed = archsweep.sweep(vgg, sample=400, seed=11, where=where)
    after = vgg_sample.filter(expr)
    assert 0 < after.height < vgg_sample.height, "the filter should be selective on this sample"
    assert_frame_equal(pushed, after)


@pytest.mark.parametrize("where, expr, keeps_invalid", [
    ("params < 20000 and macs > 100000", (pl.col("params") < 20000) & (pl.col("macs") > 100000), False),
    ("peak_activation_bytes < 100 KiB", pl.col("peak_activation_bytes") < 100 * 1024, False),
    ("res >= 32 and not proj", (pl.col("res") >= 32) & ~pl.col("proj"), True),
    ("res == 8", pl.col("res") == 8, True),
    ("depth_1 + depth_2 >= 3", pl.col("depth_1") + pl.col("depth_2") >= 3, True),
    ("stem_w == 32", pl.col("base") == 16, True),  # a derived variable: stem_w = base * 2
    ("res == 64 and params > 40000", (pl.col("res") == 64) & (pl.col("params") > 40000), False),
    ("not (params > 40000)", ~(pl.col("params") > 40000), False),
])
def test_where_on_resnet_equals_filtering_afterwards(resnet, resnet_grid, where, expr, keeps_invalid):
    pushed = archsweep.sweep(resnet, where=where)
    # in polars a comparison with a null metric is null, which filter drops: like docs/sweeps.md says
    after = resnet_grid.filter(expr)
    assert 0 < after.height < resnet_grid.height
    assert_frame_equal(pushed, after)
    assert bool((~pushed["valid"]).any()) == keeps_invalid


@pytest.mark.parametrize("where, expr, keeps_invalid", [
    # invalid rows have null metrics, and a pushed-down filter follows polars' (SQL's)
    # three-valued logic on them: `true or null` is true, `false and null` false, `not null` null
    ("res == 8 or params > 40000", (pl.col("res") == 8) | (pl.col("params") > 40000), True),
    ("params > 40000 or res == 8", (pl.col("params") > 40000) | (pl.col("res") == 8), True),
    ("not (res != 8 and params > 40000)", ~((pl.col("res") != 8) & (pl.col("params") > 40000)), True),
    ("res == 8 and params > 40000", (pl.col("res") == 8) & (pl.col("params") > 40000), False),
    ("res == 8 and (params > 40000 or depth_1 >= 1)", (pl.col("res") == 8) & ((pl.col("params") > 40000) | (pl.col("depth_1") >= 1)), True),
    ("res == 8 or params + 1 > 40000 * 2", (pl.col("res") == 8) | (pl.col("params") + 1 > 80000), True),
])
def test_where_on_invalid_rows_is_three_valued(resnet_grid, where, expr, keeps_invalid):
    pushed = archsweep.sweep(Space(RESNET), where=where)
    after = resnet_grid.filter(expr)
    assert_frame_equal(pushed, after)
    assert bool((~pushed["valid"]).any()) == keeps_invalid


def test_where_counts_in_the_summary(resnet, resnet_grid, tmp_path):
    s = archsweep.sweep_to_dataset(resnet, where="params < 20000", out=tmp_path / "d")
    kept = resnet_grid.filter(pl.col("params") < 20000).height
    assert s.evaluated == RESNET_SIZE
    assert s.rejected_by_constraints == RESNET_SIZE - RESNET_KEPT
    assert s.kept == kept
    assert s.filtered_out == RESNET_KEPT - kept
    assert s.invalid == 0


def test_where_errors_are_clear(resnet):
    with pytest.raises(ArchsweepError) as info:
        archsweep.sweep(resnet, where="parms < 5e6")
    msg = str(info.value)
    assert "--where" in msg and "unknown variable 'parms'" in msg and "params" in msg and "width_0" in msg
    with pytest.raises(ArchsweepError, match="unclosed"):
        archsweep.sweep(resnet, where="(params < 5")


# --------------------------------------------------------------------------------------------
# 5. determinism


def test_same_seed_same_frame(vgg, vgg_sample):
    assert_frame_equal(archsweep.sweep(vgg, sample=400, seed=11), vgg_sample)


@pytest.mark.parametrize("kw", [dict(), dict(sample=3000, seed=2), dict(ids=list(range(7775, 0, -13)))])
def test_thread_count_and_chunking_do_not_change_rows(resnet, kw):
    one = archsweep.sweep(resnet, threads=1, **kw)
    two = archsweep.sweep(resnet, threads=2, **kw)
    chunked = archsweep.sweep(resnet, threads=2, chunk_rows=97, **kw)
    assert one.height > 0
    assert_frame_equal(one, two)
    assert_frame_equal(one, chunked)


def test_sample_without_replacement(mini):
    full = archsweep.sweep(mini, sample=MINI_SIZE, seed=4)
    assert sorted(full["variant_id"].to_list()) == list(range(MINI_SIZE))  # a permutation
    assert full["variant_id"].to_list() != list(range(MINI_SIZE))
    a = archsweep.sweep(mini, sample=200, seed=1)
    b = archsweep.sweep(mini, sample=200, seed=2)
    assert a["variant_id"].n_unique() == 200 == b["variant_id"].n_unique()
    assert a["variant_id"].to_list() != b["variant_id"].to_list()
    assert len(set(a["variant_id"]) & set(b["variant_id"])) < 120  # ~62 expected for independent draws
    # a sample of N is the first N positions of the permutation
    assert a["variant_id"].to_list() == archsweep.sweep(mini, sample=400, seed=1)["variant_id"].to_list()[:200]
    # and its rows equal the grid's rows of the same ids
    grid = archsweep.sweep(mini)  # no constraints: row k of the grid is variant k
    assert_frame_equal(a, grid.select(pl.all().gather(a["variant_id"])))


def test_sample_larger_than_the_space_is_refused(mini):
    with pytest.raises(ArchsweepError, match=f"cannot sample {MINI_SIZE + 1:,} distinct variants from a space of {MINI_SIZE:,}"):
        archsweep.sweep(mini, sample=MINI_SIZE + 1)
    with pytest.raises(ArchsweepError, match="sample or ids, not both"):
        archsweep.sweep(mini, sample=3, ids=[1])
    assert archsweep.sweep(mini, sample=0).height == 0


def test_explicit_ids_in_order(mini):
    ids = [5, 3, 600, 5, 1, MINI_SIZE - 1, 0]
    df = archsweep.sweep(mini, ids=ids)
    assert df["variant_id"].to_list() == ids
    grid = archsweep.sweep(mini)
    for row in df.iter_rows(named=True):
        assert row == grid.row(row["variant_id"], named=True)
    assert archsweep.sweep(mini, ids=[]).height == 0
    with pytest.raises(ArchsweepError, match="out of range"):
        archsweep.sweep(mini, ids=[1, MINI_SIZE])


# --------------------------------------------------------------------------------------------
# 6. Parquet datasets


def parts(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("part-*.parquet"))


def test_dataset_equals_the_in_memory_sweep(resnet, resnet_grid, tmp_path):
    d = tmp_path / "ds"
    s = archsweep.sweep_to_dataset(resnet, out=d, chunk_rows=1000)
    assert isinstance(s, archsweep.SweepSummary)
    n_chunks = -(-RESNET_SIZE // 1000)
    assert parts(d) == [f"part-{k:08d}.parquet" for k in range(n_chunks)]
    assert s.parts_written == n_chunks and s.parts_skipped == 0
    assert s.kept == RESNET_KEPT and s.evaluated == RESNET_SIZE
    assert not [p for p in d.iterdir() if p.name.startswith(".")]
    assert_frame_equal(archsweep.scan(d).collect(), resnet_grid)
    manifest = read_manifest(d / MANIFEST)
    assert manifest["spec_hash"] == resnet.spec_hash
    assert manifest["spec"] == RESNET
    assert manifest["run"]["chunk_rows"] == 1000
    assert sum(p["rows"] for p in manifest["parts"].values()) == RESNET_KEPT
    assert sorted((p["start"], p["end"]) for p in manifest["parts"].values()) == [
        (k * 1000, min(k * 1000 + 1000, RESNET_SIZE)) for k in range(n_chunks)
    ]
    for name in parts(d):
        kv = pq.read_metadata(d / name).metadata
        assert kv[b"archsweep.spec_hash"].decode() == resnet.spec_hash
        assert json.loads(kv[b"archsweep.spec"]) == RESNET
        assert json.loads(kv[b"archsweep.run"])["mode"] == "grid"


def test_sampled_dataset_equals_the_in_memory_sweep(vgg, vgg_sample, tmp_path):
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(vgg, sample=400, seed=11, out=d, chunk_rows=64)
    assert len(parts(d)) == 7
    assert_frame_equal(archsweep.scan(d).collect(), vgg_sample)
    assert_frame_equal(pl.scan_parquet(str(d / "*.parquet")).collect(), vgg_sample)


def test_second_sweep_into_the_same_dir_needs_resume(mini, tmp_path):
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(mini, sample=300, seed=1, out=d, chunk_rows=100)
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    with pytest.raises(ArchsweepError, match="already holds a sweep; pass --resume"):
        archsweep.sweep_to_dataset(mini, sample=300, seed=1, out=d, chunk_rows=100)
    with pytest.raises(ArchsweepError, match=r"cannot resume: seed was 1, now 2"):
        archsweep.sweep_to_dataset(mini, sample=300, seed=2, out=d, chunk_rows=100, resume=True)
    with pytest.raises(ArchsweepError, match=r"cannot resume: chunk_rows was 100, now 50"):
        archsweep.sweep_to_dataset(mini, sample=300, seed=1, out=d, chunk_rows=50, resume=True)
    with pytest.raises(ArchsweepError, match=r"cannot resume: where"):
        archsweep.sweep_to_dataset(mini, sample=300, seed=1, out=d, chunk_rows=100, resume=True, where="res > 8")
    other = json.loads(json.dumps(MINI))
    other["variables"]["k"] = [1, 3]
    with pytest.raises(ArchsweepError, match=r"cannot resume: spec_hash"):
        archsweep.sweep_to_dataset(Space(other), sample=300, seed=1, out=d, chunk_rows=100, resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir()} == before
    # resuming a complete run does nothing
    s = archsweep.sweep_to_dataset(mini, sample=300, seed=1, out=d, chunk_rows=100, resume=True)
    assert s.parts_written == 0 and s.parts_skipped == 3
    assert archsweep.scan(d).collect()["variant_id"].n_unique() == 300


def test_resume_redoes_only_missing_parts(mini, tmp_path):
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(mini, sample=600, seed=9, out=d, chunk_rows=128)
    full = archsweep.scan(d).collect()
    assert full.height == 600 and len(parts(d)) == 5
    # lose two parts, leave a stale temporary file and an outdated manifest
    (d / "part-00000001.parquet").unlink()
    (d / "part-00000003.parquet").unlink()
    (d / ".part-00000003.parquet.tmp-99999").write_bytes(b"half a parquet file")
    manifest = read_manifest(d / MANIFEST)
    del manifest["parts"]["part-00000002.parquet"]
    write_manifest(d / MANIFEST, manifest, mini.empty_frame())
    s = archsweep.sweep_to_dataset(mini, sample=600, seed=9, out=d, chunk_rows=128, resume=True)
    assert s.parts_written == 2 and s.parts_skipped == 3
    assert_frame_equal(archsweep.scan(d).collect(), full)
    manifest = read_manifest(d / MANIFEST)
    assert len(manifest["parts"]) == 5


def test_shards_cover_every_id_once(mini, tmp_path):
    whole = archsweep.sweep(mini, sample=600, seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    sa = archsweep.sweep_to_dataset(mini, sample=600, seed=3, out=a, chunk_rows=100, shard=(0, 2))
    sb = archsweep.sweep_to_dataset(mini, sample=600, seed=3, out=b, chunk_rows=100, shard=(1, 2))
    assert sa.parts_written == 3 and sb.parts_written == 3
    assert (a / "_manifest.shard-0-of-2.parquet").exists() and (b / "_manifest.shard-1-of-2.parquet").exists()
    ids = archsweep.scan(a).collect()["variant_id"].to_list() + archsweep.scan(b).collect()["variant_id"].to_list()
    assert len(ids) == 600 and sorted(ids) == sorted(whole["variant_id"].to_list())
    merged = pl.concat([archsweep.scan(a).collect(), archsweep.scan(b).collect()])
    assert_frame_equal(merged.sort("variant_id"), whole.sort("variant_id"))
    # a resumed shard into the other shard's directory fills it up
    archsweep.sweep_to_dataset(mini, sample=600, seed=3, out=a, chunk_rows=100, shard=(1, 2), resume=True)
    assert_frame_equal(archsweep.scan(a).collect(), whole)


def test_shards_fill_one_directory_without_resume(mini, tmp_path):
    d = tmp_path / "ds"
    whole = archsweep.sweep(mini, sample=600, seed=3)
    archsweep.sweep_to_dataset(mini, sample=600, seed=3, out=d, chunk_rows=100, shard=(0, 2))
    archsweep.sweep_to_dataset(mini, sample=600, seed=3, out=d, chunk_rows=100, shard=(1, 2))
    assert_frame_equal(archsweep.scan(d).collect(), whole)


def test_bad_options(mini, tmp_path):
    with pytest.raises(ArchsweepError, match="chunk_rows"):
        archsweep.sweep(mini, chunk_rows=0)
    with pytest.raises(ArchsweepError, match="shard 2/2"):
        archsweep.sweep_to_dataset(mini, out=tmp_path / "x", shard=(2, 2))
    with pytest.raises(ArchsweepError, match="no such sweep directory"):
        archsweep.scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchsweepError, match="no finished part files"):
        archsweep.scan(tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# 7. kill -9, then resume


def cli(*args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "archsweep", *map(str, args)], capture_output=True, text=True, env=env, timeout=300, **kw)


def test_kill_9_then_resume(tmp_path):
    n, chunk = 400_000, 8_000
    d = tmp_path / "ds"
    cmd = [sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(d), "--sample", str(n), "--seed", "7",
           "--chunk-rows", str(chunk), "--threads", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (d.is_dir() and any(d.glob("part-*.parquet"))):
            assert proc.poll() is None, "the sweep ended before it could be killed: " + proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = parts(d)
    assert 1 <= len(done) < n // chunk, "kill earlier: the run was already complete"
    # a temporary file as a kill in the middle of a write leaves it: never read by scan
    (d / f".part-{n // chunk - 1:08d}.parquet.tmp-{proc.pid}").write_bytes(b"PAR1 torn")
    r = cli("sweep", VGG, "-o", d, "--sample", n, "--seed", 7, "--chunk-rows", chunk, "--no-progress")
    assert r.returncode == 2 and "--resume" in r.stderr  # not without --resume
    r = cli("sweep", VGG, "-o", d, "--sample", n, "--seed", 7, "--chunk-rows", chunk, "--no-progress", "--resume")
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already done" in r.stderr
    assert len(parts(d)) == n // chunk
    # the killed writer's temporary files are gone, and every part is whole and recorded
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert verify_dataset(d, full=True) == []
    ids = archsweep.scan(d).select("variant_id").collect()["variant_id"]
    assert ids.len() == n
    assert ids.n_unique() == n
    # exactly the first n positions of the seed-7 permutation: the same ids as one clean run
    manifest = read_manifest(d / MANIFEST)
    assert len(manifest["parts"]) == n // chunk
    assert sum(p["rows"] for p in manifest["parts"].values()) == n
    check = archsweep.sweep(Space.load(VGG), ids=ids.sample(200, seed=0).to_list())
    assert check["valid"].all()


def test_killed_run_resumes_to_the_same_ids_as_a_clean_run(tmp_path):
    # the same permutation positions, so the resumed dataset equals a single in-memory sweep
    space = Space.load(VGG)
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(space, sample=5000, seed=7, out=d, chunk_rows=1000)
    for k in (1, 4):
        (d / f"part-{k:08d}.parquet").unlink()
    archsweep.sweep_to_dataset(space, sample=5000, seed=7, out=d, chunk_rows=1000, resume=True)
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(space, sample=5000, seed=7))


# --------------------------------------------------------------------------------------------
# 8. the local engine's pipeline: chunk k+1 is evaluated while chunk k is written


def test_pipelined_parts_equal_parts_written_one_chunk_at_a_time(vgg, tmp_path):
    from archsweep.sweep import LOCAL_WORKERS, LocalExecutor

    assert LOCAL_WORKERS == 2
    kw = dict(sample=20_000, seed=5, chunk_rows=1_500)
    a, b = tmp_path / "pipelined", tmp_path / "serial"
    sa = archsweep.sweep_to_dataset(vgg, out=a, **kw)
    with LocalExecutor(1) as one:
        sb = archsweep.sweep_to_dataset(vgg, out=b, executor=one, **kw)
    assert parts(a) == parts(b) and len(parts(a)) == 14
    for name in parts(a):  # part by part, not only the union
        assert_frame_equal(pl.read_parquet(a / name), pl.read_parquet(b / name))
        assert pq.read_metadata(a / name).metadata == pq.read_metadata(b / name).metadata
    ma, mb = (read_manifest(d / MANIFEST) for d in (a, b))
    drop = lambda m: {k: {f: v for f, v in e.items() if f != "seconds"} for k, e in m["parts"].items()}  # noqa: E731
    assert drop(ma) == drop(mb) and ma["run"] == mb["run"]
    assert (sa.evaluated, sa.kept, sa.parts_written) == (sb.evaluated, sb.kept, sb.parts_written) == (20_000, 20_000, 14)
    assert_frame_equal(archsweep.scan(a).collect(), archsweep.sweep(vgg, sample=20_000, seed=5))


def test_parts_use_the_engines_parquet_options_and_keep_the_schema(vgg, vgg_sample, tmp_path):
    from archsweep.sweep import PARQUET_OPTIONS

    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(vgg, sample=400, seed=11, out=d, chunk_rows=200)
    for name in parts(d):
        md = pq.read_metadata(d / name)
        codecs = {md.row_group(g).column(c).compression for g in range(md.num_row_groups) for c in range(md.num_columns)}
        assert codecs == {PARQUET_OPTIONS["compression"].upper()}
        assert md.row_group(0).column(0).is_stats_set  # statistics kept (predicate pushdown in scans)
    assert pl.read_parquet(d / parts(d)[0]).schema == vgg_sample.schema
    assert pq.read_table(d).schema.names == vgg_sample.columns  # pyarrow reads them too


def test_local_engine_overlaps_evaluation_and_writes_with_two_chunks_in_flight(vgg, tmp_path, monkeypatch):
    import importlib
    import threading

    mod = importlib.import_module("archsweep.sweep.chunk")
    executors = importlib.import_module("archsweep.sweep.executors")
    lock = threading.Lock()
    live, peak, events = [0], [0], []
    real_evaluate, real_write = mod._evaluate, mod._write_part

    def evaluate(*a, **k):  # a chunk's rows exist from here until its part is written
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
            events.append(("eval", time.perf_counter()))
        return real_evaluate(*a, **k)

    started = []

    def write(path, fn):
        t0 = time.perf_counter()
        with lock:
            started.append(t0)
            first = len(started) == 1
        # a slow disk, slowest for the first part: the other worker must evaluate meanwhile. (The
        # same delay for every write let both workers run in step, each evaluating just as both
        # writes ended: whether an evaluation fell inside a write was then down to jitter.)
        time.sleep(0.5 if first else 0.02)
        try:
            return real_write(path, fn)
        finally:
            with lock:
                live[0] -= 1
                events.append(("write", (t0, time.perf_counter())))

    monkeypatch.setattr(mod, "_evaluate", evaluate)
    monkeypatch.setattr(mod, "_write_part", write)
    bar_updates = []
    monkeypatch.setattr(executors.ProgressBar, "update", lambda self, adv, kept, evaluated=True: bar_updates.append(adv))
    d = tmp_path / "ds"
    s = archsweep.sweep_to_dataset(vgg, sample=12_000, seed=3, chunk_rows=1_000, out=d)
    assert s.parts_written == 12 and len(parts(d)) == 12
    assert peak[0] == executors.LOCAL_WORKERS  # bounded: never more than two chunks' rows at once
    assert live[0] == 0
    writes = [w for kind, w in events if kind == "write"]
    evals = [t for kind, t in events if kind == "eval"]
    assert any(w0 < t < w1 for t in evals for w0, w1 in writes), "no chunk was evaluated while another was written"
    assert sum(bar_updates) == 12_000 and len(bar_updates) == 12  # the progress bar counts every chunk once
    assert_frame_equal(archsweep.scan(d).collect(), archsweep.sweep(vgg, sample=12_000, seed=3))


# --------------------------------------------------------------------------------------------
# 9. CLI: archsweep sweep


def test_cli_sweep_prints_the_summary_and_writes_the_dataset(tmp_path):
    spec = tmp_path / "resnet.json"
    spec.write_text(json.dumps(RESNET))
    d = tmp_path / "out"
    r = cli("sweep", spec, "-o", d, "--where", "params < 20000", "--chunk-rows", 2000, "--no-progress")
    assert r.returncode == 0, r.stderr
    df = archsweep.sweep(Space(RESNET), where="params < 20000")
    err = " ".join(r.stderr.split())
    assert f"resnetish: evaluated {RESNET_SIZE:,} variants" in err
    assert f"kept {df.height:,} rows (0 invalid)" in err
    assert f"filtered out {RESNET_KEPT - df.height:,}" in err
    assert f"rejected by constraints {RESNET_SIZE - RESNET_KEPT:,}" in err
    assert "4 part files written, 0 already done" in err
    assert_frame_equal(archsweep.scan(d).collect(), df)


def test_cli_sweep_sample_seed_shard(tmp_path):
    spec = tmp_path / "mini.json"
    spec.write_text(json.dumps(MINI))
    whole = archsweep.sweep(Space(MINI), sample=600, seed=5)
    for i in range(3):
        r = cli("sweep", spec, "-o", tmp_path / f"s{i}", "--sample", 600, "--seed", 5, "--chunk-rows", 50,
                "--shard", f"{i}/3", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert "4 part files written" in " ".join(r.stderr.split())
    got = pl.concat([archsweep.scan(tmp_path / f"s{i}").collect() for i in range(3)])
    assert_frame_equal(got.sort("variant_id"), whole.sort("variant_id"))


@pytest.mark.parametrize("case", ["missing_spec", "bad_spec", "huge_grid", "bad_where", "not_resumed", "bad_shard", "bad_resume"])
def test_cli_sweep_errors_exit_2_without_traceback(tmp_path, case):
    spec = tmp_path / "mini.json"
    spec.write_text(json.dumps(MINI))
    d = tmp_path / "out"
    if case == "missing_spec":
        args, want = [tmp_path / "nope.toml", "-o", d], "no such space file"
    elif case == "bad_spec":
        bad = json.loads(json.dumps(MINI))
        bad["layers"].append({"op": "linear", "out_features": "=nope"})
        spec.write_text(json.dumps(bad))
        args, want = [spec, "-o", d], "unknown variable 'nope'"
    elif case == "huge_grid":
        args, want = [VGG, "-o", d], "--sample"
    elif case == "bad_where":
        args, want = [spec, "-o", d, "--where", "parms < 1"], "unknown variable 'parms'"
    elif case == "not_resumed":
        archsweep.sweep_to_dataset(Space(MINI), sample=10, out=d)
        args, want = [spec, "-o", d, "--sample", 10], "already holds a sweep"
    elif case == "bad_shard":
        args, want = [spec, "-o", d, "--shard", "1of2"], "expected I/N"
    else:
        archsweep.sweep_to_dataset(Space(MINI), sample=10, out=d)
        args, want = [spec, "-o", d, "--sample", 10, "--seed", 3, "--resume"], "cannot resume: seed was 0, now 3"
    r = cli("sweep", *args, "--no-progress")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("archsweep: error:"), r.stderr
    assert want in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


# --------------------------------------------------------------------------------------------
# 10. pareto and top_k against brute force


def brute_pareto(df: pl.DataFrame, objectives: list[str]) -> set[int]:
    rows = [(r["variant_id"], tuple(r[o] for o in objectives)) for r in df.filter(pl.col("valid")).iter_rows(named=True)]
    front = set()
    for vid, a in rows:
        dominated = any(all(x <= y for x, y in zip(b, a)) and any(x < y for x, y in zip(b, a)) for _, b in rows)
        if not dominated:
            front.add(vid)
    return front


@pytest.mark.parametrize("objectives", [
    ["params", "macs"],
    ["params", "macs", "peak_activation_bytes"],
    ["macs"],
    ["num_layers", "buffers"],  # many ties
    ["train_bytes", "activation_bytes"],
])
def test_pareto_equals_brute_force(resnet, objectives):
    df = archsweep.sweep(resnet, sample=500, seed=8)
    assert (~df["valid"]).any()
    front = archsweep.pareto(df, minimize=objectives)
    assert set(front["variant_id"].to_list()) == brute_pareto(df, objectives)
    assert front["valid"].all()
    assert front.columns == df.columns
    assert_frame_equal(front, front.sort([*objectives, "variant_id"]))
    # same from a LazyFrame
    assert_frame_equal(archsweep.pareto(df.lazy(), minimize=objectives), front)


def test_pareto_with_where_and_errors(resnet, vgg_sample):
    df = archsweep.sweep(resnet, sample=500, seed=8)
    front = archsweep.pareto(df, minimize=["params", "macs"], where="res == 64")
    assert set(front["variant_id"].to_list()) == brute_pareto(df.filter(pl.col("res") == 64), ["params", "macs"])
    with pytest.raises(ArchsweepError, match="at least one column"):
        archsweep.pareto(df, minimize=[])
    front = archsweep.pareto(vgg_sample, minimize=["params", "macs", "peak_activation_bytes"])
    assert set(front["variant_id"].to_list()) == brute_pareto(vgg_sample, ["params", "macs", "peak_activation_bytes"])


@pytest.mark.parametrize("by, k, descending", [("macs", 10, False), ("params", 25, True), ("num_layers", 40, False), ("buffers", 1000, False)])
def test_top_k_equals_sort_head(resnet_grid, by, k, descending):
    got = archsweep.top_k(resnet_grid, by=by, k=k, descending=descending)
    want = resnet_grid.filter(pl.col("valid")).sort([by, "variant_id"], descending=[descending, False]).head(k)
    assert_frame_equal(got, want)
    assert got.height == min(k, resnet_grid["valid"].sum())
    assert_frame_equal(archsweep.top_k(resnet_grid.lazy(), by=by, k=k, descending=descending), want)


def test_top_k_on_a_dataset(resnet, resnet_grid, tmp_path):
    archsweep.sweep_to_dataset(resnet, out=tmp_path / "d", chunk_rows=700)
    got = archsweep.top_k(archsweep.scan(tmp_path / "d"), by="flops", k=15, where="res >= 32")
    want = resnet_grid.filter(pl.col("valid") & (pl.col("res") >= 32)).sort(["flops", "variant_id"]).head(15)
    assert_frame_equal(got, want)


# --------------------------------------------------------------------------------------------
# Samplers: the sample's permutation, written out here from its description (docs/spaces.md, "Variant
# ids"): 6 keyed rounds of splitmix64's finaliser, each updating one half with a mix of the other
# (left, right, left, ...); sampler 1 over the smallest even number of bits, sampler 2 over the
# smallest number (the left half one bit wider when it is odd); cycle walking back into range.

M64 = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _sample_ids(size: int, seed: int, sampler: int, n: int) -> list[int]:
    bits = (size - 1).bit_length()
    left = max((bits + 1) // 2, 1)
    right = bits // 2 if sampler == 2 and bits >= 3 else left
    keys = [_mix(seed ^ _mix((0x9E3779B97F4A7C15 * (i + 1)) & M64)) for i in range(6)]

    def rounds(x: int) -> int:
        lo, hi = x & ((1 << right) - 1), x >> right
        for k0, k1 in zip(keys[0::2], keys[1::2]):
            hi ^= _mix(lo ^ k0) & ((1 << left) - 1)
            lo ^= _mix(hi ^ k1) & ((1 << right) - 1)
        return (hi << right) | lo

    out = []
    for pos in range(n):
        x = rounds(pos)
        while x >= size:
            x = rounds(x)
        out.append(x)
    return out


def test_samplers_draw_the_ids_their_description_gives():
    vgg = Space.load(VGG)  # 4.7e12 variants: 43 bits, odd
    resnet = Space.load(ROOT / "data" / "spaces" / "resnet.toml")  # 1.9e8: 28 bits, even
    assert (vgg.size - 1).bit_length() == 43 and (resnet.size - 1).bit_length() == 28
    for space in (vgg, resnet):
        for sampler in (1, 2):
            got = archsweep.sweep(space, sample=40, seed=5, sampler=sampler)["variant_id"].to_list()
            assert got == _sample_ids(space.size, 5, sampler, 40), (space.name, sampler)
    # the default is sampler 2; the two differ only where the bits are odd
    assert archsweep.sweep(vgg, sample=40, seed=5)["variant_id"].to_list() == _sample_ids(vgg.size, 5, 2, 40)
    assert _sample_ids(vgg.size, 5, 1, 40) != _sample_ids(vgg.size, 5, 2, 40)
    assert _sample_ids(resnet.size, 5, 1, 40) == _sample_ids(resnet.size, 5, 2, 40)
    with pytest.raises(ArchsweepError, match="unknown sampler 3"):
        archsweep.sweep(vgg, sample=10, sampler=3)


def test_a_run_made_before_samplers_resumes_with_sampler_1(tmp_path):
    # a sample run recorded without a sampler (as archsweep wrote them before the option) used
    # sampler 1: resuming it with the default is refused, with sampler 1 it completes
    out = tmp_path / "ds"
    archsweep.sweep_to_dataset(VGG, sample=3000, seed=2, sampler=1, out=out, chunk_rows=1000)
    manifest = read_manifest(out / MANIFEST)
    assert manifest["run"]["sampler"] == 1
    del manifest["run"]["sampler"]
    manifest["parts"] = {k: v for k, v in manifest["parts"].items() if k != "part-00000001.parquet"}
    write_manifest(out / MANIFEST, manifest, Space.load(VGG).empty_frame())
    (out / "part-00000001.parquet").unlink()
    with pytest.raises(ArchsweepError, match=r"sampler was 1, now 2 .*pass sampler=1 \(--sampler 1\)"):
        archsweep.sweep_to_dataset(VGG, sample=3000, seed=2, out=out, chunk_rows=1000, resume=True)
    archsweep.sweep_to_dataset(VGG, sample=3000, seed=2, sampler=1, out=out, chunk_rows=1000, resume=True)
    ids = archsweep.scan(out).select("variant_id").collect()["variant_id"].to_list()
    assert sorted(ids) == sorted(_sample_ids(Space.load(VGG).size, 2, 1, 3000))


def test_cli_sampler(tmp_path):
    for sampler in ("1", "2"):
        r = cli("sweep", VGG, "-o", tmp_path / sampler, "--sample", 30, "--seed", 4, "--sampler", sampler, "--no-progress")
        assert r.returncode == 0, r.stderr
        ids = archsweep.scan(tmp_path / sampler).select("variant_id").collect()["variant_id"].to_list()
        assert sorted(ids) == sorted(_sample_ids(Space.load(VGG).size, 4, int(sampler), 30))
    r = cli("sweep", VGG, "-o", tmp_path / "3", "--sample", 30, "--sampler", "3")
    assert r.returncode != 0 and "--sampler" in r.stderr
