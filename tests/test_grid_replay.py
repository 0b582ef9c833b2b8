"""Grid sweeps replay remembered segments and resume liveness walks part-way (the incremental
path); sweeps of explicit ids evaluate every variant from scratch. On the shipped spaces both
must give the same rows, column for column, including invalid rows and their messages."""

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import archsweep

ROOT = Path(__file__).resolve().parents[1]


def frame(batches) -> pl.DataFrame:
    import pyarrow as pa

    return pl.from_arrow(pa.Table.from_batches(batches))


@pytest.mark.parametrize("name,start,n", [("vgg", 0, 6000), ("vgg", 10**9, 3000), ("resnet", 0, 6000), ("resnet", 5 * 10**7, 3000), ("mobilenet", 0, 5000)])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_grid_equals_fresh_evaluation(name, start, n, dtype):
    space = archsweep.Space.load(ROOT / "data" / "spaces" / f"{name}.toml")
    end = min(start + n, space.size)
    grid, _ = space._c.evaluate("grid", start, end, batch=2, dtype=dtype, threads=2)
    fresh, _ = space._c.evaluate("ids", 0, end - start, ids=list(range(start, end)), batch=2, dtype=dtype, threads=2)
    g, f = frame(grid), frame(fresh)
    assert g.height == end - start
    assert_frame_equal(g, f)
