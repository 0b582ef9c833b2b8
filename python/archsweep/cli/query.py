"""archsweep query: SQL over a sweep dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archsweep.cli.common import dataset_args, emit_rows

NAME = "query"


def register(sub: Any) -> None:
    qy = sub.add_parser(
        "query", help="SQL over a sweep dataset (table name: sweep)",
        description="Run a SQL query through polars' SQL context over the sweep dataset in DIR, registered as "
        "the table `sweep`, e.g. archsweep query out/ \"SELECT res, count(*) AS n, min(macs) AS best FROM sweep "
        "WHERE valid GROUP BY res ORDER BY res\".",
    )
    qy.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    qy.add_argument("sql", help="the query; the dataset is the table `sweep`")
    dataset_args(qy, where=False)


def run(args: argparse.Namespace) -> int:
    from archsweep.sweep import query

    rows = query(args.dir, args.sql)
    return emit_rows(rows, args, f"{rows.height} rows", list(rows.columns))
