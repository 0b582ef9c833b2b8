"""archsweep pareto: the Pareto front of a sweep dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archsweep.cli.common import RESULTS_HELP, dataset_args, emit_rows

NAME = "pareto"


def register(sub: Any) -> None:
    pa = sub.add_parser(
        "pareto", help="Pareto front of a sweep dataset (minimise some columns)",
        description="Print the rows of a sweep dataset that no other row beats in every one of the --minimize "
        "columns (<= in all, < in one). " + RESULTS_HELP,
    )
    pa.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    pa.add_argument("--minimize", default="params,macs", help="comma-separated columns (default params,macs)")
    dataset_args(pa)


def run(args: argparse.Namespace) -> int:
    from archsweep.sweep import pareto, scan

    cols = [c.strip() for c in args.minimize.split(",") if c.strip()]
    front = pareto(scan(args.dir), minimize=cols, where=args.where)
    return emit_rows(front, args, f"Pareto front of {args.dir} minimising {', '.join(cols)}: {front.height} rows", cols)
