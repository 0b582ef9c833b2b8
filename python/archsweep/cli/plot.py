"""archsweep plot: a density plot of a sweep dataset with its Pareto front."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archsweep.cli.common import RESULTS_HELP

NAME = "plot"


def register(sub: Any) -> None:
    pl_ = sub.add_parser(
        "plot", help="density plot of a sweep dataset with its Pareto front (png, svg, html)",
        description="Plot the valid rows of a sweep dataset in the (--x, --y) plane as a density (bins counted "
        "by polars, so 10^7 rows take seconds) with the Pareto front minimising both drawn over it. Axes are "
        "logarithmic when a column spans more than 1.5 decades; bytes are shown in MiB (2^20 B), counts in "
        "M (10^6) or G (10^9), as the labels say. " + RESULTS_HELP,
    )
    pl_.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    pl_.add_argument("--x", default="params", help="column on the x axis (default params)")
    pl_.add_argument("--y", default="peak_activation_bytes", help="column on the y axis (default peak_activation_bytes)")
    pl_.add_argument("--color", metavar="COL", help="colour bins by this column (see --color-agg) instead of the row count")
    pl_.add_argument("--color-agg", choices=["mean", "min", "max", "median"], default="mean",
                     help="how --color summarises a bin's rows (default mean)")
    pl_.add_argument("--where", dest="where", metavar="EXPR",
                     help="plot only rows satisfying this (an expression as in sweep --where; docs/filters.md)")
    pl_.add_argument("--bins", type=int, help="bins per axis (default: about sqrt(rows), 30 to 150)")
    pl_.add_argument("--no-front", action="store_true", help="do not draw the Pareto front")
    for axis in ("x", "y"):
        g = pl_.add_mutually_exclusive_group()
        g.add_argument(f"--log{axis}", dest=f"log{axis}", action="store_const", const=True, default=None,
                       help=f"logarithmic {axis} axis (default: when the column spans > 1.5 decades)")
        g.add_argument(f"--lin{axis}", dest=f"log{axis}", action="store_const", const=False, help=f"linear {axis} axis")
    pl_.add_argument("-o", "--output", type=Path, required=True, help="the file to write: .png, .svg or .html (self-contained)")


def run(args: argparse.Namespace) -> int:
    from archsweep.plot import plot_sweep

    plot_sweep(args.dir, x=args.x, y=args.y, color=args.color, where=args.where, out=args.output, agg=args.color_agg,
               logx=args.logx, logy=args.logy, bins=args.bins, front=not args.no_front)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
