"""Helpers shared by the commands: argument types, output to a file or stdout, sweep rows as a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.metrics import BYTES_COLUMNS, COUNT_COLUMNS, NAMES, format_value

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


def dataset_args(parser: argparse.ArgumentParser, where: bool = True) -> None:
    """DIR plus the filter and output options shared by pareto, top and query."""
    if where:
        parser.add_argument("--where", dest="where", metavar="EXPR",
                            help="filter first (an expression as in sweep --where, e.g. \"params < 5M\"; docs/filters.md)")
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("-o", "--output", type=Path, help="write to this file (required for parquet)")


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

    from archsweep.io import atomic_write
    from archsweep.render import cell, console

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
    # the variables, then the headline metrics (and any other column asked about); all columns
    # are in --format csv/json/parquet
    metrics = set(NAMES)
    wanted = ["params", "macs", "weight_bytes", "peak_activation_bytes", *extra]
    shown = [c for c in df.columns if c not in metrics and c not in ("valid", "error", "output_shape")]
    shown += [c for c in dict.fromkeys(wanted) if c in df.columns and c not in shown]
    t = Table(title=cell(title), title_justify="left")
    for c in shown:
        # an id is never shortened to "2767411238…" when the table is squeezed
        whole: dict[str, Any] = dict(no_wrap=True, min_width=max(len(c), len(str(df[c].max() or 0)))) if c == "variant_id" else {}
        t.add_column(cell(c), justify="left" if df.schema[c] == pl.String else "right", **whole)
    for row in df.select(shown).iter_rows(named=True):
        cells = []
        for c in shown:
            v = row[c]
            if (c in BYTES_COLUMNS or c in COUNT_COLUMNS) and v is not None:
                cells.append(cell(format_value(c, v)))
            else:
                cells.append(cell(v))
        t.add_row(*cells)
    console(width=240).print(t)
    return 0

