"""Sweeps of a slice of the grid (grid_range / --range): consecutive ids of a grid too large to
sweep whole, in memory and to a dataset (resumable), through the CLI too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError
from archsweep.sweep import MANIFEST, read_manifest

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"
START, END = 3_000_000_000, 3_000_050_000


@pytest.fixture(scope="module")
def vgg():
    return archsweep.Space.load(VGG)


def test_range_in_memory_equals_the_same_ids(vgg):
    df = archsweep.sweep(vgg, grid_range=(START, END), chunk_rows=7_000)
    assert df["variant_id"].to_list() == list(range(START, END))
    by_ids = archsweep.sweep(vgg, ids=range(START, END, 997))
    assert_frame_equal(df.filter(pl.col("variant_id").is_in(by_ids["variant_id"].implode())), by_ids)
    # a row is what analyze says of the concrete model
    row = df.row(12_345, named=True)
    a = archsweep.analyze(vgg.model(row["variant_id"]))
    assert (row["params"], row["macs"], row["peak_activation_bytes"]) == (a.totals["params"], a.totals["macs"], a.totals["peak_activation_bytes"])


def test_range_to_a_dataset_resumes_and_checks_the_range(vgg, tmp_path):
    out = tmp_path / "ds"
    s = archsweep.sweep_to_dataset(vgg, grid_range=(START, END), out=out, chunk_rows=16_384)
    assert s.kept == END - START
    manifest = read_manifest(out / MANIFEST)
    assert manifest["run"]["grid_range"] == [START, END]
    assert sorted((p["start"], p["end"]) for p in manifest["parts"].values())[0] == (START, START + 16_384)
    ids = archsweep.scan(out).select("variant_id").collect()["variant_id"]
    assert ids.n_unique() == END - START and ids.min() == START and ids.max() == END - 1
    # a part lost: --resume recomputes exactly it
    part = sorted(out.glob("part-*.parquet"))[1]
    part.unlink()
    s2 = archsweep.sweep_to_dataset(vgg, grid_range=(START, END), out=out, chunk_rows=16_384, resume=True)
    assert s2.parts_written == 1
    assert archsweep.scan(out).select(pl.len()).collect().item() == END - START
    with pytest.raises(ArchsweepError, match="grid_range"):
        archsweep.sweep_to_dataset(vgg, grid_range=(START + 1, END + 1), out=out, chunk_rows=16_384, resume=True)


@pytest.mark.parametrize("kw,msg", [
    (dict(grid_range=(5, 5)), "not be empty"),
    (dict(grid_range=(-1, 5)), "must lie in"),
    (dict(grid_range=(0, 5 * 10**12)), "must lie in"),
    (dict(grid_range=(0, 5), sample=3), "one of sample, ids and grid_range"),
])
def test_bad_ranges(vgg, kw, msg):
    with pytest.raises(ArchsweepError, match=msg):
        archsweep.sweep(vgg, **kw)


def test_cli_range(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(out), "--range", "1_000:21_000"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids = archsweep.scan(out).select("variant_id").collect()["variant_id"]
    assert ids.to_list() == list(range(1_000, 21_000))
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "x"), "--range", "12"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "START:END" in r.stderr
