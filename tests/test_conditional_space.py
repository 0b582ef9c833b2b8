"""Conditional variables (`when` on a variable): network ids count each distinct network once
(docs/spaces.md, "Variant ids"). Expected sizes and networks are computed here by hand and by brute
force over every full configuration, never read back from the code under test."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys

import polars as pl
import pytest

import archsweep
from archsweep import ArchsweepError, Space

METRICS = ["params", "buffers", "macs", "flops", "activation_bytes", "peak_activation_bytes", "saved_bytes", "train_bytes"]


def staged_spec() -> dict:
    """depth[s] blocks in each of 2 stages; a kernel per block slot that exists only below the
    stage's depth; `e` only when stage 0 is 3 deep; `w` and `res` free."""
    return {
        "name": "staged",
        "input": [3, "=res", "=res"],
        "variables": {
            "res": [8, 10],
            "depth": {"per_stage": 2, "choices": [1, 2, 3]},
            "k": {"per_stage": [2, 3], "index": ["s", "j"], "choices": [1, 3], "when": "j < depth[s]"},
            "e": {"choices": [1, 2], "when": "depth[0] == 3"},
            "w": [4, 8],
        },
        "layers": [
            {"name": "st{s}", "repeat": 2, "index": "s", "layers": [
                {"name": "b{j}", "repeat": "=depth[s]", "index": "j", "layers": [
                    {"op": "conv2d", "out_channels": "=w * (e if s == 0 and j == 2 else 1)",
                     "kernel_size": "=k[3 * s + j]", "padding": "=k[3 * s + j] // 2"},
                ]},
            ]},
            {"op": "flatten"},
            {"op": "linear", "out_features": 10},
        ],
    }


# stage 0 (with e): 2 + 2^2 + 2^3 * 2 = 22; stage 1: 2 + 4 + 8 = 14; w: 2; res: 2
SIZE = 22 * 14 * 2 * 2


@pytest.fixture(scope="module")
def space() -> Space:
    return Space(staged_spec())


@pytest.fixture(scope="module")
def grid(space) -> pl.DataFrame:
    return archsweep.sweep(space)


def exists(name: str, values: dict) -> bool:
    if name.startswith("k_"):
        slot = int(name[2:])
        return slot % 3 < values[f"depth_{slot // 3}"]
    return name != "e" or values["depth_0"] == 3


def networks_by_brute_force(space: Space) -> set[tuple]:
    names = list(space.variables)
    out = set()
    for values in itertools.product(*space.variables.values()):
        full = dict(zip(names, values))
        out.add(tuple(sorted((n, v) for n, v in full.items() if exists(n, full))))
    return out


def test_size_counts_distinct_networks(space):
    assert space.size == SIZE
    assert space.conditional == {**{f"k_{i}": "j < depth[s]" for i in range(6)}, "e": "depth[0] == 3"}
    expected = networks_by_brute_force(space)
    assert len(expected) == SIZE


def test_config_is_a_bijection_onto_the_networks(space):
    expected = networks_by_brute_force(space)
    seen = set()
    for vid in range(SIZE):
        cfg = space.config(vid)
        primaries = {n: v for n, v in cfg.items() if n in space.variables}
        # absent variables are left out, present ones all there
        assert all(exists(n, primaries) for n in primaries), (vid, cfg)
        assert all(n in primaries for n in space.variables if exists(n, primaries)), (vid, cfg)
        net = tuple(sorted(primaries.items()))
        assert net in expected and net not in seen, vid
        seen.add(net)
        assert space.variant_id(cfg) == vid
        # values of absent variables are ignored
        assert space.variant_id({**{n: c[-1] for n, c in space.variables.items()}, **cfg}) == vid
    assert seen == expected


def test_variant_id_needs_every_variable_that_exists(space):
    cfg = space.config(SIZE - 1)
    assert cfg["depth_0"] == 3 and "e" in cfg
    del cfg["e"]
    with pytest.raises(ArchsweepError, match="config has no value for variable 'e'"):
        space.variant_id(cfg)
    with pytest.raises(ArchsweepError, match=r"5 is not a choice of 'k_0'"):
        space.variant_id({**space.config(0), "k_0": 5})


def check_rows(space: Space, df: pl.DataFrame) -> None:
    for row in df.iter_rows(named=True):
        vid = row["variant_id"]
        cfg = space.config(vid)
        for name in space.variables:
            # an absent variable is null
            assert row[name] == cfg.get(name), (vid, name)
        rep = archsweep.analyze(space.model(vid))
        assert row["valid"] is True and row["error"] is None
        for m in METRICS:
            assert row[m] == rep.totals[m], (vid, m)
        assert row["output_shape"] == rep.layers["output_shape"][-1].to_list()


def test_grid_rows_equal_analyze_of_each_network(space, grid):
    assert grid["variant_id"].to_list() == list(range(SIZE))
    check_rows(space, grid)
    # inactive columns are null exactly where the variable does not exist
    assert grid["e"].null_count() == grid.filter(pl.col("depth_0") != 3).height
    assert grid["k_2"].null_count() == grid.filter(pl.col("depth_0") < 3).height
    assert grid["w"].null_count() == 0
    schema = space.arrow_schema()
    assert schema.field("e").nullable and not schema.field("w").nullable and not schema.field("depth_0").nullable


def test_samples_are_distinct_networks_uniform_over_them(space, grid):
    df = archsweep.sweep(space, sample=SIZE, seed=4)
    assert sorted(df["variant_id"].to_list()) == list(range(SIZE))
    by_id = grid.sort("variant_id")
    assert df.sort("variant_id").equals(by_id)
    # uniform over networks: depth_0 = 3 in 16 of stage 0's 22 configurations (a sample over
    # full ids would give depth_0 = 3 a third of the time)
    small = archsweep.sweep(space, sample=400, seed=9)
    share = small.filter(pl.col("depth_0") == 3).height / 400
    assert abs(share - 16 / 22) < 0.1, share
    check_rows(space, small.head(50))


def test_explicit_ids_grid_ranges_and_filters(space, grid):
    ids = [SIZE - 1, 0, 77, 77, 500]
    df = archsweep.sweep(space, ids=ids)
    assert df["variant_id"].to_list() == ids
    check_rows(space, df)
    part = archsweep.sweep(space, grid_range=(100, 300))
    assert part.equals(grid.slice(100, 200))
    kept = archsweep.sweep(space, where="w == 8 and params > 400")
    assert kept.equals(grid.filter((pl.col("w") == 8) & (pl.col("params") > 400)))
    with pytest.raises(ArchsweepError, match="'k_2' exists only in some variants"):
        archsweep.sweep(space, where="k_2 == 3")


def test_datasets_and_resume(space, grid, tmp_path):
    d = tmp_path / "ds"
    archsweep.sweep_to_dataset(space, out=d, chunk_rows=300)
    assert archsweep.scan(d).collect().sort("variant_id").equals(grid)
    s = archsweep.sweep_to_dataset(space, out=d, chunk_rows=300, resume=True)
    assert s.parts_written == 0 and s.parts_skipped == -(-SIZE // 300)
    sd = tmp_path / "sample"
    archsweep.sweep_to_dataset(space, out=sd, sample=500, seed=2, chunk_rows=128)
    assert archsweep.scan(sd).collect().equals(archsweep.sweep(space, sample=500, seed=2))


def test_presets_name_networks(space):
    spec = staged_spec()
    spec["presets"] = {"deep": {"values": {"res": 10, "depth": [3, 1], "k": [3, 1, 3, 1, 1, 1], "e": 2, "w": 8}}}
    sp = Space(spec)
    vid = sp.preset_id("deep")
    # the absent slots' values (k_4, k_5) are ignored
    assert sp.config(vid) == {"res": 10, "depth_0": 3, "k_0": 3, "k_1": 1, "k_2": 3, "e": 2, "w": 8, "depth_1": 1, "k_3": 1}


@pytest.mark.parametrize(("when", "message"), [
    ("w > 4", "variable 'e' when 'w > 4': reads 'w', which is declared after 'e'"),
    ("k[0] == 3", "reads 'k_0', which has a condition itself"),
    ("nothing", "unknown variable 'nothing'"),
])
def test_condition_errors(when, message):
    spec = staged_spec()
    spec["variables"]["e"]["when"] = when
    with pytest.raises(ArchsweepError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Space(spec)


def test_cli_space_shows_the_conditions(tmp_path):
    path = tmp_path / "staged.json"
    path.write_text(json.dumps(staged_spec()))
    out = subprocess.run([sys.executable, "-m", "archsweep", "space", str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "200"}).stdout
    assert f"staged: {SIZE:,} variants" in out
    assert "exists when" in out
    assert re.search(r"k_4 .* j < depth\[s\]", out) and re.search(r"e .* depth\[0\] == 3", out)


def test_spec_errors_of_indexed_variables():
    spec = staged_spec()
    spec["variables"]["k"]["index"] = ["s"]
    with pytest.raises(ArchsweepError, match=r"index must name each of the 2 per_stage dimension\(s\)"):
        Space(spec)
    spec["variables"]["w"] = {"choices": [4, 8], "index": "s"}
    spec["variables"]["k"]["index"] = ["s", "j"]
    with pytest.raises(ArchsweepError, match="this one has no per_stage"):
        Space(spec)


def test_a_space_without_conditions_is_unchanged():
    spec = staged_spec()
    del spec["variables"]["k"]["when"], spec["variables"]["e"]["when"]
    sp = Space(spec)
    assert sp.conditional == {}
    assert sp.size == 2 * 3 * 3 * 2**6 * 2 * 2
    assert {len(sp.config(i)) for i in range(0, sp.size, 97)} == {len(sp.variables)}
    assert sp.variant_id(sp.config(1234)) == 1234
