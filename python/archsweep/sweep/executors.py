"""Engines: anything shaped like ``concurrent.futures.Executor``, and the progress bar."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
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


#: Seconds between two progress lines when stderr is not a terminal (a batch job's log);
#: ``ARCHSWEEP_PROGRESS_SECONDS`` overrides it.
PROGRESS_SECONDS = 10.0
#: The progress display fits this many columns (a terminal's or a log's).
PROGRESS_WIDTH = 80


def _short(n: float) -> str:
    """``1234567 -> '1.23M'``, ``999999 -> '1000k'``: a count in at most 6 characters (5 below
    10^15)."""
    for size, name in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            v = n / size
            return (f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}") + name
    return f"{n:.0f}"


def _duration(seconds: float) -> str:
    """``4000 -> '1h06m'``, ``75 -> '1m15s'``, ``9 -> '9s'``."""
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class ProgressBar:
    """A sweep's progress on stderr: a rich bar on a terminal; elsewhere (a batch job's log) one
    plain line every :data:`PROGRESS_SECONDS`: rows done of the total, rate, rows kept and ETA.

    Progress moves within a chunk: the Rust engine counts the positions it has evaluated as each
    piece of a chunk finishes (``_core.positions_done``, one atomic add per piece), and the
    display adds the part of that count that finished chunks do not account for yet. (Chunks
    evaluated in other processes, with the dask engine, show when they finish.)

    ``enabled``: False (nothing), True (a bar on a terminal, lines otherwise), "bar" or "lines"."""

    def __init__(self, enabled: bool | str, total: int, label: str, stream: Any = None, seconds: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.label = total, label
        self.done = 0        # rows of finished chunks (evaluated or found done)
        self.counted = 0     # rows of finished chunks that this process's engine evaluated
        self.kept = 0
        self.base = _core.positions_done()
        self._t0 = time.perf_counter()
        self._done_at_t0 = 0
        if enabled is True:
            isatty = getattr(self.stream, "isatty", None)
            enabled = "bar" if isatty is not None and isatty() else "lines"
        self.mode = enabled or None
        if self.mode:
            # (archsweep.render, and rich with it, is imported only for a display: ~70 ms of a
            # fresh process's first sweep)
            from archsweep.render import printable

            self.label = printable(label)  # a space's name is text from a file
        if seconds is None:
            try:
                seconds = float(os.environ.get("ARCHSWEEP_PROGRESS_SECONDS", PROGRESS_SECONDS))
            except ValueError:  # a mistyped setting does not stop a sweep
                seconds = PROGRESS_SECONDS
            seconds = seconds if seconds > 0 else PROGRESS_SECONDS
        self.seconds = seconds
        self.bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        """Show the display: when the run starts evaluating (``t0`` is set), so that a run
        refused before any work (a bad directory, an option) shows none."""
        if self._thread is not None or self._stop.is_set():
            return
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}", markup=False, style="bold"), BarColumn(bar_width=16),
                TextColumn("{task.fields[text]}", markup=False),
                console=Console(file=self.stream), refresh_per_second=4, auto_refresh=True,
            )
            self.task = self.bar.add_task(self._title(PROGRESS_WIDTH - 16 - 48), total=max(self.total, 1), text=self.text())
            self.bar.start()
            self._thread = threading.Thread(target=self._poll, args=(0.25,), name="archsweep-progress", daemon=True)
            self._thread.start()
        elif self.mode == "lines":
            self._thread = threading.Thread(target=self._poll, args=(self.seconds,), name="archsweep-progress", daemon=True)
            self._thread.start()

    @property
    def t0(self) -> float:
        return self._t0

    @t0.setter
    def t0(self, value: float) -> None:
        """The rate is measured from here (after starting a cluster, after resumed chunks)."""
        self._t0 = value
        self._done_at_t0 = self.position()
        self._start()

    def _title(self, width: int) -> str:
        return self.label if len(self.label) <= width else self.label[: max(width - 1, 1)] + "…"

    def position(self) -> int:
        """Rows done: finished chunks, plus what the engine evaluated of chunks still running."""
        running = _core.positions_done() - self.base - self.counted
        return min(self.total, self.done + max(running, 0))

    def text(self, unit: str = "") -> str:
        """``524k/1.05M 50%  1.23M/s  kept 524k  ETA 4s`` (rows done of the total; ``kept``: rows
        of finished chunks that the filter kept)."""
        pos = self.position()
        dt = time.perf_counter() - self._t0
        rate = (pos - self._done_at_t0) / dt if dt > 0 else 0.0
        pct = 100.0 * pos / self.total if self.total else 100.0
        eta = _duration((self.total - pos) / rate) if rate > 0 else "?"
        return f"{_short(pos)}/{_short(self.total)}{unit} {pct:.0f}%  {_short(rate)}{unit}/s  kept {_short(self.kept)}  ETA {eta}"

    def line(self) -> str:
        """One progress line of at most :data:`PROGRESS_WIDTH` columns:
        ``sweep vgg: 524k/1.05M rows 50%  1.23M rows/s  kept 524k  ETA 4s``."""
        text = self.text(" rows")
        return f"{self._title(PROGRESS_WIDTH - len(text) - 2)}: {text}"

    def _poll(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self._show()

    def _show(self) -> None:
        if self.mode == "bar" and self.bar is not None:
            self.bar.update(self.task, completed=self.position(), text=self.text())
        elif self.mode == "lines":
            print(self.line(), file=self.stream, flush=True)

    def update(self, advanced: int, kept: int, evaluated: bool = True) -> None:
        """A chunk of ``advanced`` rows finished (``evaluated``: by this process's engine; False
        for a part found already done); ``kept`` rows so far."""
        self.done += advanced
        if evaluated:
            self.counted += advanced
        self.kept = kept
        if self.mode == "bar":
            self._show()

    def close(self) -> None:
        """Stop; a display that was shown shows where the run ended (a last line in a log)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._show()
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


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
