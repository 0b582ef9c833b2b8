"""Engines: anything shaped like ``concurrent.futures.Executor``, and the progress bar."""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from archsweep import _core

#: Chunks the local engine has in flight when it writes a dataset (one written while the next is
#: evaluated: a pipeline two chunks deep, so peak memory is about two chunks' rows).
LOCAL_WORKERS = 2
#: Chunks submitted to an executor ahead of the ones that completed (bounds scheduler memory).
MAX_PENDING = 256
#: Dask retries a chunk whose task raised this many times (a dead worker's chunks are rescheduled).
DASK_RETRIES = 2
ENGINES = ("local", "dask")


class ProgressBar:
    def __init__(self, enabled: bool, total: int, label: str):
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("kept {task.fields[kept]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                refresh_per_second=4,
            )
            self.task = self.bar.add_task(label, total=total, rate="", kept="0")
            self.bar.start()
        self.t0 = time.perf_counter()
        self.done = 0

    def update(self, advanced: int, kept: int) -> None:
        self.done += advanced
        if self.bar is not None:
            dt = time.perf_counter() - self.t0
            rate = f"{self.done / dt / 1e6:.2f} M variants/s" if dt > 0 else ""
            self.bar.update(self.task, advance=advanced, rate=rate, kept=f"{kept:,}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# --------------------------------------------------------------------------------------------
# Engines: anything shaped like concurrent.futures.Executor


class LocalExecutor(cf.ThreadPoolExecutor):
    """The default engine: chunks run in this process, each evaluated on rayon's threads (the
    Rust core releases the GIL, and so does polars' Parquet writer).

    ``workers`` chunks are in flight at once (default :data:`LOCAL_WORKERS`): while one chunk's
    part file is written the next one is evaluated, so neither waits for the other; the rows held
    in memory are those of at most ``workers`` chunks. Each chunk's rows do not depend on which
    worker computed it, only the order in which parts complete does."""

    def __init__(self, workers: int = 0) -> None:
        super().__init__(max_workers=workers or LOCAL_WORKERS, thread_name_prefix="archsweep-sweep")


@contextmanager
def dask_executor(client: Any = None, scheduler: str | None = None, workers: int | None = None,
                  retries: int = DASK_RETRIES) -> Iterator[cf.Executor]:
    """``client.get_executor(retries=..., pure=False)`` of ``client``, of a new Client of the
    scheduler at ``scheduler`` (``tcp://HOST:PORT``), or of an embedded ``LocalCluster`` (worker
    processes with nannies bound to 127.0.0.1, ``workers`` of them (default 2), one Dask thread
    each). What it started it closes on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise _core.ArchsweepError("the dask engine needs dask.distributed: pip install 'archsweep[dask]'") from None
    owned: list[Any] = []
    try:
        if client is None:
            if scheduler:
                if workers is not None:
                    raise _core.ArchsweepError("--workers starts a local cluster; with --scheduler the cluster's own workers are used")
                try:
                    client = Client(scheduler)
                except (OSError, ValueError) as e:
                    raise _core.ArchsweepError(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from None
                owned.append(client)
            else:
                import logging

                if workers is not None and workers < 1:
                    raise _core.ArchsweepError(f"--workers {workers}: need at least 1")
                cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
                owned.append(cluster)
                client = Client(cluster)
                owned.append(client)
        executor = client.get_executor(retries=retries, pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
    finally:
        for thing in reversed(owned):
            thing.close()


def completed(executor: cf.Executor, calls: list[tuple[Any, Callable, tuple]], window: int = MAX_PENDING) -> Iterator[tuple[Any, cf.Future]]:
    """Submit ``fn(*args)`` for each ``(key, fn, args)``, at most ``window`` ahead, and yield
    ``(key, future)`` as the futures complete; pending ones are cancelled if the caller stops."""
    todo = iter(calls)
    pending: dict[cf.Future, Any] = {}

    def fill() -> None:
        for key, fn, args in todo:
            pending[executor.submit(fn, *args)] = key
            if len(pending) >= window:
                return

    try:
        fill()
        while pending:
            for fut in cf.as_completed(list(pending)):
                yield pending.pop(fut), fut
                if len(pending) < window // 2:
                    fill()
                    break
    finally:
        for fut in pending:
            fut.cancel()
