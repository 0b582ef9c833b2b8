"""archsweep top: the k best rows of a sweep dataset by one column."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archsweep.cli.common import RESULTS_HELP, dataset_args, emit_rows

NAME = "top"


def register(sub: Any) -> None:
    tp = sub.add_parser(
        "top", help="the k best rows of a sweep dataset by one column",
        description="Print the k valid rows with the smallest (or, with --largest, largest) value of --by. " + RESULTS_HELP,
    )
    tp.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    tp.add_argument("--by", required=True, help="the column to rank by, e.g. macs")
    tp.add_argument("-k", type=int, default=10, help="how many rows (default 10)")
    tp.add_argument("--largest", action="store_true", help="largest first instead of smallest")
    dataset_args(tp)


def run(args: argparse.Namespace) -> int:
    from archsweep.sweep import scan, top_k

    rows = top_k(scan(args.dir), by=args.by, k=args.k, descending=args.largest, where=args.where)
    order = "largest" if args.largest else "smallest"
    return emit_rows(rows, args, f"{rows.height} rows of {args.dir} with the {order} {args.by}", [args.by])
