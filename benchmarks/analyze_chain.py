"""`analyze` of a long chain of layers: the API call and its parts, and the CLI's outputs.

    python benchmarks/analyze_chain.py [LAYERS ...]     # default: 100000

For each size, a chain of relu layers on an input of 8 values (``{"op": "relu"}`` each, named
relu_1 ... by the core): the best of 3 runs, wall and CPU seconds, of

- ``api``: ``archsweep.analyze(model_dict)`` (the model check, JSON, the core, the table);
- ``model check + JSON``: ``Model.to_json()`` alone (the Python side before the core);
- ``core``: ``_core.analyze_json(text)`` alone (parse, analyze, the Arrow layer table);
- ``table``, ``table, all rows``, ``--explain``, ``csv``: rendering the result as
  ``archsweep analyze`` prints it (the terminal table with its default row limit and with
  ``--rows all``, the formulas, the CSV text), into memory, not a terminal;
- ``cli table``, ``cli csv``: the command ``archsweep analyze chain.json [--format csv]`` in a
  subprocess, start-up included (one run; output to a pipe, read and dropped).
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archsweep
from archsweep import _core
from archsweep.analysis import Report
from archsweep.model import Model
from archsweep.render import print_report


def best(fn, runs: int = 3) -> tuple[float, float]:
    """The least wall time and the least CPU time of ``runs`` calls (on a loaded machine the CPU
    time is the steadier number)."""
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def render(report: Report, **kw) -> None:
    print_report(report, stream=io.StringIO(), **kw)


def command(args: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``archsweep ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archsweep", *args], check=True, stdout=subprocess.PIPE)
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench(n: int) -> list[tuple[str, tuple[float, float]]]:
    model = {"name": "chain", "input": [8], "layers": [{"op": "relu"} for _ in range(n)]}
    text = Model.from_dict(model).to_json()
    report = archsweep.analyze(model)
    rows = [
        ("api", best(lambda: archsweep.analyze(model))),
        ("model check + JSON", best(lambda: Model.from_dict(model).to_json())),
        ("core", best(lambda: _core.analyze_json(text))),
        ("table", best(lambda: render(report))),
    ]
    rows += [
        ("table, all rows", best(lambda: render(report, max_rows=None), runs=1)),
        ("--explain", best(lambda: render(report, explain=True), runs=1)),
        ("csv", best(lambda: report.flat_layers().write_csv())),
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "chain.json"
        path.write_text(json.dumps(model))
        rows += [("cli table", command(["analyze", str(path)])), ("cli csv", command(["analyze", str(path), "--format", "csv"]))]
    return rows


def main(sizes: list[int]) -> None:
    print(f"{'layers':>8}  {'what':<20} {'wall s':>8} {'cpu s':>8}")
    for n in sizes:
        for what, (wall, cpu) in bench(n):
            print(f"{n:>8,}  {what:<20} {wall:>8.3f} {cpu:>8.3f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000])
