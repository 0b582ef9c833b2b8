"""``where`` on a finished table: archsweep's expression language (the one ``sweep --where``
compiles), as a polars expression for ``top``, ``pareto``, ``plot``, ``report`` and the Python
helpers. docs/filters.md describes the language.

There is one grammar and one evaluator: the expression is parsed and compiled by the Rust core
(constant parts folded then, so ``params < 1 // 0`` is an error before any row is read), and the
rows are judged by the same compiled program a sweep's filter runs, on the columns it reads,
batch by batch inside polars (:func:`where_expr` returns a ``pl.Expr``). Python never loops
over rows.

A row on which the filter fails (``[1, 2][res]`` with an index out of range, an integer
overflow in that row) is an error naming how many rows failed and the first one
(:class:`FilterRowError`); a null (a conditional variable absent in that row) follows SQL's
three-valued logic and is not kept.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from archsweep import _core

#: the note polars appends to an exception raised inside an expression it evaluates
_POLARS_NOTE = "\n\nThis error occurred in the following expression:"


class FilterRowError(_core.ExpressionError):
    """The ``where`` filter failed on some rows of the table (``kind`` ``filter``)."""

    kind = "filter"
    span = None
    layer = None
    op = None

    def __init__(self, message: str) -> None:
        # polars re-raises an exception from an expression with its own note appended: keep ours
        super().__init__(message.split(_POLARS_NOTE)[0])


def _readable(column: str, dtype: pl.DataType) -> pl.Expr:
    """``column`` as one of the types the filter reads: Int64, Float64, Boolean or String. An
    unsigned column beyond Int64 is a polars error (strict cast), never a silent null."""
    c = pl.col(column)
    if dtype == pl.Boolean or dtype == pl.Int64 or dtype == pl.Float64 or dtype == pl.String:
        return c
    if dtype.is_integer():
        return c.cast(pl.Int64, strict=True)
    if dtype.is_numeric():  # floats, decimals (variant ids of a space beyond 2^64)
        return c.cast(pl.Float64)
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return c.cast(pl.String)
    raise _core.ArchsweepError(f"where: column '{column}' is {dtype}, which a filter cannot read (numbers, booleans and strings)")


def where_expr(where: str, schema: pl.Schema) -> pl.Expr:
    """``where`` (archsweep's expression language) over a table of ``schema`` as a boolean
    polars expression. Compile errors (syntax, an unknown column, a constant part that fails)
    are raised now; per-row failures when the expression is evaluated (:class:`FilterRowError`)."""
    compiled = _core.RowFilter(where, list(schema.names()))
    columns = list(compiled.columns)
    inputs = [_readable(c, schema[c]) for c in columns]
    has_id = "variant_id" in schema
    if has_id:
        inputs.append(pl.col("variant_id"))
    if not inputs:  # a constant filter over a table without ids: any column gives the length
        inputs.append(pl.first())

    def judge(series: Any) -> pl.Series:
        n = len(series[0]) if series else 0
        arrays = [s.to_arrow() for s in series[:len(columns)]]
        mask, errors, first = compiled.evaluate(arrays, n)
        if errors and first is not None:
            row, message = first
            at = f"variant_id {series[-1][row]}" if has_id else f"row {row} of a batch"
            raise FilterRowError(
                f"where {where!r}: the filter failed on the row of {at}: {message} ({errors:,} of the {n:,} rows read "
                f"with it failed); a row is never dropped silently: fix the filter (docs/filters.md)"
            )
        return pl.Series(mask, dtype=pl.Boolean)

    return pl.map_batches(inputs, judge, return_dtype=pl.Boolean, is_elementwise=True)
