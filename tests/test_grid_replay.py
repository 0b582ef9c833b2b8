"""Sweeps replay remembered segments, reuse the layers before the first changed variable (grid
order) and take liveness from segment summaries; ``reuse=False`` evaluates every variant from
scratch. On the shipped spaces, in grid, sample and explicit-id order, both must give the same
rows, column for column, including invalid rows and their messages."""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import archsweep

ROOT = Path(__file__).resolve().parents[1]


def frame(batches) -> pl.DataFrame:
    import pyarrow as pa

    return pl.from_arrow(pa.Table.from_batches(batches))


# The ranges hold whole blocks whose suffix tables are reused (vgg: 704 rows a block, the key
# changes every 4 blocks; resnet: 1,600 rows, the key comes back after 8 blocks), and partial
# blocks at both ends.
@pytest.mark.parametrize("name,start,n", [("vgg", 0, 6000), ("vgg", 10**9, 3000), ("resnet", 0, 17000), ("resnet", 5 * 10**7 + 100, 3000), ("mobilenet", 0, 5000)])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_grid_equals_fresh_evaluation(name, start, n, dtype):
    space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
    end = min(start + n, space.size)
    kw = dict(batch=2, dtype=dtype, threads=2)
    grid, _ = space.compiled.evaluate("grid", start, end, **kw)
    fresh, _ = space.compiled.evaluate("grid", start, end, reuse=False, **kw)
    g, f = frame(grid), frame(fresh)
    assert g.height == end - start
    assert_frame_equal(g, f)
    ids = list(range(start, end))
    assert_frame_equal(frame(space.compiled.evaluate("ids", 0, len(ids), ids=ids, **kw)[0]), f)


@pytest.mark.parametrize("name", ["vgg", "resnet", "mobilenet"])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_sample_equals_fresh_evaluation(name, dtype):
    """Random order reads dense tables (rust/core/src/space/dense.rs): the first call fills them
    (most variants evaluated in full), the second reads nearly every row from them, 64 at a time."""
    space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
    kw = dict(seed=5, batch=2, dtype=dtype, threads=2)
    n = 30000
    fresh = frame(space.compiled.evaluate("sample", 0, n, reuse=False, **kw)[0])
    for _ in range(2):
        fast, _ = space.compiled.evaluate("sample", 0, n, **kw)
        assert_frame_equal(frame(fast), fresh)
    # explicit ids in no order take the same path
    ids = fresh["variant_id"].to_list()[::-1]
    assert_frame_equal(frame(space.compiled.evaluate("ids", 0, len(ids), ids=ids, **kw)[0]), fresh.reverse())


@pytest.mark.parametrize("name,where", [
    ("vgg", "params < 2e6 and macs < 3e8"),
    ("resnet", "peak_activation_bytes < 67108864 and depth_3 != 4"),
])
def test_filtered_sample_equals_filtering_afterwards(name, where):
    space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
    n = 30000
    fresh = frame(space.compiled.evaluate("sample", 0, n, seed=2, reuse=False, threads=2)[0])
    want = fresh.filter(pl.sql_expr(where))
    for _ in range(2):
        kept, counts = space.compiled.evaluate("sample", 0, n, seed=2, threads=2, **{"where": where})
        assert counts["kept"] == want.height > 0
        assert_frame_equal(frame(kept), want)


@pytest.mark.parametrize("name,where", [
    ("vgg", "params < 2e6 and macs < 3e8"),
    ("vgg", "fc == 1024 or width_4 <= 32"),
    ("resnet", "peak_activation_bytes < 67108864 and depth_3 != 4"),
])
def test_filtered_grid_equals_filtering_afterwards(name, where):
    """Blocks written from suffix tables go through the same pushed-down filter."""
    space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
    n = 20000
    kept, counts = space.compiled.evaluate("grid", 0, n, threads=2, **{"where": where})
    fresh, _ = space.compiled.evaluate("grid", 0, n, reuse=False, threads=2)
    want = frame(fresh).filter(pl.sql_expr(where))
    assert counts["kept"] == want.height > 0
    assert counts["kept"] + counts["filtered_out"] == n
    assert_frame_equal(frame(kept), want)


SHIPPED = sorted((ROOT / "data" / "spaces").glob("*.toml")) + sorted((ROOT / "data" / "families").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_shipped_space_fast_paths_equal_fresh_evaluation(path):
    """Issue 18 item 6, for every space and zoo family shipped: a sample (twice: the first call
    fills the engine's tables, the second reads them), the same ids in reverse as explicit ids,
    and a grid range, each equal to evaluating every variant from scratch (``reuse=False``),
    invalid rows and their messages included (where the space has them); the families have no
    dense tables, so their rows come from the fallback (segment replay, sorted evaluation)."""
    space = archsweep.Space.load(path)
    n = min(1500, space.size)
    kw = dict(batch=1, dtype="fp32", threads=2)
    fresh = frame(space.compiled.evaluate("sample", 0, n, seed=11, reuse=False, **kw)[0])
    assert fresh.height > 0
    for _ in range(2):
        assert_frame_equal(frame(space.compiled.evaluate("sample", 0, n, seed=11, **kw)[0]), fresh)
    ids = [int(i) for i in fresh["variant_id"].to_list()[::-1]]  # (Decimal beyond 2^64)
    assert_frame_equal(frame(space.compiled.evaluate("ids", 0, len(ids), ids=ids, **kw)[0]), fresh.reverse())
    start = min(space.size // 3, 2**62)  # (grid positions are 64-bit)
    end = min(start + 600, space.size)
    batches, counts = space.compiled.evaluate("grid", start, end, **kw)
    assert_frame_equal(frame(batches), frame(space.compiled.evaluate("grid", start, end, reuse=False, **kw)[0]))
    # (rows a constraint rejects are not returned)
    assert frame(batches).height + counts["rejected_by_constraints"] == end - start
