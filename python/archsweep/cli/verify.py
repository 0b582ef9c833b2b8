"""archsweep verify: check a whole sweep dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "verify"


def register(sub: Any) -> None:
    vf = sub.add_parser(
        "verify", help="check a sweep dataset: every part against the manifest, the directory against the layout",
        description="Check the sweep dataset in DIR and list every problem: parts that are damaged, truncated, of "
        "another run (another spec, seed or option), holding other positions, or recorded as done and gone; chunks "
        "not computed yet; temporary files; files that are not the dataset's; manifests of another run; the layout "
        "of an earlier archsweep. By default each part's footer is checked against the manifest (spec, options, "
        "positions, rows, size and the footer's sha256); --full also compares every byte with the manifest's sha256 "
        "and reads every row. Exit status 0: complete and whole; 1: problems (listed); 2: not a sweep directory. "
        "archsweep sweep ... --resume computes damaged and missing parts again and removes temporary files.",
    )
    vf.add_argument("dir", type=Path, help="a sweep output directory (archsweep sweep -o DIR)")
    vf.add_argument("--full", action="store_true", help="read every byte and row, not only the footers")
    vf.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")


def run(args: argparse.Namespace) -> int:
    from archsweep.render import cell, console
    from archsweep.sweep import sweep_status, verify_dataset

    problems = verify_dataset(args.dir, full=args.full)
    if args.format == "json":
        sys.stdout.write(json.dumps([{"file": p.file, "problem": p.problem} for p in problems], indent=2) + "\n")
        return 1 if problems else 0
    c = console()
    what = "every byte and row" if args.full else "footers"
    if not problems:
        st = sweep_status(args.dir)
        c.print(cell(f"{args.dir}: ok — {st['done']:,} parts, {st['rows']:,} rows, {what} checked"))
        return 0
    from rich.table import Table

    t = Table(title=cell(f"{args.dir}: {len(problems)} problem{'s' if len(problems) > 1 else ''} ({what} checked)"),
              title_justify="left")
    t.add_column("file", no_wrap=True)
    t.add_column("problem")
    for p in problems:
        t.add_row(cell(p.file), cell(p.problem))
    c.print(t)
    return 1
