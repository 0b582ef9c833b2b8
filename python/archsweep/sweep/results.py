"""Reading a sweep's rows back: scan a dataset, the k best rows, the Pareto front, SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from archsweep import _core


def scan(directory: str | Path) -> pl.LazyFrame:
    """The sweep dataset in ``directory`` as a polars LazyFrame of its finished parts, after each
    part's footer is checked against the manifest (spec, options, positions, rows, size, footer
    checksum: :mod:`archsweep.sweep.verify`). A damaged, truncated or foreign part, or one the
    manifest records as done that is gone, is an error naming it: nothing is read silently short.
    Chunks not computed yet are simply absent (a run in progress can be read)."""
    from archsweep.sweep.verify import damaged_message, inspect_dataset

    ins = inspect_dataset(directory)
    if ins.damaged:
        raise _core.ArchsweepError(damaged_message(ins.directory, ins.damaged))
    good = ins.good
    if not good:
        raise _core.ArchsweepError(f"{ins.directory}: no finished part files (part-*.parquet) yet")
    return pl.scan_parquet([str(ins.directory / n) for n in good])


def _frame(data: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    return data.lazy() if isinstance(data, pl.DataFrame) else data


def top_k(data: pl.DataFrame | pl.LazyFrame, by: str, k: int = 10, descending: bool = False, where: str | pl.Expr | None = None) -> pl.DataFrame:
    """The k valid rows with the smallest (or largest) ``by``, ties broken by variant id."""
    lf = _frame(data).filter(pl.col("valid"))
    if where is not None:
        lf = lf.filter(pl.sql_expr(where) if isinstance(where, str) else where)
    return lf.sort([by, "variant_id"], descending=[descending, False]).head(k).collect()


#: Rows of objective keys held at once while a front is computed batch by batch.
PARETO_BATCH = 1 << 18


def _front_keys(keys: pl.DataFrame, objectives: list[str]) -> pl.DataFrame:
    """The non-dominated rows of ``keys`` (variant_id + objectives), sorted by the objectives."""
    keys = keys.sort(objectives + ["variant_id"])
    if keys.height == 0:
        return keys
    return keys[_core.pareto_sorted([keys[c].cast(pl.UInt64).to_arrow() for c in objectives])]


def pareto(data: pl.DataFrame | pl.LazyFrame, minimize: Sequence[str] = ("params", "macs"), where: str | pl.Expr | None = None) -> pl.DataFrame:
    """Rows not dominated in ``minimize`` (no other row is <= in every objective and < in
    one), sorted by the objectives (then variant id).

    Memory is bounded: only the ids and objective columns are read, in batches of
    ``PARETO_BATCH`` rows (polars' streaming ``collect_batches``); each batch is reduced to its own
    front in Rust (sort, then O(n · front)) and the fronts are merged — the front of a union is
    the front of its parts' fronts. The front's full rows are fetched afterwards by id."""
    objectives = list(minimize)
    if not objectives:
        raise _core.ArchsweepError("pareto needs at least one column to minimize")
    lf = _frame(data).filter(pl.col("valid"))
    if where is not None:
        lf = lf.filter(pl.sql_expr(where) if isinstance(where, str) else where)
    keys_lf = lf.select(["variant_id", *objectives])
    batches: Iterable[pl.DataFrame]
    if hasattr(keys_lf, "collect_batches"):  # polars >= 1.34
        batches = keys_lf.collect_batches(chunk_size=PARETO_BATCH, maintain_order=False)
    else:
        batches = [keys_lf.collect()]
    candidates: list[pl.DataFrame] = []
    held, limit = 0, PARETO_BATCH
    for batch in batches:
        candidates.append(_front_keys(batch, objectives))
        held += candidates[-1].height
        if held > limit:  # the batches' fronts hold as much as a batch: merge them
            candidates = [_front_keys(pl.concat(candidates), objectives)]
            held = candidates[0].height
            limit = max(PARETO_BATCH, 2 * held)  # a front this large is not merged again at every batch
    if not candidates:
        return lf.head(0).collect()
    front = _front_keys(pl.concat(candidates), objectives)
    ids = front["variant_id"]
    return lf.filter(pl.col("variant_id").is_in(ids.implode())).collect().sort(objectives + ["variant_id"])


def query(directory: str | Path, sql: str) -> pl.DataFrame:
    """Run ``sql`` through polars' SQL context over the dataset in ``directory``, registered
    as the table ``sweep`` (lazily: only what the query needs is read)."""
    ctx = pl.SQLContext(sweep=scan(directory))
    return ctx.execute(sql, eager=True)
