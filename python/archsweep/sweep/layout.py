"""A sweep directory on disk: file names, the manifest, durable writes and temporary files.

Layout (format ``archsweep-sweep/2``)::

    DIR/part-00000000.parquet        chunk 0: its rows; footer metadata: spec, run, positions
    DIR/part-00000001.parquet        ...
    DIR/_manifest.parquet            no rows, the parts' columns; footer metadata: the manifest
    DIR/_manifest.shard-I-of-N.parquet   (job arrays: one manifest per shard instead)

Every file in ``DIR`` is a Parquet file with the dataset's columns, so the directory reads as it is
with ``pl.scan_parquet(DIR)``, ``pl.read_parquet(DIR)`` (polars reads every file under a directory
and refuses one of another extension), ``pyarrow.dataset.dataset(DIR)`` (which skips names starting
with ``_`` or ``.``) and DuckDB's ``read_parquet('DIR/*.parquet')``: the manifest adds no row.

Files are made durable before they count: written under a temporary name
(``.<name>.tmp-<host>-<pid>-<random>``), fsynced, linked or renamed into place, and the directory
fsynced. Temporary files exist only while a writer works; one whose writer died is removed by the
next run (:func:`remove_stale_temporary`).

The layout before this one (format ``archsweep-sweep/1``) kept the manifest as ``_manifest.json``,
which polars refuses beside the parts; such a directory is still read, and ``--resume`` converts it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archsweep import _core

FORMAT = "archsweep-sweep/2"
LEGACY_FORMAT = "archsweep-sweep/1"
#: The manifest of a run that is not a shard of a job array.
MANIFEST = "_manifest.parquet"
#: The manifest of datasets written before ``_manifest.parquet`` (still read; --resume converts it).
LEGACY_MANIFEST = "_manifest.json"
#: Key of the manifest in ``_manifest.parquet``'s key-value metadata.
MANIFEST_KEY = b"archsweep.manifest"
#: Keys of a part's footer: the canonical spec, its sha256, the run table, the part's own record.
SPEC_KEY, SPEC_HASH_KEY, RUN_KEY, PART_KEY = b"archsweep.spec", b"archsweep.spec_hash", b"archsweep.run", b"archsweep.part"

_PART_RE = re.compile(r"^part-(\d{8,})\.parquet$")
_MANIFEST_RE = re.compile(r"^_manifest(?:\.shard-(\d+)-of-(\d+))?\.(parquet|json)$")
_TMP_RE = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<tag>.*)$")
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def part_index(name: str) -> int | None:
    """k of ``part-<k>.parquet``, else None."""
    m = _PART_RE.match(name)
    return int(m.group(1)) if m else None


def manifest_name(shard: tuple[int, int] | None, legacy: bool = False) -> str:
    ext = "json" if legacy else "parquet"
    return f"_manifest.{ext}" if shard is None else f"_manifest.shard-{shard[0]}-of-{shard[1]}.{ext}"


def is_manifest(name: str) -> bool:
    return _MANIFEST_RE.match(name) is not None


def is_temporary(name: str) -> bool:
    return _TMP_RE.match(name) is not None


def tmp_name(path: Path) -> Path:
    """A temporary name beside ``path``: hidden, not ending in ``.parquet`` (globs of finished parts
    never match it) and naming the host and process that write it (see :func:`remove_stale_temporary`)."""
    return path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


# --------------------------------------------------------------------------------------------
# durable writes


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (a new name, a rename) durable."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on a directory: nothing more can be done
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dir(directory: Path) -> None:
    """Create ``directory`` (and parents), making each new entry durable. A file where the
    directory or one of its parents belongs is an ArchsweepError naming it."""
    from archsweep.io import file_in_the_way

    blocker = file_in_the_way(directory)
    if blocker == directory:
        raise _core.ArchsweepError(f"{directory} is a file: the output of a sweep is a directory (new or empty)")
    if blocker is not None:
        raise _core.ArchsweepError(f"{directory} cannot be created: {blocker} is a file, not a directory")
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    directory.mkdir(parents=True, exist_ok=True)
    for d in reversed(missing):
        fsync_dir(d.parent)


def write_durable(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)``, fsync it, rename it to ``path`` and fsync the directory: after a crash
    ``path`` is the old file or the new one, whole."""
    tmp = tmp_name(path)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# the manifest


def manifest_paths(directory: Path) -> list[Path]:
    """The manifests in ``directory`` (new layout first; a legacy JSON one only where no Parquet
    manifest of the same shard exists)."""
    names = {p.name for p in directory.iterdir() if is_manifest(p.name)} if directory.is_dir() else set()
    new = sorted(n for n in names if n.endswith(".parquet"))
    legacy = sorted(n for n in names if n.endswith(".json") and n[: -len(".json")] + ".parquet" not in names)
    return [directory / n for n in new + legacy]


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest in ``path`` (``_manifest*.parquet``, or a legacy ``_manifest*.json``)."""
    path = Path(path)
    hint = "move it away and run the same sweep with --resume: the finished parts are checked and recorded again"
    try:
        if path.suffix == ".json":
            m = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(m, dict):
                m.setdefault("format", LEGACY_FORMAT)
        else:
            import pyarrow.parquet as pq

            kv = pq.read_metadata(path).metadata or {}
            if MANIFEST_KEY not in kv:
                raise ValueError(f"no {MANIFEST_KEY.decode()} key in its metadata")
            m = json.loads(kv[MANIFEST_KEY])
    except (OSError, ValueError, RecursionError) as e:
        raise _core.ArchsweepError(f"{path}: the manifest cannot be read ({type(e).__name__}: {e}); {hint}") from None
    problem = manifest_problem(m)
    if problem is not None:
        raise _core.ArchsweepError(f"{path}: the manifest is malformed ({problem}); {hint}")
    return dict(m)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def manifest_problem(m: Any) -> str | None:
    """What is wrong with the structure of a manifest read from disk (the fields every reader
    relies on, with their types), or None: a manifest edited by hand or damaged so that it still
    parses is named, not read into a crash."""
    if not isinstance(m, dict):
        return f"a table expected, got {type(m).__name__}"
    for key in ("format", "space", "spec_hash"):
        if m.get(key) is not None and not isinstance(m[key], str):
            return f"{key} is {m[key]!r:.40}, not a string"
    if m.get("spec") is not None and not isinstance(m["spec"], dict):
        return "spec is not a table"
    run = m.get("run")
    if not isinstance(run, dict):
        return "no run table" if run is None else f"run is {run!r:.40}, not a table"
    for key, low in (("positions", 0), ("chunk_rows", 1)):
        if not _is_int(run.get(key)) or run[key] < low:
            return f"run.{key} is {run.get(key)!r:.40}, not an integer of at least {low}"
    if not isinstance(run.get("mode"), str):
        return f"run.mode is {run.get('mode')!r:.40}, not a string"
    if run.get("grid_range") is not None and not (isinstance(run["grid_range"], list) and len(run["grid_range"]) == 2
                                                  and all(_is_int(x) for x in run["grid_range"])):
        return f"run.grid_range is {run['grid_range']!r:.40}, not two integers"
    shard = m.get("shard")
    if shard is not None and not (isinstance(shard, list) and len(shard) == 2 and all(_is_int(x) for x in shard)
                                  and 0 <= shard[0] < shard[1]):
        return f"shard is {shard!r:.40}, not [I, N] with 0 <= I < N"
    for table in ("parts", "failed"):
        entries = m.get(table, {})
        if not isinstance(entries, dict):
            return f"{table} is {entries!r:.40}, not a table"
        for name, e in entries.items():
            if not isinstance(e, dict):
                return f"{table}.{name} is {e!r:.40}, not a table"
            for key in ("chunk", "start", "end", "rows", "bytes"):
                if e.get(key) is not None and not _is_int(e[key]):
                    return f"{table}.{name}.{key} is {e[key]!r:.40}, not an integer"
            if table == "failed" and not all(_is_int(e.get(k)) for k in ("chunk", "start", "end")):
                return f"failed.{name} lacks its chunk, start and end"
    return None


def write_manifest(path: Path, manifest: dict[str, Any], schema_frame: Any) -> None:
    """Write ``manifest`` as ``path``: a Parquet file of no rows with the dataset's columns
    (``schema_frame``, a polars DataFrame of no rows) whose key-value metadata holds it."""
    text = json.dumps(manifest, indent=None, separators=(",", ":"))
    write_durable(path, lambda p: schema_frame.write_parquet(p, metadata={MANIFEST_KEY.decode(): text}))


# --------------------------------------------------------------------------------------------
# temporary files


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def stale(name: str, done: set[str]) -> bool:
    """Whether temporary file ``name`` can be removed: its target is already in place (so it can
    never be linked), or it was written on this host by a process that no longer runs. A file of a
    live writer on another host is kept (nothing here can tell it is dead)."""
    m = _TMP_RE.match(name)
    if m is None:
        return False
    if m.group("target") in done:
        return True
    fields = m.group("tag").split("-")
    # .NAME.tmp-HOST-PID-HEX (this version), .NAME.tmp-PID-HEX or .NAME.tmp-PID (earlier ones)
    if len(fields) >= 3:
        host, pid = "-".join(fields[:-2]), fields[-2]
    else:
        host, pid = _HOST, fields[0]
    if host != _HOST:
        return False
    return not pid.isdigit() or not _pid_alive(int(pid))


def remove_stale_temporary(directory: Path, done: set[str]) -> list[str]:
    """Remove the temporary files :func:`stale` says are left over; return their names."""
    removed = []
    for p in sorted(directory.iterdir()):
        if is_temporary(p.name) and stale(p.name, done):
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p.name)
    if removed:
        fsync_dir(directory)
    return removed
