"""Small calls (issue 18, item 4): ``sweep(space, ids=[a few])`` takes a direct path (one engine
call, no chunks or executor, one Arrow array into polars) and ``Space.evaluate`` answers a point
query as a dict. Both must give what the chunked sweep gives: the same columns, dtypes and
values, on every shipped space and on families with constraints."""

from __future__ import annotations

import decimal
import importlib
import random
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from doc_examples import blocks, run_blocks
from polars.testing import assert_frame_equal

import archsweep
from archsweep import _core
from archsweep.sweep import SMALL_IDS, LocalExecutor
from archsweep.sweep.chunk import frame_of_rows

sweep_run = importlib.import_module("archsweep.sweep.run")  # (archsweep.sweep is also the function)

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "data" / "spaces").glob("*.toml"))
# families with constraints (rejected ids), a wide one, one with bool and float-free variables
FAMILIES = [ROOT / "data" / "families" / f"{name}.toml" for name in ("resnet", "vit", "swin", "mobilenet_v3", "vgg", "efficientnet_v2")]


def chunked(space, ids, **kw):
    """The rows as the chunked path makes them (an executor of our own turns the direct path off)."""
    with LocalExecutor() as ex:
        return archsweep.sweep(space, ids=ids, executor=ex, **kw)


def random_ids(space, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(space.size) for _ in range(n)]


def bad_vgg() -> archsweep.Space:
    """VGG with resolutions too small for its five pools: many invalid variants."""
    spec = archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml").spec
    spec["variables"]["res"] = [8, 16, 24, 224]
    return archsweep.Space(spec)


def row_of(df: pl.DataFrame, k: int) -> dict:
    row = df.row(k, named=True)
    row["variant_id"] = int(row["variant_id"])  # Decimal(38, 0) beyond 2^64
    return row


@pytest.mark.parametrize("path", SPACES + FAMILIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_small_sweeps_and_point_queries_equal_the_chunked_sweep(path):
    space = archsweep.Space.load(path)
    ids = random_ids(space, 40, seed=len(path.stem))
    expected = chunked(space, ids)
    for k in (1, 2, 40):
        df = archsweep.sweep(space, ids=ids[:k])
        assert df.schema == space.schema()
        assert_frame_equal(df, chunked(space, ids[:k]) if k < 40 else expected)
    rows = {int(v): k for k, v in enumerate(expected["variant_id"])}
    for vid in ids:
        if vid in rows:
            assert space.evaluate(vid) == row_of(expected, rows[vid])
            # config -> id -> the same row
            assert space.variant_id(space.config(vid)) == vid
            assert space.evaluate(space.config(vid)) == space.evaluate(vid)
        else:  # rejected by a constraint: no row; the error space.model gives
            with pytest.raises(_core.SpecError, match="violates the constraint") as e:
                space.evaluate(vid)
            with pytest.raises(_core.SpecError, match=re.escape(str(e.value))):
                space.model(vid)


def test_rejected_ids_are_exercised():
    """(the families above do reject some of their random ids, so the rejection branch runs)"""
    space = archsweep.Space.load(ROOT / "data" / "families" / "resnet.toml")
    ids = random_ids(space, 40, seed=len("resnet"))
    assert 0 < chunked(space, ids).height < len(ids)


def test_invalid_variants_are_rows_with_their_error():
    space = bad_vgg()
    ids = random_ids(space, 200, seed=1)
    expected = chunked(space, ids)
    assert 0 < (~expected["valid"]).sum() < len(ids)
    assert_frame_equal(archsweep.sweep(space, ids=ids), expected)
    for k, vid in enumerate(ids):
        row = space.evaluate(vid)
        assert row == row_of(expected, k)
        if not row["valid"]:
            assert row["error"] and row["params"] is None and row["output_shape"] is None


@pytest.mark.parametrize("n", [129, 700])
def test_more_ids_than_one_thread_takes(n):
    """Above 128 ids the direct path cuts them into pieces for rayon's threads: the same rows."""
    space = bad_vgg()
    ids = random_ids(space, n, seed=n) + [0, 1, 2, 3] + sorted(random_ids(space, 50, seed=3))  # repeats and a sorted run
    for threads in (0, 1, 2):
        assert_frame_equal(archsweep.sweep(space, ids=ids, threads=threads), chunked(space, ids))


def test_options_and_filters_on_the_direct_path():
    space = bad_vgg()
    ids = random_ids(space, 60, seed=2)
    for kw in ({"where": "params < 5e6 and macs < 3e8"}, {"where": "res == 8 or params > 4e4"}, {"batch": 8, "dtype": "fp16", "optimizer": "sgd"}):
        expected = chunked(space, ids, **kw)
        assert_frame_equal(archsweep.sweep(space, ids=ids, **kw), expected)
        if "where" not in kw:
            assert space.evaluate(ids[0], **kw) == row_of(expected, 0)
    nothing = archsweep.sweep(space, ids=ids, where="params < 0")
    assert nothing.height == 0 and nothing.schema == space.schema()
    assert_frame_equal(archsweep.sweep(space, ids=[]), chunked(space, []))


def test_the_direct_path_is_taken_only_for_small_local_calls(monkeypatch):
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml")
    calls = []
    monkeypatch.setattr(sweep_run, "frame_of_rows", lambda rows: calls.append(rows.num_rows) or frame_of_rows(rows))
    archsweep.sweep(space, ids=[1, 2, 3])
    archsweep.sweep(space, ids=list(range(SMALL_IDS)))
    assert calls == [3, SMALL_IDS]
    archsweep.sweep(space, ids=list(range(SMALL_IDS + 1)))
    archsweep.sweep(space, ids=[1, 2, 3], progress=True)
    archsweep.sweep(space, ids=[1, 2, 3], shard=(0, 1))
    archsweep.sweep(space, sample=3)
    assert calls == [3, SMALL_IDS]


def test_every_kind_of_variable_column():
    """Ints, floats, a mix of the two (a float column), bools, strings and a mix of strings and
    numbers (Categoricals): the point query's values are the sweep row's."""
    space = archsweep.Space({"name": "kinds", "input": [4], "layers": [{"op": "linear", "out_features": "=w"}],
                             "variables": {"w": [2, 3], "f": [0.5, 1.5], "m": [1, 2.5], "b": [True, False], "s": ["a", "b"],
                                           "x": ["a", 3]}})
    expected = chunked(space, list(range(space.size)))
    assert_frame_equal(archsweep.sweep(space, ids=list(range(space.size))), expected)
    assert [space.evaluate(vid) for vid in range(space.size)] == expected.rows(named=True)
    assert space.evaluate(5) == {**space.evaluate(5), "m": 1.0, "b": False, "s": "a", "x": "3"}


def test_errors_are_those_of_the_chunked_path():
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml")
    cases = [
        dict(ids=[space.size]), dict(ids=[-1]), dict(ids=[1], dtype="fp7"), dict(ids=[1], optimizer="lion"),
        dict(ids=[1], batch=0), dict(ids=[1], where="params <"), dict(ids=[1], where="nope > 1"), dict(ids=[1], sampler=3),
        dict(ids=[1], chunk_rows=0), dict(ids=[1], sample=3), dict(ids=[1], engine="spark"), dict(ids=[], dtype="fp7"),
    ]
    for kw in cases:
        with pytest.raises(_core.ArchsweepError) as direct:
            archsweep.sweep(space, **kw)
        with pytest.raises(_core.ArchsweepError) as via_chunks:
            chunked(space, **kw)
        assert (type(direct.value), str(direct.value)) == (type(via_chunks.value), str(via_chunks.value)), kw


def test_point_query_arguments():
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml")
    row = space.evaluate(12345)
    assert list(row) == list(space.schema())
    assert row["variant_id"] == 12345 and row["valid"] and row["error"] is None
    np = pytest.importorskip("numpy")
    assert space.evaluate(np.int64(12345)) == space.evaluate(decimal.Decimal(12345)) == row
    for bad in (space.size, -1, 1.5, "7", None):
        with pytest.raises(_core.ArchsweepError):
            space.evaluate(bad)
    cfg = space.config(12345)
    with pytest.raises(_core.ArchsweepError, match="no value for variable 'fc'"):
        space.evaluate({k: v for k, v in cfg.items() if k != "fc"})
    with pytest.raises(_core.ArchsweepError, match="9 is not a choice of 'kernel_0'"):
        space.evaluate({**cfg, "kernel_0": 9})
    with pytest.raises(_core.ArchsweepError, match="fp7"):
        space.evaluate(12345, dtype="fp7")
    # the options are the sweep's
    assert space.evaluate(12345, batch=4, dtype="fp16")["output_shape"] == archsweep.sweep(space, ids=[12345], batch=4, dtype="fp16")["output_shape"][0].to_list()


def test_point_queries_with_conditional_variables():
    """OFA's networks: ids beyond 2^64 (Decimal in the sweep, int here), absent variables None
    in the row and left out of (or ignored in) the configuration."""
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "ofa_mbv3.toml")
    assert space.size > 2**64
    some_absent = 0
    for vid in random_ids(space, 20, seed=5) + [0, space.size - 1]:
        row = space.evaluate(vid)
        assert isinstance(row["variant_id"], int) and row["variant_id"] == vid
        cfg = space.config(vid)
        assert space.evaluate(cfg) == row
        absent = [name for name in space.variables if name not in cfg]
        assert all(row[name] is None for name in absent)
        if absent:
            # an absent variable's value is ignored
            assert space.evaluate({**cfg, absent[0]: space.variables[absent[0]][-1]}) == row
            some_absent += 1
    assert some_absent >= 5


def test_the_pyarrow_route_gives_the_same_frame():
    """frame_of_rows falls back to pyarrow on a polars without the PyCapsule interface."""
    for space in (bad_vgg(), archsweep.Space.load(ROOT / "data" / "spaces" / "ofa_mbv3.toml"),
                  archsweep.Space.load(ROOT / "data" / "spaces" / "nb201.toml")):
        ids = random_ids(space, 30, seed=4)
        rows, _ = space.compiled.evaluate_ids(ids)
        via_pyarrow = pl.from_arrow(pa.record_batch(rows))
        assert isinstance(via_pyarrow, pl.DataFrame)
        assert_frame_equal(via_pyarrow, frame_of_rows(rows))
        assert_frame_equal(via_pyarrow, chunked(space, ids))


def test_the_point_query_example_of_docs_sweeps_md(tmp_path):
    """docs/sweeps.md's example of small calls runs as written (tests/test_docs_examples.py runs
    it too, with the page's other examples)."""
    (example,) = [b for b in blocks(ROOT / "docs" / "sweeps.md") if b.lang == "python" and "space.evaluate(" in b.code]
    run_blocks([example], tmp_path)
