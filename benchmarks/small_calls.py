"""Small calls' latency: ``sweep(space, ids=[k ids])`` for k = 1, 10, 100 (and, where the build
has it, the engine's part of it: ``space.compiled.evaluate_ids``, the rows as one Arrow array,
no DataFrame), ``space.evaluate(id)`` and ``analyze(space.model(id))``, each call with new random
ids (a search loop's candidates) and with the same ids again (warm tables), in microseconds a
call.

    python benchmarks/small_calls.py [SPACE.toml ...]     # default: VGG and ResNet of data/spaces

New ids: the median call of a time-bounded run; the same ids: the best of 5 runs' means. The
engine's tables are warmed first by a sample of 10^5, and the first calls of a process are
left out (a warm-up of 100 calls). Runs on builds without
``Space.evaluate`` too (that row is then left out), so that builds can be compared."""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import archsweep

ROOT = Path(__file__).resolve().parents[1]


def median_call(fn, args, budget: float = 1.0) -> float:
    times = []
    start = time.perf_counter()
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t)
        if len(times) >= 20 and time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def quiet(fn):
    """fn, with a variant its constraints reject (an error) counted as a call like any other."""
    def call(a):
        try:
            fn(a)
        except archsweep.ArchsweepError:
            pass
    return call


def best_mean(fn, arg, calls: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def bench_space(path: Path) -> str:
    space = archsweep.Space.load(path)
    rng = random.Random(1)

    def fresh(k: int, n: int) -> list[list[int]]:
        return [[rng.randrange(space.size) for _ in range(k)] for _ in range(n)]

    def sweep(ids: list[int]) -> None:
        archsweep.sweep(space, ids=ids)

    # warm-up: the engine's tables (a search loop's later calls find them filled) and the calls
    archsweep.sweep(space, sample=min(space.size, 100_000), seed=2)
    for ids in fresh(1, 100):
        sweep(ids)
    out = [f"{path.stem}:"]
    for k in (1, 10, 100):
        new = median_call(sweep, fresh(k, 3000))
        same = best_mean(sweep, fresh(k, 1)[0], 200)
        out.append(f"sweep {k} ids {new * 1e6:.0f} / {same * 1e6:.0f}")
        if hasattr(space.compiled, "evaluate_ids"):  # of which the engine's call (rows to one Arrow array)
            new = median_call(space.compiled.evaluate_ids, fresh(k, 3000))
            same = best_mean(space.compiled.evaluate_ids, fresh(k, 1)[0], 200)
            out[-1] += f" (engine {new * 1e6:.0f} / {same * 1e6:.0f})"
    if hasattr(space, "evaluate"):
        new = median_call(quiet(space.evaluate), [i[0] for i in fresh(1, 20000)])
        same = best_mean(quiet(space.evaluate), fresh(1, 1)[0][0], 2000)
        out.append(f"evaluate {new * 1e6:.1f} / {same * 1e6:.1f}")
    analyze = quiet(lambda i: archsweep.analyze(space.model(i)))
    new = median_call(analyze, [i[0] for i in fresh(1, 3000)])
    same = best_mean(analyze, fresh(1, 1)[0][0], 200)
    out.append(f"analyze(model) {new * 1e6:.0f} / {same * 1e6:.0f}")
    return "  ".join(out) + "  (us a call: new ids / same ids)"


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]] or [ROOT / "data" / "spaces" / f"{n}.toml" for n in ("vgg", "resnet")]
    for path in paths:
        print(bench_space(path), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
