"""Checking a sweep directory: each part against the manifest, the directory against the layout.

A part's *footer check* (what ``--resume``, ``status``, ``scan`` and the result commands do, cheap:
a stat and two small reads per part) asks, in this order:

- is the file there and not empty; does its Parquet footer parse (else: truncated, or damaged);
- does its footer carry archsweep's metadata, with the run's spec hash and the run's options
  (seed, sampler, where, dtype, ... — else it belongs to another run);
- does its ``archsweep.part`` record name this chunk, its positions and the rows the footer counts;
- are its columns the dataset's;
- do its size, row count and the sha256 of its footer equal what the manifest recorded when the
  part was written (a truncated, bit-flipped or replaced file differs).

The *full check* (``archsweep verify --full``, ``--resume --verify-full``) also compares the sha256
of the whole file with the manifest's and reads every row.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.sweep.layout import (
    FORMAT,
    LEGACY_FORMAT,
    PART_KEY,
    RUN_KEY,
    SPEC_HASH_KEY,
    is_manifest,
    is_temporary,
    manifest_paths,
    part_index,
    read_manifest,
)
from archsweep.sweep.plan import chunk_ranges, part_name, ranges, run_sampler

#: Threads reading footers at once (the reads wait on the disk, not the CPU).
CHECK_THREADS = 8


def normalized_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run table with the sampler a sample of an older run used filled in."""
    r = dict(run)
    if r.get("mode") == "sample":
        r["sampler"] = run_sampler(r)
    return r


def run_difference(theirs: dict[str, Any], ours: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """(option, their value, ours) of the first option of two run tables that differs, else None."""
    a, b = normalized_run(theirs), normalized_run(ours)
    for key in sorted(set(a) | set(b), key=lambda k: (k != "spec_hash", k)):
        if a.get(key) != b.get(key):
            return key, a.get(key), b.get(key)
    return None


def _first_line(e: BaseException) -> str:
    """An exception's first line, printable (pyarrow quotes the bytes it could not parse)."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def expected_chunks(run: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """Every chunk of a run: index -> (start, end) in positions (grid positions for --range)."""
    offset = run["grid_range"][0] if run.get("grid_range") else 0
    return {k: (s + offset, e + offset) for k, s, e in chunk_ranges(run["positions"], run["chunk_rows"], None)}


@dataclass
class Expected:
    """What a part of one run must be."""

    spec_hash: str | None
    run: dict[str, Any] | None
    chunks: dict[int, tuple[int, int]] | None
    schema: list[tuple[str, str, str]] | None = None  # the dataset's columns (see columns_of), if known
    legacy: bool = False  # parts may lack the archsweep.part record (written before it existed)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # the manifest's record of each part


@dataclass
class PartCheck:
    """One part file checked: its rows, what is wrong (None if nothing), and the record of it a
    manifest keeps (``bytes``, ``footer_sha256``; ``sha256`` when the whole file was read)."""

    name: str
    rows: int = 0
    problem: str | None = None
    record: dict[str, Any] = field(default_factory=dict)
    legacy: bool = False  # its footer has no archsweep.part record (written before there was one)
    own: dict[str, Any] | None = None  # its footer's archsweep.part record (chunk, positions, rows, counts)


def columns_problem(theirs: list[tuple[str, str, str]], ours: list[tuple[str, str, str]]) -> str:
    """What is wrong with a part's columns; parts written before the ``saved_bytes`` column (when
    ``train_bytes`` was the older estimate, and before that while the metric columns were UInt64)
    are said to be such: a resume computes them again, so that the directory keeps one schema and
    reads as it is."""
    names = [c[0] for c in theirs]
    if "saved_bytes" not in names and [c[0] for c in ours if c[0] != "saved_bytes"] == names != [c[0] for c in ours]:
        return ("it has no saved_bytes column (written before train_bytes counted what autograd keeps for the "
                "backward), not the dataset's columns")
    return "its columns are not the dataset's"


def columns_of(md: Any) -> list[tuple[str, str, str]]:
    """A Parquet file's columns as stored (path, physical and logical type), from its metadata."""
    schema = md.schema
    return [(schema.column(i).path, schema.column(i).physical_type, str(schema.column(i).logical_type)) for i in range(len(schema))]


def columns_of_frame(frame: Any) -> list[tuple[str, str, str]]:
    """The columns of a part holding ``frame``'s columns (written as parts are, read back)."""
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    frame.head(0).write_parquet(buf)
    buf.seek(0)
    return columns_of(pq.read_metadata(buf))


def _tail(path: Path, size: int) -> tuple[bytes | None, str | None]:
    """The footer as stored (metadata, its length, the closing magic), or why there is none."""
    if size < 12:
        return None, f"only {size} bytes, not a Parquet file"
    with open(path, "rb") as f:
        f.seek(size - 8)
        end = f.read(8)
        if end[4:] != b"PAR1":
            return None, "no Parquet footer at the end of the file"
        n = int.from_bytes(end[:4], "little")
        if n + 12 > size:
            return None, f"the footer claims {n:,} bytes, the file has {size:,}"
        f.seek(size - 8 - n)
        return f.read(n + 8), None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def part_record(path: Path) -> dict[str, Any]:
    """What a manifest records of a finished part: size, sha256 of the file and of its footer."""
    size = path.stat().st_size
    tail, why = _tail(path, size)
    if tail is None:
        raise _core.ArchsweepError(f"{path}: {why}")
    return {"bytes": size, "sha256": file_sha256(path), "footer_sha256": hashlib.sha256(tail).hexdigest()}


def check_part(path: Path, exp: Expected, full: bool = False) -> PartCheck:
    """Check the part file ``path`` against ``exp`` (see the module's docstring)."""
    import pyarrow.parquet as pq

    name = path.name
    c = PartCheck(name)
    entry = exp.entries.get(name)
    recorded = entry.get("bytes") if entry else None

    def recorded_size(size: int) -> str:
        if recorded is None:
            return ""
        return f" of the {recorded:,} the manifest recorded" if size < recorded else f"; the manifest recorded {recorded:,}"

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        c.problem = "missing" + (": the manifest records it as done" if entry else "")
        return c
    if size == 0:
        c.problem = "empty (0 bytes" + recorded_size(0) + ")"
        return c
    tail, why = _tail(path, size)
    if tail is None:
        c.problem = (f"truncated ({size:,} bytes{recorded_size(size)}): " if recorded is not None and size < recorded
                     else "damaged: ") + str(why)
        return c
    try:
        md = pq.read_metadata(path)
    except Exception as e:  # pyarrow's OSError or ArrowInvalid: a footer that does not parse
        c.problem = f"damaged: its Parquet footer does not parse ({_first_line(e)})"
        return c
    c.rows = md.num_rows
    c.legacy = PART_KEY not in (md.metadata or {})
    c.record = {"bytes": size, "footer_sha256": hashlib.sha256(tail).hexdigest()}
    kv = md.metadata or {}
    k = part_index(name)
    try:
        theirs_run = json.loads(kv[RUN_KEY]) if RUN_KEY in kv else None
        own = json.loads(kv[PART_KEY]) if PART_KEY in kv else None
    except (ValueError, RecursionError):
        c.problem = "damaged: its archsweep metadata is not valid JSON"
        return c
    if (theirs_run is not None and not isinstance(theirs_run, dict)) or (own is not None and not (
            isinstance(own, dict) and all(isinstance(own.get(f), int) for f in ("chunk", "start", "end", "rows")))):
        c.problem = "damaged: its archsweep metadata is not the record of a part"
        return c
    c.own = own if isinstance(own, dict) else None
    if theirs_run is None or SPEC_HASH_KEY not in kv:
        c.problem = "not an archsweep part (no archsweep metadata in its footer)"
    elif exp.spec_hash is not None and kv[SPEC_HASH_KEY].decode() != exp.spec_hash:
        c.problem = f"belongs to another run: its spec_hash is {kv[SPEC_HASH_KEY].decode()[:12]}…, this run's {exp.spec_hash[:12]}…"
    elif exp.run is not None and (diff := run_difference(theirs_run, exp.run)) is not None:
        c.problem = f"belongs to another run: its {diff[0]} is {diff[1]!r}, this run's {diff[2]!r}"
    elif exp.chunks is not None and k not in exp.chunks:
        c.problem = f"not a chunk of this run (it has chunks 0-{len(exp.chunks) - 1})"
    elif own is None and not (exp.legacy or (entry or {}).get("legacy")):
        c.problem = "no archsweep.part record in its footer (which chunk and positions it holds is unknown)"
    elif own is not None and own.get("chunk") != k:
        c.problem = f"holds chunk {own.get('chunk')}, not {k}"
    elif own is not None and exp.chunks is not None and k is not None and (own.get("start"), own.get("end")) != exp.chunks[k]:
        start, end = exp.chunks[k]
        c.problem = f"holds positions [{own.get('start'):,}, {own.get('end'):,}), chunk {k} is [{start:,}, {end:,})"
    elif own is not None and own.get("rows") != md.num_rows:
        c.problem = f"damaged: its footer counts {md.num_rows:,} rows, its record {own.get('rows'):,}"
    elif exp.schema is not None and columns_of(md) != exp.schema:
        c.problem = columns_problem(columns_of(md), exp.schema)
    elif entry is not None and entry.get("rows") is not None and entry["rows"] != md.num_rows:
        c.problem = f"{md.num_rows:,} rows, the manifest recorded {entry['rows']:,}"
    elif recorded is not None and size != recorded:
        c.problem = ("truncated" if size < recorded else "size differs") + f" ({size:,} bytes{recorded_size(size)})"
    elif entry is not None and entry.get("footer_sha256") not in (None, c.record["footer_sha256"]):
        c.problem = "damaged: its footer is not the one the manifest recorded (sha256 differs)"
    if c.problem is not None or not full:
        return c
    c.record["sha256"] = file_sha256(path)
    if entry is not None and entry.get("sha256") not in (None, c.record["sha256"]):
        c.problem = "damaged: its contents are not the ones the manifest recorded (sha256 differs)"
        return c
    import polars as pl

    try:
        height = pl.read_parquet(path).height
    except Exception as e:  # polars' ComputeError and friends: a page that does not decode
        c.problem = f"damaged: its rows cannot be read ({type(e).__name__}: {_first_line(e)})"
        return c
    if height != md.num_rows:
        c.problem = f"damaged: {height:,} rows read, its footer counts {md.num_rows:,}"
    return c


def check_parts(paths: list[Path], exp: Expected, full: bool = False) -> dict[str, PartCheck]:
    """:func:`check_part` of each path, a few at a time."""
    if len(paths) <= 1:
        return {p.name: check_part(p, exp, full) for p in paths}
    with cf.ThreadPoolExecutor(min(CHECK_THREADS, len(paths))) as ex:
        return {c.name: c for c in ex.map(lambda p: check_part(p, exp, full), paths)}


# --------------------------------------------------------------------------------------------
# a whole directory


@dataclass
class Inspection:
    """What is in a sweep directory, each part checked (see :func:`inspect_dataset`)."""

    directory: Path
    manifests: dict[str, dict[str, Any]]  # the run's manifests by file name
    foreign: list[str]  # manifests of another run
    ref: dict[str, Any] | None  # the run's manifest (the first), or None
    expected: Expected
    parts: dict[str, PartCheck]  # every part-*.parquet present, checked
    listed: set[str]  # parts some manifest records as done
    temporary: list[str]
    unexpected: list[str]  # files that are not the dataset's

    @property
    def legacy(self) -> bool:
        return any(m.get("format", LEGACY_FORMAT) == LEGACY_FORMAT for m in self.manifests.values())

    @property
    def good(self) -> list[str]:
        return sorted(n for n, c in self.parts.items() if c.problem is None)

    @property
    def damaged(self) -> list[PartCheck]:
        """Parts present but wrong, and parts a manifest records as done that are gone."""
        bad = [c for c in self.parts.values() if c.problem is not None]
        gone = [PartCheck(n, problem="missing: the manifest records it as done") for n in self.listed - set(self.parts)]
        return sorted(bad + gone, key=lambda c: c.name)

    @property
    def pending(self) -> list[int]:
        """Chunks of the run with no good part."""
        if self.expected.chunks is None:
            return []
        good = set(self.good)
        return [k for k in sorted(self.expected.chunks) if part_name(k) not in good]


def expected_of(directory: Path, manifests: dict[str, dict[str, Any]], ref: dict[str, Any] | None) -> Expected:
    import pyarrow.parquet as pq

    if ref is None:
        return Expected(None, None, None, legacy=True)
    schema = None
    for name in manifests:
        if name.endswith(".parquet"):
            try:
                schema = columns_of(pq.read_metadata(directory / name))
            except Exception:  # read_manifest read this file a moment ago: only a concurrent replace gets here
                continue
            break
    entries: dict[str, dict[str, Any]] = {}
    for m in manifests.values():
        for part, e in m.get("parts", {}).items():
            entries.setdefault(part, e)
    legacy = any(m.get("format", LEGACY_FORMAT) == LEGACY_FORMAT for m in manifests.values())
    return Expected(ref.get("spec_hash"), ref["run"], expected_chunks(ref["run"]), schema, legacy, entries)


def inspect_dataset(directory: str | Path, full: bool = False) -> Inspection:
    """Read the manifests of ``directory`` and check every part file in it (footers; with
    ``full``, every byte and row). Raises if it is not a directory."""
    d = Path(directory)
    if not d.is_dir():
        raise _core.ArchsweepError(f"{d}: no such sweep directory")
    manifests: dict[str, dict[str, Any]] = {}
    foreign: list[str] = []
    ref = None
    for path in manifest_paths(d):
        m = read_manifest(path)
        if ref is None:
            ref = m
        elif normalized_run(m.get("run", {})) != normalized_run(ref.get("run", {})) or m.get("spec_hash") != ref.get("spec_hash"):
            foreign.append(path.name)
            continue
        manifests[path.name] = m
    names = sorted(p.name for p in d.iterdir())
    part_paths = [d / n for n in names if part_index(n) is not None]
    exp = expected_of(d, manifests, ref)
    if ref is None and part_paths:
        # no manifest: the parts must agree with each other (the first one's run and spec)
        import pyarrow.parquet as pq

        for p in part_paths:
            try:
                kv = pq.read_metadata(p).metadata or {}
                exp = Expected(kv[SPEC_HASH_KEY].decode(), json.loads(kv[RUN_KEY]), None, legacy=True)
                exp.chunks = expected_chunks(exp.run) if exp.run else None
                break
            except Exception:  # a damaged part: the next one decides, this one is reported below
                continue
    parts = check_parts(part_paths, exp, full)
    listed = {n for m in manifests.values() for n in m.get("parts", {})}
    unexpected = [n for n in names if part_index(n) is None and not is_manifest(n) and not is_temporary(n)]
    return Inspection(d, manifests, foreign, ref, exp, parts, listed, [n for n in names if is_temporary(n)], unexpected)


@dataclass
class Problem:
    """One thing wrong with a dataset: the file (or files) and what is wrong."""

    file: str
    problem: str


def verify_dataset(directory: str | Path, full: bool = False) -> list[Problem]:
    """Everything wrong with the sweep dataset in ``directory``: damaged, truncated, foreign or
    missing parts, chunks not computed yet, temporary files, files that are not the dataset's,
    manifests of another run and the old layout. Footers only (see :func:`check_part`) unless
    ``full``: then every byte is compared with the manifest's sha256 and every row is read.
    An empty list: the dataset is complete and whole."""
    ins = inspect_dataset(directory, full)
    out: list[Problem] = []
    if ins.ref is None:
        out.append(Problem("_manifest.parquet", "missing: no manifest (not a sweep directory, or one written without it)"))
    for name in ins.foreign:
        out.append(Problem(name, f"belongs to another run than {next(iter(ins.manifests))}"))
    if ins.legacy:
        old = [n for n in ins.manifests if n.endswith(".json")]
        out.append(Problem(", ".join(old), f"the layout of {LEGACY_FORMAT}: pl.scan_parquet(DIR) cannot read the directory as it "
                                           f"is; archsweep sweep … --resume with the run's options converts it to {FORMAT}"))
    damaged = {c.name for c in ins.damaged}
    for c in ins.damaged:
        out.append(Problem(c.name, str(c.problem)))
    pending = [k for k in ins.pending if part_name(k) not in damaged]
    if pending:
        first = part_name(pending[0])
        files = first if len(pending) == 1 else f"{first} … ({len(pending):,} files)"
        out.append(Problem(files, f"not computed yet: chunks {ranges(pending)} of {len(ins.expected.chunks or {}):,} are pending"))
    for name in ins.temporary:
        out.append(Problem(name, "temporary file: a writer at work, or one that was killed (--resume removes it; "
                                 "pl.scan_parquet(DIR) fails on it)"))
    for name in ins.unexpected:
        out.append(Problem(name, "not part of the dataset (pl.scan_parquet(DIR) reads every file in the directory)"))
    return out


def damaged_message(directory: Path, damaged: list[PartCheck]) -> str:
    """The error of a command that will not read a dataset with damaged parts."""
    shown = "; ".join(f"{c.name}: {c.problem}" for c in damaged[:5])
    more = f"; and {len(damaged) - 5} more" if len(damaged) > 5 else ""
    n = len(damaged)
    return (f"{directory}: {n} damaged part{'s' if n > 1 else ''}: {shown}{more}. Run the same archsweep sweep with --resume to "
            f"recompute {'them' if n > 1 else 'it'} (archsweep verify {directory} lists every problem)")
