"""Planning a run: which positions it covers, in which chunks, and the run table that the
manifest and every part file record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from archsweep import _core
from archsweep.space import Space
from archsweep.units import big_int, magnitude

#: Engines a sweep may run on (``engine=``).
Engine = Literal["local", "dask"]
#: Dtypes of weights and activations (the core also takes these aliases).
DtypeName = Literal["fp32", "fp16", "bf16", "int8", "fp8", "fp64", "float32", "float", "float16", "half", "bfloat16",
                    "float64", "double"]
#: Optimizers of the training-memory estimate.
OptimizerName = Literal["sgd", "momentum", "adam", "adamw"]
#: A sample's permutation (see README, "Variant ids").
Sampler = Literal[1, 2]
#: How a run's positions map to ids.
Mode = Literal["grid", "sample", "ids"]

#: Samplers a sample may use (``sampler=``; the default is ``_core.SAMPLER``).
SAMPLERS = (1, 2)
#: Grids larger than this need sample=, ids= or an explicit max_variants.
DEFAULT_MAX_GRID = 10**10
# ids are u128 and travel as Decimal(38, 0) beyond 2^64: a space of up to 10^38 variants can be
# sampled or addressed by id
MAX_IDS = 10**38
#: Rows per chunk of an in-memory grid sweep (:func:`sweep`) left at the default ``chunk_rows``.
IN_MEMORY_GRID_CHUNK = 1 << 22
#: The same for in-memory samples and explicit ids (they run ~5-10x slower a row than grids).
IN_MEMORY_SAMPLE_CHUNK = 1 << 20
#: Up to this many explicit ids, :func:`sweep` evaluates them in one call to the engine, without
#: chunks or an executor (up to 128 of them on the calling thread alone), and makes its DataFrame
#: from one Arrow struct array: a call's fixed cost ~0.1 ms instead of 1-4 ms.
SMALL_IDS = 4096
DEFAULT_CHUNK = 1 << 18  # rows per part: bounds memory (~0.2 GiB peak RSS on the VGG space)


@dataclass
class SweepSummary:
    """What a sweep did (``archsweep sweep`` prints it)."""

    positions: int
    evaluated: int = 0
    kept: int = 0
    invalid: int = 0
    rejected_by_constraints: int = 0
    filtered_out: int = 0
    #: variants on which the ``where`` filter failed (an index out of range, an overflow in that
    #: row): not kept, not counted in ``filtered_out`` (docs/filters.md)
    filter_errors: int = 0
    parts_written: int = 0
    parts_skipped: int = 0
    seconds: float = 0.0
    out: str | None = None
    errors: dict[str, int] = field(default_factory=dict)
    engine: str = "local"
    #: parts found damaged, truncated, of another run or missing (``"part-…: what was wrong"``),
    #: removed and computed again by this run
    repaired: list[str] = field(default_factory=list)
    #: temporary files of writers that died, removed by this run
    temporary_removed: list[str] = field(default_factory=list)

    def add(self, counts: dict[str, int]) -> None:
        for k in ("evaluated", "kept", "invalid", "rejected_by_constraints", "filtered_out", "filter_errors"):
            setattr(self, k, getattr(self, k) + counts.get(k, 0))  # (parts written before filter_errors lack it)

    def filter_error_message(self, where: str | None) -> str:
        """What the summary says about rows the filter failed on (empty when there were none)."""
        if not self.filter_errors:
            return ""
        n = self.filter_errors
        return (f"where {where!r}: the filter failed on {n:,} variant{'s' if n != 1 else ''} (an index out of range or an "
                f"overflow in those rows; docs/filters.md): they are not kept and not counted as filtered out")

    @property
    def rate(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0


def plan_positions(space: Space, sample: int | None, ids: Sequence[int] | None, max_variants: int | None) -> tuple[str, int]:
    size = space.size
    if ids is not None:
        if sample is not None:
            raise _core.ArchsweepError("give sample or ids, not both")
        if size > MAX_IDS:
            raise _core.ArchsweepError(f"the space has {big_int(size)} variants, more than 10^38 ids: ids cannot address it; constrain it")
        if len(ids) and (min(ids) < 0 or max(ids) >= size):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise _core.ArchsweepError(f"variant id {bad} is out of range [0, {big_int(size)})")
        return "ids", len(ids)
    if sample is not None:
        if sample < 0:
            raise _core.ArchsweepError(f"sample={sample} must not be negative")
        if sample > size:
            raise _core.ArchsweepError(f"cannot sample {big_int(sample)} distinct variants from a space of {big_int(size)}")
        if size > MAX_IDS:
            raise _core.ArchsweepError(f"the space has {big_int(size)} variants, more than 10^38 ids: ids cannot address it; constrain it")
        return "sample", sample
    limit = DEFAULT_MAX_GRID if max_variants is None else max_variants
    if size >= 2**64:
        raise _core.ArchsweepError(
            f"the space has {big_int(size)} variants (about {magnitude(size)}), more than 2^64 grid positions: a full grid "
            f"cannot cover it; pass sample=N (--sample N)" + ("" if size <= MAX_IDS else ", after constraining it below 10^38 variants")
        )
    if size > limit:
        raise _core.ArchsweepError(
            f"the space has {big_int(size)} variants (about {magnitude(size)}); a full grid is refused above {big_int(limit)}: "
            f"pass sample=N (--sample N), explicit ids, or raise max_variants"
        )
    return "grid", size


def chunk_ranges(n: int, chunk: int, shard: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """(index, start, end) of every chunk this run covers; shard (i, N) takes every N-th."""
    out = []
    for k, start in enumerate(range(0, n, chunk)):
        if shard is None or k % shard[1] == shard[0]:
            out.append((k, start, min(start + chunk, n)))
    return out


def ranges(ks: list[int], limit: int = 8) -> str:
    """[0, 1, 2, 5, 7, 8] → "0-2, 5, 7-8"."""
    out: list[str] = []
    i = 0
    while i < len(ks) and len(out) < limit:
        j = i
        while j + 1 < len(ks) and ks[j + 1] == ks[j] + 1:
            j += 1
        out.append(str(ks[i]) if i == j else f"{ks[i]}-{ks[j]}")
        i = j + 1
    return ", ".join(out) + (", ..." if i < len(ks) else "")


def part_name(k: int) -> str:
    return f"part-{k:08d}.parquet"


def make_run_meta(space: Space, mode: str, n: int, seed: int, where: str | None, batch: int, dtype: str, optimizer: str, chunk: int, ids: Sequence[int] | None,
              sampler: int = _core.SAMPLER) -> dict[str, Any]:
    return {
        "spec_hash": space.spec_hash,
        "mode": mode,
        "positions": n,
        "seed": seed,
        # a sample's permutation (None for grids and explicit ids)
        "sampler": sampler if mode == "sample" else None,
        "where": where,
        "batch": batch,
        "dtype": dtype,
        "optimizer": optimizer,
        "chunk_rows": chunk,
        "ids_hash": None if ids is None else _hash_ids(ids),
    }


def run_what(run: dict[str, Any]) -> str:
    """What a run evaluated, in words, the same for ``archsweep status`` and the report: ``grid
    range [1,000, 5,000) (4,000 variants)``, ``full grid of 10,000 variants``, ``random sample
    of ... (seed 0, sampler 2)`` or ``1,000 explicit variant ids``."""
    n = run.get("positions", 0)
    mode = run.get("mode")
    if mode == "grid" and run.get("grid_range"):
        a, b = run["grid_range"]
        return f"grid range [{a:,}, {b:,}) ({n:,} variants)"
    if mode == "grid":
        return f"full grid of {n:,} variants"
    if mode == "sample":
        return f"random sample of {n:,} variants, seed {run.get('seed')}, sampler {run_sampler(run)}"
    if mode == "ids":
        return f"{n:,} explicit variant ids"
    return f"{mode} of {n:,} positions"


def run_sampler(run: dict[str, Any]) -> int:
    """A run's sampler: runs recorded before the option existed sampled with sampler 1."""
    return run.get("sampler") or 1


def _hash_ids(ids: Sequence[int]) -> str:

    return hashlib.sha256(json.dumps([int(i) for i in ids]).encode()).hexdigest()
