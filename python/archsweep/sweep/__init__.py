"""Sweeps: evaluate many variants of a space in Rust and write/read them as Parquet.

A run covers *positions* 0..n: in grid mode position = variant id; with ``sample=N`` position k
is the k-th id of a seeded permutation of all ids (sampling without replacement: the same seed
gives the same ids on any machine, with any thread count); with ``ids=[...]`` position k is
``ids[k]``. Positions are cut into fixed chunks; chunk k is written as
``part-<k>.parquet`` (under a temporary name first, fsynced, linked into place when complete) and
recorded in the manifest ``_manifest.parquet`` with its size and checksums, so ``resume`` redoes only
what is missing or damaged and never duplicates a variant id.

Every chunk of a dataset is computed by :func:`run_chunk`, a plain function submitted to a
``concurrent.futures.Executor``: the local engine (this process, rayon threads) or Dask's
``Client.get_executor()``. Only the coordinating process (the one that called
:func:`sweep_to_dataset`) writes the manifest, from the entries ``run_chunk`` returns.

The modules: :mod:`.plan` (positions, chunks, the run table), :mod:`.chunk` (one chunk, part
files), :mod:`.executors` (local and Dask engines), :mod:`.layout` (file names, the manifest,
durable writes, temporary files), :mod:`.verify` (checking parts and directories), :mod:`.dataset`
(writing a dataset, resume, status), :mod:`.run` (:func:`sweep` and :func:`sweep_to_dataset`),
:mod:`.results` (scan, top_k, pareto, query).
"""

from archsweep.metrics import NAMES
from archsweep.sweep.chunk import PARQUET_OPTIONS, run_chunk
from archsweep.sweep.dataset import sweep_status
from archsweep.sweep.executors import DASK_RETRIES, ENGINES, LOCAL_WORKERS, MAX_PENDING, LocalExecutor, dask_executor
from archsweep.sweep.layout import FORMAT, LEGACY_MANIFEST, MANIFEST, read_manifest
from archsweep.sweep.plan import (
    DEFAULT_CHUNK,
    DEFAULT_MAX_GRID,
    MAX_IDS,
    SAMPLERS,
    SMALL_IDS,
    DtypeName,
    Engine,
    OptimizerName,
    Sampler,
    SweepSummary,
    run_sampler,
)
from archsweep.sweep.results import pareto, query, scan, top_k
from archsweep.sweep.run import sweep, sweep_to_dataset
from archsweep.sweep.verify import Problem, verify_dataset

#: Metric columns of a sweep table, in column order (stable names; see README "Sweep columns").
METRICS: list[str] = list(NAMES)

__all__ = [
    "DASK_RETRIES", "DEFAULT_CHUNK", "DEFAULT_MAX_GRID", "ENGINES", "FORMAT", "LEGACY_MANIFEST", "LOCAL_WORKERS", "MANIFEST",
    "MAX_IDS", "MAX_PENDING", "METRICS", "PARQUET_OPTIONS", "SAMPLERS", "SMALL_IDS", "DtypeName", "Engine", "LocalExecutor",
    "OptimizerName", "Problem", "Sampler", "SweepSummary", "dask_executor", "pareto", "query", "read_manifest", "run_chunk",
    "run_sampler", "scan", "sweep", "sweep_status", "sweep_to_dataset", "top_k", "verify_dataset",
]
