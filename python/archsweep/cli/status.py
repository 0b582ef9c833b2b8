"""archsweep status: a sweep directory's progress."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archsweep.sweep.plan import ranges

NAME = "status"


def register(sub: Any) -> None:
    st = sub.add_parser(
        "status", help="progress of a sweep directory: chunks done, pending, failed, rows written",
        description="Report a sweep dataset's progress from its manifest(s) and part files: chunks done and "
        "pending (expected chunks with no good part file), per shard for job arrays, rows written, failed chunks "
        "recorded by the coordinator, leftover temporary files. For a job array whose shards have chunks pending, the "
        "sbatch --array=... command that finishes them (tasks squeue still lists are left out). Every part's footer is checked against the "
        "manifest (spec, options, positions, rows, size, footer checksum): a damaged, truncated or foreign part, "
        "or one recorded as done that is gone, is named and counted as pending (sweep --resume computes it "
        "again), and the exit status is 1. archsweep verify DIR checks a whole dataset.",
    )
    st.add_argument("dir", type=Path, help="a sweep output directory (archsweep sweep -o DIR)")
    st.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")


def run(args: argparse.Namespace) -> int:
    from archsweep.render import cell, console, line
    from archsweep.sweep import FORMAT, sweep_status

    st = sweep_status(args.dir)
    if args.format == "json":
        sys.stdout.write(json.dumps(st, indent=2) + "\n")
        return 1 if st["damaged"] else 0
    c = console()
    run_table = st["run"]
    if run_table is None:
        c.print(cell(f"{args.dir}: no manifest; {st['done']} part files, {st['rows']:,} rows"))
    else:
        from archsweep.sweep.plan import run_what

        c.print(line((st["space"], "bold"), f": {run_what(run_table)}, {run_table['chunk_rows']:,} per chunk; "
                     f"spec {str(st['spec_hash'])[:12]}" + (f"; where {run_table['where']}" if run_table["where"] else "")))
        state = "complete" if not st["pending"] else f"pending: {ranges(st['pending'])}"
        if st["format"] != FORMAT:
            c.print(cell(f"layout {st['format']} (_manifest.json, written by an earlier archsweep): sweep --resume converts it"))
        c.print(cell(f"chunks: {st['done']:,} of {st['chunks']:,} done, {len(st['pending']):,} pending — {state}"))
        c.print(cell(f"positions done: {st['positions_done']:,} of {run_table['positions']:,}; rows written: {st['rows']:,}"))
        for sh in st["shards"]:
            where_from = sh["manifest"] or "no manifest yet"
            c.print(cell(f"  shard {sh['shard']}: {sh['done']:,} done, {sh['pending']:,} pending ({where_from})"))
        rerun = st.get("rerun")
        if rerun is not None:
            for k, job in rerun["queued"].items():
                c.print(cell(f"shard {k}: its task is still in the queue (job {job}): it finishes on its own"))
            if rerun["command"] is not None:
                shards = ",".join(map(str, rerun["missing"][:20])) + (",..." if len(rerun["missing"]) > 20 else "")
                unknown = "" if rerun["script"] else " (JOB_SCRIPT: the job array's script; no shard recorded it)"
                caveat = "" if rerun["squeue"] else "; squeue could not say which of them are still queued or running"
                c.print(cell(f"shards with chunks pending and no task in the queue: {shards}{caveat}; to finish them{unknown}:"))
                c.print(cell(f"  {rerun['command']}"))
    for d in st["damaged"]:
        c.print(cell(f"damaged: {d['part']}: {d['problem']} (sweep --resume computes it again)"))
    for f in st["failed"]:
        c.print(cell(f"failed: chunk {f['chunk']} [{f['start']:,}, {f['end']:,}): {f['error']}"))
    if st["temporary"]:
        c.print(cell(f"temporary files: {len(st['temporary'])} (chunks being written, or left by a killed writer)"))
    for problem in st["problems"]:
        c.print(cell(f"warning: {problem}"))
    return 1 if st["damaged"] else 0
