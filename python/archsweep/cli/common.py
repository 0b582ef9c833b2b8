"""Helpers shared by the commands: argument types, output to a file or stdout, sweep rows as a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.metrics import BYTES_COLUMNS, COUNT_COLUMNS, NAMES
from archsweep.units import TABLE_ROWS

#: What --where means for the commands reading a dataset (pareto, top, plot).
RESULTS_HELP = ("--where takes an expression over the dataset's columns in the language of sweep --where, e.g. "
                "\"params < 5e6 and res >= 160 and peak_activation_bytes < 64 MiB\" (docs/filters.md); only valid rows are "
                "considered. SQL is for archsweep query.")


def shape(text: str) -> list[int]:
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 3x224x224") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape of positive dims like 3x224x224")
    return dims


def max_rows(text: str) -> int | None:
    """``--rows``: a number of rows (at least 1), or ``all`` (None)."""
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of rows or 'all'") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: need at least 1 row (or all)")
    return n


def rows_arg(parser: argparse.ArgumentParser, what: str) -> None:
    """``--rows N|all``: how many rows a terminal table shows (archsweep.render.MAX_ROWS)."""
    parser.add_argument("--rows", type=max_rows, default=TABLE_ROWS, metavar="N|all",
                        help=f"at most N {what} in a table (default {TABLE_ROWS}: a longer table shows its first and last "
                             f"N/2 and says how many are left out); all for every one. --format csv/json/parquet write all")


def dataset_args(parser: argparse.ArgumentParser, where: bool = True) -> None:
    """DIR plus the filter and output options shared by pareto, top and query."""
    if where:
        parser.add_argument("--where", dest="where", metavar="EXPR",
                            help="filter first (an expression as in sweep --where, e.g. \"params < 5M\"; docs/filters.md)")
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("-o", "--output", type=Path, help="write to this file (required for parquet)")
    rows_arg(parser, "rows")


def write(args: argparse.Namespace, text: str) -> None:
    from archsweep.io import atomic_write_text

    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)


def emit_rows(df: Any, args: argparse.Namespace, title: str, extra: Sequence[str] = ()) -> int:
    """Rows of a sweep dataset: a rich table with human units beside raw numbers, or a file."""
    import polars as pl
    from rich.table import Table
    from rich.text import Text

    from archsweep.io import atomic_write
    from archsweep.render import cell, console, printable, rows_note, shown_rows

    if args.format == "parquet":
        if not args.output:
            raise _core.ArchsweepError("--format parquet needs -o FILE")
        atomic_write(args.output, lambda p: df.write_parquet(p))
        return 0
    if args.format == "csv":
        if "output_shape" in df.columns:
            df = df.with_columns(pl.col("output_shape").cast(pl.List(pl.String)).list.join("x"))
        write(args, df.write_csv())
        return 0
    if args.format == "json":
        write(args, df.write_json() + "\n")
        return 0
    # the variables, then the headline metrics (and any other column asked about), as many as
    # fit the terminal's width; all columns are in --format csv/json/parquet
    metrics = set(NAMES)
    wanted = ["params", "macs", "weight_bytes", "peak_activation_bytes", *extra]
    variables = [c for c in df.columns if c not in metrics and c not in ("variant_id", "valid", "error", "output_shape")]
    headline = [c for c in dict.fromkeys(wanted) if c in df.columns and c not in variables]
    # at most --rows rows (the first and last half of them); each cell as its lines, escaped (a
    # value's own control characters never break a row)
    head, tail = shown_rows(df, args.rows)
    shown_df = head if tail is None else pl.concat([head, tail])
    texts = {c: [[printable(part) for part in _table_cell(c, v)] for v in shown_df[c].to_list()]
             for c in ["variant_id", *variables, *headline] if c in df.columns}
    width = table_width()

    def need(c: str) -> int:  # the column's width: its widest line (cell or header), padding and a rule
        return max([len(printable(c)), *(len(part) for t in texts[c] for part in t)]) + 3

    # priority: the id, the columns asked about, the variables in order, the other headline metrics
    priority = [c for c in dict.fromkeys(["variant_id", *extra, *variables, *headline]) if c in texts]
    chosen: list[str] = []
    used = 1
    for c in priority:
        if used + need(c) <= width or not chosen:
            chosen.append(c)
            used += need(c)
    shown = [c for c in ("variant_id", *variables, *headline) if c in chosen]
    left_out = [c for c in texts if c not in chosen]
    t = Table(title=cell(title), title_justify="left")
    for c in shown:
        t.add_column(cell(c), justify="left" if df.schema[c] == pl.String else "right", no_wrap=True)
    for i in range(shown_df.height):
        if i == head.height:  # rows left out between the head and the tail
            t.add_row(*["…"] * len(shown))
        t.add_row(*(Text("\n").join(Text(part) for part in texts[c][i]) for c in shown))
    out = console(width=width)
    out.print(t)
    if tail is not None:
        out.print(rows_note(df.height, head.height, tail.height, "rows"), soft_wrap=True)
    if left_out:
        out.print(cell(f"not shown (too wide for {width} columns): {', '.join(left_out)}; --format csv or json shows every column"))
    return 0


def table_width() -> int:
    """The width result tables fit: the terminal's (``COLUMNS`` if set), 100 when not on one."""
    import shutil

    return max(shutil.get_terminal_size((100, 24)).columns, 40)


def _table_cell(column: str, value: Any) -> list[str]:
    """A value for a result table, as its lines: exact digits, and for a metric its human units
    on a second line (bytes in MiB and MB, counts in k/M/G)."""
    from archsweep.units import human_count, mb, mib

    if value is None:
        return ["null"]
    if column in BYTES_COLUMNS:
        return [f"{value:,}", f"{mib(value)} / {mb(value)}"]
    if column in COUNT_COLUMNS:
        return [f"{value:,}", human_count(value)]
    return [str(value)]
