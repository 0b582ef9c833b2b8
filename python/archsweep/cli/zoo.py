"""archsweep zoo: the zoo's models, presets of the family templates."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

from archsweep.cli.common import write

NAME = "zoo"


def register(sub: Any) -> None:
    z = sub.add_parser(
        "zoo", help="list the zoo's models: presets of the family templates",
        description="List every named model of the zoo (the [presets.*] tables of data/families/*.toml) with "
        "its resolution, params, GMACs and fp32 weight size in MiB (2^20 B) and MB (10^6 B). "
        "Analyze one with: archsweep analyze NAME.",
    )
    z.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)")
    z.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    from archsweep import zoo

    df = zoo.table()
    if args.format == "csv":
        write(args, df.write_csv())
        return 0
    if args.format == "json":
        write(args, json.dumps(df.to_dicts(), indent=2) + "\n")
        return 0
    from rich.console import JustifyMethod
    from rich.table import Table

    from archsweep.render import cell, console

    t = Table(title=f"model zoo: {len(df)} presets of data/families/*.toml (fp32 weights)", title_justify="left")
    columns: list[tuple[str, JustifyMethod]] = [("model", "left"), ("family", "left"), ("res", "right"), ("params", "right"),
                                                ("GMACs", "right"), ("MiB", "right"), ("MB", "right")]
    for col, justify in columns:
        t.add_column(col, justify=justify)
    for r in df.iter_rows(named=True):
        t.add_row(cell(r["model"]), cell(r["family"]), str(r["resolution"]), f"{r['params']:,}", f"{r['gmacs']:.3f}",
                  f"{r['weights_mib']:.1f}", f"{r['weights_mb']:.1f}")
    if args.output:  # plain text, no colours
        buf = io.StringIO()
        console(buf).print(t)
        write(args, buf.getvalue())
    else:
        console().print(t)
    return 0
