"""archsweep report: one self-contained HTML page about a sweep dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

NAME = "report"


def register(sub: Any) -> None:
    rp = sub.add_parser(
        "report", help="one self-contained HTML page about a sweep dataset",
        description="Write one HTML file that works offline (inline CSS, plots as base64 PNG, no scripts): the "
        "spec, space size, rows, valid and invalid counts with the commonest error reasons, min/median/max of "
        "the metrics, density plots with Pareto fronts, and the Pareto table over params, MACs and peak "
        "activation memory.",
    )
    rp.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    rp.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    rp.add_argument("--front-rows", type=int, default=200, help="show at most this many Pareto rows (default 200)")


def run(args: argparse.Namespace) -> int:
    from archsweep.report import sweep_report

    sweep_report(args.dir, args.output, front_rows=args.front_rows)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
