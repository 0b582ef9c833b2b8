"""archsweep sweep: evaluate many variants of a space into a Parquet dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from archsweep import _core
from archsweep.metrics import NAMES

NAME = "sweep"


def register(sub: Any) -> None:
    sw = sub.add_parser(
        "sweep", help="evaluate many variants of a space into a Parquet dataset",
        description="Evaluate variants of a search space in Rust (all cores) and write one row per variant "
        "as Parquet part files plus _manifest.parquet (no rows; the run's record in its metadata) into a directory. "
        "Query it with archsweep.scan(DIR) (each part checked first) or as it is with pl.scan_parquet(DIR), "
        "pyarrow.dataset.dataset(DIR) or DuckDB's read_parquet('DIR/*.parquet'). "
        "Check it with archsweep status DIR and archsweep verify DIR.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"columns: variant_id, one column per variable, valid, error, {', '.join(NAMES)}, output_shape (see README).\n"
        "--where takes archsweep's expression language: params < 5e6 and macs < 3e8; peak_activation_bytes < 64 MiB; "
        "res >= 160. It is evaluated in Rust: rejected variants are never written. Invalid rows have null metrics "
        "and the filter is three-valued on them, as in polars (res == 8 or params > 4e4 keeps an invalid row with "
        "res == 8).\n"
        "variant_id is u64, or Decimal(38, 0) for a space of more than 2^64 variants (up to 10^38 can be sampled).",
    )
    sw.add_argument("spec", help="a space spec (.toml, .yaml, .json)")
    sw.add_argument("-o", "--out", type=Path, required=True,
                    help="output directory (created; must be new or empty unless --resume or --force)")
    sw.add_argument("--sample", type=int, metavar="N", help="evaluate N distinct variants drawn at random (seeded) instead of the full grid")
    sw.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0): same seed, same ids, on any machine")
    sw.add_argument("--sampler", type=int, choices=(1, 2), default=2,
                    help="the sample's permutation (default 2). 1 reproduces the samples of archsweep's first builds; "
                         "the two differ only for spaces whose size needs an odd number of bits, where 2 is faster")
    sw.add_argument("--where", dest="where", metavar="EXPR", help="keep only rows satisfying EXPR (evaluated in Rust)")
    sw.add_argument("--shard", metavar="I/N|auto",
                    help="compute only shard I of N (0-based), for job arrays; auto: I from SLURM_ARRAY_TASK_ID, N from the "
                         "directory (the count its first submission recorded), so reruns of some indices cannot cut the run "
                         "differently (docs/distributed.md)")
    sw.add_argument("--range", dest="grid_range", metavar="START:END",
                    help="only grid positions (= variant ids) START..END-1, consecutive: a slice of a grid too large to "
                         "sweep whole (grid order re-evaluates only the layers after the changed variables, so it is the fastest order)")
    sw.add_argument("--resume", action="store_true",
                    help="complete an interrupted sweep in OUT (same spec and options): parts already there are checked "
                         "(footers against the manifest), damaged, truncated or foreign ones computed again, missing ones "
                         "computed, temporary files of dead writers removed")
    sw.add_argument("--verify-full", action="store_true",
                    help="with --resume: check every byte of the parts already there (sha256) and read every row, "
                         "as archsweep verify --full does, instead of their footers only")
    sw.add_argument("--force", action="store_true",
                    help="write into OUT even though it holds files that are not an archsweep dataset (they are left alone)")
    sw.add_argument("--threads", type=int, default=0,
                    help="rayon threads (default: all cores; with --engine dask: per worker, default 1)")
    sw.add_argument("--batch", type=int, default=1, help="batch size for activations (default 1)")
    sw.add_argument("--dtype", default="fp32", help="fp32 (default), fp16, bf16, int8, fp8, fp64")
    sw.add_argument("--optimizer", default="adam", help="sgd, momentum, adam (default), adamw")
    sw.add_argument("--chunk-rows", type=int, default=1 << 18, help="variants per part file (default 262144); bounds memory")
    sw.add_argument("--max-variants", type=int, default=None, help="allow full grids up to this size (default 10^10)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--engine", choices=["local", "dask"], default="local",
                    help="local (default): this process, --threads rayon threads; dask: one task per chunk on Dask workers")
    sw.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                    help="with --engine dask: connect to this Dask scheduler (default: start a local cluster)")
    sw.add_argument("--workers", type=int, metavar="N",
                    help="with --engine dask and no --scheduler: worker processes of the local cluster (default 2)")


def _range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        a, b = text.replace("_", "").split(":")
        return int(a), int(b)
    except ValueError:
        raise _core.ArchsweepError(f"--range {text!r}: expected START:END, e.g. 0:1000000") from None


def _shard(text: str | None) -> tuple[int, int] | Literal["auto"] | None:
    if text is None:
        return None
    if text == "auto":
        return "auto"
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise _core.ArchsweepError(f"--shard {text!r}: expected I/N, e.g. 0/8, or auto (in a SLURM job array)") from None
    return i, n


def resume_command(argv: list[str]) -> str:
    """The command that completes the run ``archsweep ARGV`` started: the same words plus
    ``--resume`` (quoted for a POSIX shell)."""
    import shlex

    words = list(argv) + ([] if "--resume" in argv else ["--resume"])
    return shlex.join(["archsweep", *words])


def interrupted(args: argparse.Namespace) -> str:
    """What Ctrl-C left behind: chunks saved (whole parts the manifest or the directory holds) of
    the run's chunks, and the command that completes it."""
    from archsweep.sweep import sweep_status

    try:
        st = sweep_status(args.out)
        saved = f"{st['done']:,} of {st['chunks']:,} chunks saved in {args.out} ({st['rows']:,} rows)"
    except Exception:  # nothing usable was written (interrupted while starting)  # noqa: BLE001
        saved = f"no finished chunk in {args.out}"
    argv = getattr(args, "argv", None) or sys.argv[1:]
    return f"archsweep: interrupted: {saved}; to finish the sweep, run:\n  {resume_command(argv)}"


def run(args: argparse.Namespace) -> int:
    if args.verify_full and not args.resume:
        raise _core.ArchsweepError("--verify-full checks the parts a run resumes from: it needs --resume")
    from archsweep.render import cell, console, line
    from archsweep.space import Space
    from archsweep.sweep import sweep_to_dataset

    space = Space.load(args.spec)
    try:
        summary = sweep_to_dataset(
            space, args.out, where=args.where, sample=args.sample, seed=args.seed, sampler=args.sampler, resume=args.resume,
            shard=_shard(args.shard), grid_range=_range(args.grid_range), threads=args.threads, batch=args.batch,
            dtype=args.dtype, optimizer=args.optimizer, chunk_rows=args.chunk_rows, max_variants=args.max_variants,
            progress=not args.no_progress,  # a bar on a terminal, a line every few seconds in a log
            engine=args.engine, scheduler=args.scheduler, workers=args.workers, force=args.force, verify_full=args.verify_full,
        )
    except KeyboardInterrupt:
        print(interrupted(args), file=sys.stderr)
        return 130
    c = console(sys.stderr)
    for problem in summary.repaired:
        c.print(cell(f"recomputed {problem}"))
    if summary.temporary_removed:
        c.print(f"removed {len(summary.temporary_removed)} temporary files of writers that died")
    c.print(line(
        (space.name, "bold"),
        f": evaluated {summary.evaluated:,} variants in {summary.seconds:.2f} s "
        f"({summary.rate / 1e6:.2f} M/s); kept {summary.kept:,} rows ({summary.invalid:,} invalid), "
        f"filtered out {summary.filtered_out:,}, rejected by constraints {summary.rejected_by_constraints:,}; "
        f"{summary.parts_written} part files written, {summary.parts_skipped} already done"
        + (f" ({len(summary.repaired)} damaged or missing ones computed again)" if summary.repaired else "") + f" → {args.out}"
    ))
    if summary.filter_errors:
        c.print(cell(f"warning: {summary.filter_error_message(args.where)}"))
    return 0
