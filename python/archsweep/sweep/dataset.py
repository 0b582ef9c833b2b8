"""Datasets on disk: the manifest, resuming a run, and a directory's progress."""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.space import Space
from archsweep.sweep.chunk import check_part, run_chunk, write_replace
from archsweep.sweep.executors import ProgressBar, completed
from archsweep.sweep.plan import SweepSummary, chunk_ranges, part_name, run_sampler

MANIFEST = "_manifest.json"


def _manifest_name(shard: tuple[int, int] | None) -> str:
    return MANIFEST if shard is None else f"_manifest.shard-{shard[0]}-of-{shard[1]}.json"


def _save_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest, keeping entries another coordinator of the same run recorded there
    since (two runs may fill one directory at once; each records every chunk it covers)."""
    try:
        disk = json.loads(path.read_text())
    except (OSError, ValueError):
        disk = {}
    if disk.get("run") == manifest["run"]:
        for name, e in disk.get("parts", {}).items():
            manifest["parts"].setdefault(name, e)
    for name in list(manifest.get("failed", {})):
        if name in manifest["parts"]:
            del manifest["failed"][name]
    write_replace(path, json.dumps(manifest, indent=1))


def write_dataset(space: Space, out: Path, chunks: list[tuple[int, int, int]], summary: SweepSummary, bar: ProgressBar, t0: float,
                  resume: bool, shard: tuple[int, int] | None, meta: dict[str, Any],
                  engine_executor: Callable[[], AbstractContextManager[cf.Executor]],
                  chunk_args: Callable[[int, int, int], tuple[Any, ...]], keep_going: bool) -> SweepSummary:
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / _manifest_name(shard)
    # shards of one run share the directory: only this run's own manifest and parts mean "resume"
    mine = {part_name(k) for k, _, _ in chunks}
    existing = [p for p in out.glob("*.parquet") if shard is None or p.name in mine]
    if manifest_path.exists() or existing:
        if not resume:
            raise _core.ArchsweepError(f"{out} already holds a sweep; pass --resume to complete it, or choose an empty directory")
    for other in sorted(out.glob("_manifest*.json")):
        ref = json.loads(other.read_text())
        recorded = dict(ref["run"])
        if recorded.get("mode") == "sample":
            recorded["sampler"] = run_sampler(recorded)
        for key, v in meta.items():
            if recorded.get(key) != v:
                what = "cannot resume" if other == manifest_path else f"{other.name} belongs to another run"
                hint = f"; pass sampler={recorded[key]} (--sampler {recorded[key]}) to complete it" if key == "sampler" else ""
                raise _core.ArchsweepError(f"{out}: {what}: {key} was {recorded.get(key)!r}, now {v!r} (same spec and options needed{hint})")
    manifest: dict[str, Any] = {
        "format": "archsweep-sweep/1",
        "space": space.name,
        "spec": space.spec,
        "spec_hash": space.spec_hash,
        "run": meta,
        "shard": None if shard is None else list(shard),
        "parts": {},
        "failed": {},
    }
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        manifest["parts"] = old.get("parts", {})
        manifest["failed"] = old.get("failed", {})
    todo = []
    for k, start, end in chunks:
        name = part_name(k)
        path = out / name
        if path.exists():
            # linked into place only when complete, so an existing part is a finished part
            if name not in manifest["parts"]:
                manifest["parts"][name] = {"chunk": k, "start": start, "end": end, "rows": check_part(path, meta)}
            summary.parts_skipped += 1
            bar.update(end - start, summary.kept)
        else:
            todo.append((k, start, end))
    _save_manifest(manifest_path, manifest)
    failures: list[tuple[int, BaseException]] = []
    last_save = time.monotonic()
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
                bar.update(e - s, summary.kept)
                if time.monotonic() - last_save > 1.0:
                    _save_manifest(manifest_path, manifest)
                    last_save = time.monotonic()
    finally:
        _save_manifest(manifest_path, manifest)
    if failures:
        first, first_exc = min(failures, key=lambda f: f[0])
        raise _core.ArchsweepError(
            f"{len(failures)} of {len(todo)} chunks failed (chunk {first}: {type(first_exc).__name__}: {first_exc}); the finished "
            f"parts are kept: rerun with --resume to compute the rest") from first_exc
    summary.seconds = time.perf_counter() - t0
    return summary


def sweep_status(directory: str | Path) -> dict[str, Any]:
    """Progress of the sweep in ``directory``, from its manifest(s) and part files.

    Returns ``space``, ``spec_hash``, ``run`` (the manifest's run table, None without a
    manifest), ``chunks`` (expected: every chunk of the run), ``done`` (expected chunks whose part
    file exists), ``pending`` (indices of expected chunks with no part file), ``positions_done``,
    ``rows`` (rows in the finished parts), ``shards`` (per shard of a job array: done, pending and
    its manifest, or None for a shard that has not started), ``failed`` (chunks a coordinator
    recorded as failed that still have no part), ``temporary`` (``.part-*.tmp-*`` files: parts being
    written, or left by a killed writer) and ``problems`` (manifests of other runs, stray parts).
    """
    import pyarrow.parquet as pq

    d = Path(directory)
    if not d.is_dir():
        raise _core.ArchsweepError(f"{d}: no such sweep directory")
    manifests = {p.name: json.loads(p.read_text()) for p in sorted(d.glob("_manifest*.json"))}
    present = {p.name for p in d.glob("part-*.parquet")}
    st: dict[str, Any] = {"directory": str(d), "space": None, "spec_hash": None, "run": None, "chunks": None, "done": 0,
                          "pending": [], "positions_done": 0, "rows": 0, "shards": [], "failed": [],
                          "temporary": sorted(p.name for p in d.glob(".part-*.tmp-*")), "problems": []}
    known_rows: dict[str, int] = {}
    ref = None
    for name, m in manifests.items():
        if ref is None:
            ref = m
        elif m.get("run") != ref.get("run") or m.get("spec_hash") != ref.get("spec_hash"):
            st["problems"].append(f"{name} belongs to another run than {next(iter(manifests))}")
            continue
        for part, e in m.get("parts", {}).items():
            known_rows[part] = e["rows"]

    def rows_of(part: str) -> int:
        if part not in known_rows:
            known_rows[part] = pq.read_metadata(d / part).num_rows
        return known_rows[part]

    if ref is None:
        st["done"] = len(present)
        st["rows"] = sum(rows_of(p) for p in present)
        return st
    run = ref["run"]
    n, chunk = run["positions"], run["chunk_rows"]
    st.update(space=ref.get("space"), spec_hash=ref.get("spec_hash"), run=run)
    expected = chunk_ranges(n, chunk, None)
    st["chunks"] = len(expected)
    for k, start, end in expected:
        if part_name(k) in present:
            st["done"] += 1
            st["positions_done"] += end - start
            st["rows"] += rows_of(part_name(k))
        else:
            st["pending"].append(k)
    stray = sorted(present - {part_name(k) for k, _, _ in expected})
    if stray:
        st["problems"].append(f"{len(stray)} part files outside the run's {len(expected)} chunks (e.g. {stray[0]})")
    shard_counts = sorted({tuple(m["shard"])[1] for m in manifests.values() if m.get("shard")})
    for count in shard_counts:
        for i in range(count):
            mine = [k for k, _, _ in chunk_ranges(n, chunk, (i, count))]
            done = sum(part_name(k) in present for k in mine)
            name = _manifest_name((i, count))
            st["shards"].append({"shard": f"{i}/{count}", "done": done, "pending": len(mine) - done,
                                 "manifest": name if name in manifests else None})
    for m in manifests.values():
        for part, f in sorted(m.get("failed", {}).items()):
            if part not in present and all(f["chunk"] != g["chunk"] for g in st["failed"]):
                st["failed"].append(f)
    return st
