"""Datasets on disk: the manifest, resuming a run, and a directory's progress."""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.space import Space
from archsweep.sweep import slurm, verify
from archsweep.sweep.chunk import run_chunk
from archsweep.sweep.executors import ProgressBar, completed
from archsweep.sweep.layout import (
    FORMAT,
    LEGACY_FORMAT,
    fsync_dir,
    is_manifest,
    is_temporary,
    make_dir,
    manifest_name,
    manifest_paths,
    part_index,
    read_manifest,
    remove_stale_temporary,
    write_manifest,
)
from archsweep.sweep.plan import SweepSummary, part_name, run_sampler

#: Seconds between two saves of the manifest while a run goes on (at least; see write_dataset).
SAVE_INTERVAL = 1.0


def _save_manifest(path: Path, manifest: dict[str, Any], schema_frame: Any, dropped: dict[str, Any]) -> None:
    """Write the manifest, keeping entries another coordinator of the same run recorded there
    since (two runs may fill one directory at once; each records every chunk it covers) — except
    entries of parts this run found damaged and removed (``dropped``)."""
    disk = read_manifest(path) if path.exists() else {}
    if disk.get("run") == manifest["run"]:
        for name, e in disk.get("parts", {}).items():
            if dropped.get(name) != e:
                manifest["parts"].setdefault(name, e)
    for name in list(manifest.get("failed", {})):
        if name in manifest["parts"]:
            del manifest["failed"][name]
    write_manifest(path, manifest, schema_frame)


def _refuse_foreign_directory(out: Path, names: list[str], force: bool) -> None:
    """A directory that holds files but no archsweep dataset is not written into without force."""
    theirs = [n for n in names if part_index(n) is None and not is_manifest(n) and not is_temporary(n)]
    if theirs and len(theirs) == len(names) and not force:
        shown = ", ".join(theirs[:3]) + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "")
        raise _core.ArchsweepError(
            f"{out} is not empty and holds no archsweep dataset ({shown}): choose a new or empty directory, or pass "
            f"force=True (--force) to write the dataset beside these files")


def write_dataset(space: Space, out: Path, chunks: list[tuple[int, int, int]], summary: SweepSummary, bar: ProgressBar, t0: float,
                  resume: bool, shard: tuple[int, int] | None, meta: dict[str, Any],
                  engine_executor: Callable[[], AbstractContextManager[cf.Executor]],
                  chunk_args: Callable[[int, int, int], tuple[Any, ...]], keep_going: bool, force: bool = False,
                  verify_full: bool = False) -> SweepSummary:
    make_dir(out)
    manifest_path = out / manifest_name(shard)
    legacy_path = out / manifest_name(shard, legacy=True)
    names = sorted(p.name for p in out.iterdir())
    _refuse_foreign_directory(out, names, force)
    # shards of one run share the directory: only this run's own manifest and parts mean "resume"
    mine = {part_name(k): (k, s, e) for k, s, e in chunks}
    existing = [n for n in names if part_index(n) is not None and (shard is None or n in mine)]
    if manifest_path.exists() or legacy_path.exists() or existing:
        if not resume:
            raise _core.ArchsweepError(f"{out} already holds a sweep; pass --resume to complete it, or choose an empty directory")
    manifests = {p.name: read_manifest(p) for p in manifest_paths(out)}
    for name, ref in manifests.items():
        recorded = dict(ref["run"])
        if recorded.get("mode") == "sample":
            recorded["sampler"] = run_sampler(recorded)
        for key, v in meta.items():
            if recorded.get(key) != v:
                what = "cannot resume" if name in (manifest_path.name, legacy_path.name) else f"{name} belongs to another run"
                hint = f"; pass sampler={recorded[key]} (--sampler {recorded[key]}) to complete it" if key == "sampler" else ""
                raise _core.ArchsweepError(f"{out}: {what}: {key} was {recorded.get(key)!r}, now {v!r} (same spec and options needed{hint})")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "space": space.name,
        "spec": space.spec,
        "spec_hash": space.spec_hash,
        "run": meta,
        "shard": None if shard is None else list(shard),
        "parts": {},
        "failed": {},
    }
    if shard is not None:
        job = slurm.context()  # the job array this shard runs in: `archsweep status` prints the sbatch that finishes the run
        if job is not None:
            manifest["slurm"] = job
    own = manifests.get(manifest_path.name) or manifests.get(legacy_path.name)
    if own is not None:
        manifest["parts"] = dict(own.get("parts", {}))
        manifest["failed"] = dict(own.get("failed", {}))
    schema_frame = space.empty_frame()
    # every part already there is checked (its footer; with verify_full its bytes and rows too):
    # a damaged, truncated or foreign one is removed and computed again, a good one is kept
    legacy = own is not None and own.get("format", LEGACY_FORMAT) == LEGACY_FORMAT
    exp = verify.Expected(space.spec_hash, meta, {k: (s, e) for k, s, e in chunks}, verify.columns_of_frame(schema_frame),
                          legacy, manifest["parts"])
    checks = verify.check_parts([out / n for n in existing if n in mine], exp, verify_full)
    dropped: dict[str, Any] = {}
    good: set[str] = set()
    for name, c in sorted(checks.items()):
        if c.problem is not None:
            summary.repaired.append(f"{name}: {c.problem}")
            (out / name).unlink(missing_ok=True)
            dropped[name] = manifest["parts"].pop(name, None)
            continue
        good.add(name)
        entry = manifest["parts"].get(name)
        if entry is None or "sha256" not in entry:  # found in place (not yet recorded), or recorded by an older version
            k, s, e = mine[name]
            entry = {"chunk": k, "start": s, "end": e, **(entry or {}), "rows": c.rows, **verify.part_record(out / name)}
            if c.legacy:
                entry["legacy"] = True
            manifest["parts"][name] = entry
    for name in sorted(set(manifest["parts"]) & set(mine) - good):
        summary.repaired.append(f"{name}: missing: the manifest records it as done")
        dropped[name] = manifest["parts"].pop(name)
    if dropped:
        fsync_dir(out)
    todo = []
    for k, start, end in chunks:
        if part_name(k) in good:
            summary.parts_skipped += 1
            bar.update(end - start, summary.kept, evaluated=False)
        else:
            todo.append((k, start, end))
    summary.temporary_removed += remove_stale_temporary(out, good | set(manifest["parts"]))
    _save_manifest(manifest_path, manifest, schema_frame, dropped)
    if legacy_path.exists():  # converted: the new manifest is durable, the old one goes
        legacy_path.unlink()
        fsync_dir(out)
    failures: list[tuple[int, BaseException]] = []
    # the manifest is saved while the run goes on at most once a second, and at most a tenth of
    # the time: a save rewrites every entry (3.8 s at 10^5 parts, docs/distributed.md), and while
    # the coordinator saves, finished chunks wait and no new ones are submitted
    last_save, save_interval = time.monotonic(), SAVE_INTERVAL
    try:
        with engine_executor() as ex:
            bar.t0 = time.perf_counter()  # the rate leaves out starting a cluster
            calls = [((k, s, e), run_chunk, chunk_args(k, s, e)) for k, s, e in todo]
            for (k, s, e), fut in completed(ex, calls):
                try:
                    entry = fut.result()
                except Exception as exc:  # recorded for `archsweep status`, then stop or go on
                    manifest["failed"][part_name(k)] = {"chunk": k, "start": s, "end": e, "error": f"{type(exc).__name__}: {exc}"}
                    failures.append((k, exc))
                    if not keep_going or isinstance(exc, _core.ArchsweepError):
                        raise
                    continue
                name, written = entry.pop("part"), entry.pop("written")
                manifest["parts"][name] = entry
                if "evaluated" in entry:
                    summary.add(entry)
                if written:
                    summary.parts_written += 1
                else:
                    summary.parts_skipped += 1
                bar.update(e - s, summary.kept, evaluated=written)
                if time.monotonic() - last_save > save_interval:
                    t_save = time.monotonic()
                    _save_manifest(manifest_path, manifest, schema_frame, dropped)
                    last_save = time.monotonic()
                    save_interval = max(SAVE_INTERVAL, 9 * (last_save - t_save))
    finally:
        _save_manifest(manifest_path, manifest, schema_frame, dropped)
    if failures:
        first, first_exc = min(failures, key=lambda f: f[0])
        raise _core.ArchsweepError(
            f"{len(failures)} of {len(todo)} chunks failed (chunk {first}: {type(first_exc).__name__}: {first_exc}); the finished "
            f"parts are kept: rerun with --resume to compute the rest") from first_exc
    # the run is complete: temporary files of writers that died (or lost a race) go
    summary.temporary_removed += remove_stale_temporary(out, set(manifest["parts"]))
    summary.seconds = time.perf_counter() - t0
    return summary


def sweep_status(directory: str | Path, ask_squeue: bool = True) -> dict[str, Any]:
    """Progress of the sweep in ``directory``, from its manifest(s) and part files, each part's
    footer checked against the manifest (see :mod:`archsweep.sweep.verify`).

    Returns ``space``, ``spec_hash``, ``run`` (the manifest's run table, None without a
    manifest), ``format`` (the layout: ``archsweep-sweep/2``, or ``/1`` for a directory written
    before ``_manifest.parquet``), ``chunks`` (expected: every chunk of the run), ``done``
    (expected chunks whose part passes the check), ``pending`` (indices of expected chunks without
    such a part), ``positions_done``, ``rows`` (rows in those parts), ``damaged`` (``{"part",
    "problem"}`` of each part that is truncated, damaged, of another run, or recorded as done and
    gone: ``--resume`` computes them again), ``shards`` (per shard of a job array: done, pending
    and its manifest, or None for a shard that has not started), ``failed`` (chunks a coordinator
    recorded as failed that still have no part), ``temporary`` (``.*.tmp-*`` files: parts being
    written, or left by a killed writer) and ``problems`` (manifests of other runs, files that are
    not the dataset's), and ``rerun`` (a job array whose shards have chunks pending, else None:
    ``pending_shards``, ``queued`` (those ``squeue`` still lists, with their job and state; asked
    only with ``ask_squeue``), ``missing`` (the others) and ``command``, the ``sbatch
    --array=... SCRIPT`` that computes them (``JOB_SCRIPT`` when no shard recorded its script)).
    """
    ins = verify.inspect_dataset(directory)
    d = ins.directory
    st: dict[str, Any] = {"directory": str(d), "space": None, "spec_hash": None, "run": None, "format": None, "chunks": None,
                          "done": 0, "pending": [], "positions_done": 0, "rows": 0, "damaged": [], "shards": [], "failed": [],
                          "temporary": ins.temporary, "problems": [], "rerun": None}
    st["problems"] += [f"{name} belongs to another run than {next(iter(ins.manifests))}" for name in ins.foreign]
    st["problems"] += [f"{name} is not part of the dataset" for name in ins.unexpected]
    st["damaged"] = [{"part": c.name, "problem": c.problem} for c in ins.damaged]
    good = set(ins.good)
    if ins.ref is None:
        st["done"] = len(good)
        st["rows"] = sum(ins.parts[n].rows for n in good)
        return st
    run = ins.ref["run"]
    st.update(space=ins.ref.get("space"), spec_hash=ins.ref.get("spec_hash"), run=run,
              format=LEGACY_FORMAT if ins.legacy else ins.ref.get("format", FORMAT))
    expected = ins.expected.chunks or {}
    st["chunks"] = len(expected)
    for k, (start, end) in sorted(expected.items()):
        if part_name(k) in good:
            st["done"] += 1
            st["positions_done"] += end - start
            st["rows"] += ins.parts[part_name(k)].rows
        else:
            st["pending"].append(k)
    n_chunks = len(expected)
    done_chunks = [k for k in expected if part_name(k) in good]
    shard_counts = sorted({tuple(m["shard"])[1] for m in ins.manifests.values() if m.get("shard")})
    for count in shard_counts:
        # shard i holds chunks i, i + count, ...: counted, not listed (10^4 shards of 10^5 chunks)
        done_of = Counter(k % count for k in done_chunks)
        for i in range(count):
            mine = max(0, -(-(n_chunks - i) // count))
            done = done_of[i]
            names = [manifest_name((i, count)), manifest_name((i, count), legacy=True)]
            st["shards"].append({"shard": f"{i}/{count}", "done": done, "pending": mine - done,
                                 "manifest": next((m for m in names if m in ins.manifests), None)})
    if len(shard_counts) == 1:
        st["rerun"] = slurm.rerun_plan(st["shards"], ins.manifests, ask_squeue=ask_squeue)
    for m in ins.manifests.values():
        for part, f in sorted(m.get("failed", {}).items()):
            if part not in good and all(f["chunk"] != g["chunk"] for g in st["failed"]):
                st["failed"].append(f)
    return st
