"""Reading a sweep's rows back: scan a dataset, the k best rows, the Pareto front, SQL."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from archsweep import _core, checks


def scan(directory: str | Path) -> pl.LazyFrame:
    """The sweep dataset in ``directory`` as a polars LazyFrame of its finished parts, after each
    part's footer is checked against the manifest (spec, options, positions, rows, size, footer
    checksum: :mod:`archsweep.sweep.verify`). A damaged, truncated or foreign part, or one the
    manifest records as done that is gone, is an error naming it: nothing is read silently short.
    Chunks not computed yet are simply absent (a run in progress can be read)."""
    from archsweep.sweep.verify import damaged_message, inspect_dataset

    if not isinstance(directory, (str, os.PathLike)):
        raise checks.ArgumentTypeError(f"directory must be the path of a sweep dataset, got {checks.show(directory)}")
    ins = inspect_dataset(directory)
    if ins.damaged:
        raise _core.ArchsweepError(damaged_message(ins.directory, ins.damaged))
    good = ins.good
    if not good:
        raise _core.ArchsweepError(f"{ins.directory}: no finished part files (part-*.parquet) yet")
    return _int64_metrics(pl.scan_parquet([str(ins.directory / n) for n in good]))


def _int64_metrics(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Metric columns as Int64: datasets written before they were (UInt64 then) read like new
    ones, so ``params - macs`` cannot wrap; a count beyond 2^63 - 1 is a polars error when read,
    never a wrapped number."""
    schema = lf.collect_schema()
    old = [m["name"] for m in _core.metrics() if schema.get(m["name"]) == pl.UInt64]
    return lf.with_columns(pl.col(old).cast(pl.Int64, strict=True)) if old else lf


def _frame(data: Any, function: str) -> pl.LazyFrame:
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    if isinstance(data, pl.LazyFrame):
        return data
    raise checks.ArgumentTypeError(f"{function}() reads a polars DataFrame or LazyFrame (archsweep.scan(DIR) of a sweep "
                                   f"dataset), got {checks.show(data)}")


def _polars_message(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _schema(lf: pl.LazyFrame) -> pl.Schema:
    """The schema of a sweep's rows (it needs ``variant_id`` and ``valid``)."""
    schema = lf.collect_schema()
    missing = [c for c in ("variant_id", "valid") if c not in schema]
    if missing:
        raise _core.ArchsweepError(f"the data has no {' or '.join(missing)} column: it is not a sweep's rows "
                                   f"(archsweep.sweep or archsweep.scan(DIR))")
    return schema


def _column(schema: pl.Schema, column: str, name: str) -> None:
    """``column`` must be one of the dataset's: else an ArchsweepError naming the argument."""
    if column not in schema:
        shown = ", ".join(schema.names())
        raise _core.ArchsweepError(f"{name}={column!r} is not a column of the dataset (its columns: {shown})")


def _filtered(lf: pl.LazyFrame, where: Any) -> pl.LazyFrame:
    """The valid rows of ``lf`` satisfying ``where``: archsweep's expression language, as
    ``sweep --where`` (docs/filters.md; :mod:`archsweep.filters`), or a polars expression.
    Compiled against the schema before anything is read: a syntax error, an unknown column or a
    constant part that fails is an :class:`ExpressionError` naming ``where``; a row it fails on
    is a :class:`~archsweep.filters.FilterRowError` when the rows are read."""
    from archsweep.filters import where_expr

    lf = lf.filter(pl.col("valid"))
    if where is None:
        return lf
    if isinstance(where, pl.Expr):
        try:
            out = lf.filter(where)
            out.collect_schema()
        except (pl.exceptions.PolarsError, ValueError, TypeError) as e:
            raise _core.ArchsweepError(f"where {str(where)!r}: {_polars_message(e)}") from None
        return out
    where = checks.text(where, "where", flag="--where")
    return lf.filter(where_expr(where, lf.collect_schema()))


def top_k(data: pl.DataFrame | pl.LazyFrame, by: str, k: int = 10, descending: bool = False, where: str | pl.Expr | None = None) -> pl.DataFrame:
    """The k valid rows with the smallest (or largest) ``by``, ties broken by variant id."""
    lf = _frame(data, "top_k")
    by = checks.text(by, "by", flag="--by")
    k = checks.integer(k, "k", low=0, flag="-k")
    _column(_schema(lf), by, "by")
    lf = _filtered(lf, where)
    # polars counts rows in 32 bits: a k beyond that is "every row" (head refuses it)
    return lf.sort([by, "variant_id"], descending=[descending, False]).head(min(k, 2**32 - 1)).collect()


#: Rows of objective keys held at once while a front is computed batch by batch.
PARETO_BATCH = 1 << 18


def _order(objectives: list[str]) -> list[str]:
    """The sort of a front: by the objectives, then by variant id (once, if it is one of them)."""
    return list(dict.fromkeys([*objectives, "variant_id"]))


def _front_keys(keys: pl.DataFrame, objectives: list[str]) -> pl.DataFrame:
    """The non-dominated rows of ``keys`` (variant_id + objectives), sorted by the objectives."""
    keys = keys.sort(_order(objectives))
    if keys.height == 0:
        return keys
    try:
        columns = [keys[c].cast(pl.UInt64).to_arrow() for c in objectives]
    except pl.exceptions.PolarsError:
        bad = next(c for c in objectives if (keys[c].min() or 0) < 0)  # type: ignore[operator]
        raise _core.ArchsweepError(f"minimize={bad!r}: the Pareto front minimises non-negative integers, and {bad} has "
                                   f"negative values") from None
    return keys[_core.pareto_sorted(columns)]


def pareto(data: pl.DataFrame | pl.LazyFrame, minimize: Sequence[str] = ("params", "macs"), where: str | pl.Expr | None = None) -> pl.DataFrame:
    """Rows not dominated in ``minimize`` (no other row is <= in every objective and < in
    one), sorted by the objectives (then variant id).

    Memory is bounded: only the ids and objective columns are read, in batches of
    ``PARETO_BATCH`` rows (polars' streaming ``collect_batches``); each batch is reduced to its own
    front in Rust (sort, then O(n · front)) and the fronts are merged — the front of a union is
    the front of its parts' fronts. The front's full rows are fetched afterwards by id."""
    lf = _frame(data, "pareto")
    objectives = checks.names(minimize, "minimize")
    if not objectives:
        raise _core.ArchsweepError("pareto needs at least one column to minimize")
    schema = _schema(lf)
    for column in objectives:
        _column(schema, column, "minimize")
        if not schema[column].is_integer():
            raise _core.ArchsweepError(f"minimize={column!r}: the Pareto front minimises integer columns, and {column} is "
                                       f"{schema[column]}")
    if len(set(objectives)) < len(objectives):
        raise _core.ArchsweepError(f"minimize={objectives!r} names a column twice")
    lf = _filtered(lf, where)
    keys_lf = lf.select(list(dict.fromkeys(["variant_id", *objectives])))  # variant_id may be an objective too
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
    return lf.filter(pl.col("variant_id").is_in(ids.implode())).collect().sort(_order(objectives))


def query(directory: str | Path, sql: str) -> pl.DataFrame:
    """Run ``sql`` through polars' SQL context over the dataset in ``directory``, registered
    as the table ``sweep`` (lazily: only what the query needs is read)."""
    sql = checks.text(sql, "sql")
    ctx = pl.SQLContext(sweep=scan(directory))
    try:
        lf = ctx.execute(sql, eager=False)
        lf.collect_schema()
    except (pl.exceptions.PolarsError, ValueError, TypeError) as e:
        raise _core.ArchsweepError(f"sql {sql!r}: {_polars_message(e)}") from None
    # errors reading the parts (a file polars cannot decode) stay polars errors: the command line
    # names the damaged part
    return lf.collect()
