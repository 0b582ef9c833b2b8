"""What the command line tells people: progress in logs and on terminals (within a chunk, on 80
columns), --version, the hint for a batch-included input shape, --plot checked before any work,
--range runs named as ranges, result tables that fit the terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archsweep
from archsweep import _core
from archsweep.cli import main
from archsweep.sweep.executors import ProgressBar

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_the_engine_counts_evaluated_positions():
    # the counter the progress display polls advances by the positions of every call, whatever
    # the order (grid, sample, explicit ids) and for spaces of network ids (conditional variables)
    space = archsweep.Space.load(VGG)
    before = _core.positions_done()
    space.compiled.evaluate("grid", 0, 5000)
    space.compiled.evaluate("sample", 0, 3000, seed=1)
    space.compiled.evaluate("ids", 0, 3, ids=[5, 1, 9])
    assert _core.positions_done() - before == 5000 + 3000 + 3
    nas = archsweep.Space.load(ROOT / "data" / "spaces" / "ofa_mbv3.toml")
    before = _core.positions_done()
    nas.compiled.evaluate("sample", 0, 700, seed=2)
    assert _core.positions_done() - before == 700


def test_progress_moves_within_a_chunk_without_counting_twice():
    space = archsweep.Space.load(VGG)
    bar = ProgressBar(False, 10_000, "sweep vgg")
    assert bar.position() == 0
    space.compiled.evaluate("grid", 0, 4000)  # a chunk still running: its part is not written yet
    assert bar.position() == 4000
    bar.update(4000, kept=4000)  # that chunk finished: counted once
    assert bar.position() == 4000
    bar.update(3000, kept=4000, evaluated=False)  # a part found done (resume): never evaluated here
    assert bar.position() == 7000
    space.compiled.evaluate("grid", 0, 5000)  # more than the total: capped
    assert bar.position() == 10_000


def test_a_progress_line_fits_80_columns_at_any_size():
    buf = io.StringIO()
    bar = ProgressBar("lines", 999_999_999_999_999, "sweep a_space_with_a_very_long_name_that_goes_on_and_on", stream=buf, seconds=3600)
    bar.update(123_456_789_012_345, kept=98_765_432_109_876, evaluated=False)
    bar.t0 = time.perf_counter()  # the run starts evaluating: the display starts
    bar.close()  # a last line
    (line,) = buf.getvalue().splitlines()
    assert len(line) <= 80
    assert re.fullmatch(r"sweep a_space\S*…: 123T/1000T rows 12%  \S+ rows/s  kept 98\.8T  ETA \S+", line), line


def test_the_terminal_bar_fits_80_columns():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    buf = Tty()
    bar = ProgressBar(True, 987_654_321_098, "sweep a_space_with_a_long_name", stream=buf)
    assert bar.mode == "bar"
    bar.update(123_456_789_012, kept=123_456_789_012, evaluated=False)
    bar.t0 = time.perf_counter()
    bar.close()
    lines = [line for line in ANSI.sub("", buf.getvalue()).replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert "123G/988G 12%" in lines[-1] and "ETA" in lines[-1]


def test_a_sweep_in_a_log_prints_progress_lines(tmp_path):
    env = {**os.environ, "ARCHSWEEP_PROGRESS_SECONDS": "0.05"}
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "ds"), "--sample", "200000",
                        "--chunk-rows", "50000"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("sweep vgg: ")]
    assert lines, r.stderr  # stderr is not a terminal: plain lines, at least the last one
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].startswith("sweep vgg: 200k/200k rows 100%")
    assert "\x1b" not in r.stderr  # no terminal control codes in a log
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "quiet"), "--sample", "1000",
                        "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "rows/s" not in r.stderr


def test_a_sweep_without_a_display_does_not_import_the_renderer():
    # archsweep.render (and rich) cost ~70 ms to import: a library call that shows no progress
    # (the Python default) leaves them out of a fresh process; a display brings them in
    code = ("import sys, archsweep; s = archsweep.Space.load({vgg!r}); archsweep.sweep(s, sample=1000, seed=1{extra}); "
            "print('rich' in sys.modules, 'archsweep.render' in sys.modules)")
    for extra, want in [("", "False False"), (", progress=True", "True True")]:
        r = subprocess.run([sys.executable, "-c", code.format(vgg=str(VGG), extra=extra)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[-2] == want, (extra, r.stdout)


def test_a_run_refused_before_any_work_shows_no_progress(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = subprocess.run([sys.executable, "-m", "archsweep", "sweep", str(VGG), "-o", str(tmp_path / "afile"), "--sample", "10"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("archsweep: error: ") and "rows" not in r.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"archsweep {archsweep.__version__}\n"


def test_a_batch_included_input_shape_gets_a_hint(capsys):
    assert main(["analyze", "resnet18", "--input", "1x3x224x224"]) == 2
    err = capsys.readouterr().err
    assert "expects a 4-d input" in err and "got 5-d" in err
    assert err.rstrip().endswith("the input shape is per sample, batch excluded: for a batch of 1, write --input 3x224x224 --batch 1")
    with pytest.raises(archsweep.ShapeError, match=r"write input_shape=\(3, 160, 160\), batch=8$"):
        archsweep.analyze("resnet18", input_shape=(8, 3, 160, 160))
    # a shape that is wrong either way gets no hint
    assert main(["analyze", "resnet18", "--input", "2x3"]) == 2
    assert "batch excluded" not in capsys.readouterr().err


def test_plot_format_is_checked_before_any_output(capsys, tmp_path):
    assert main(["analyze", "resnet18", "--plot", str(tmp_path / "x.pdf")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown plot format '.pdf'" in err


@pytest.fixture(scope="module")
def range_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("range") / "ds"
    archsweep.sweep_to_dataset(VGG, d, grid_range=(1000, 5000), chunk_rows=2000)
    return d


def test_range_runs_are_named_as_ranges(range_run, capsys):
    assert main(["status", str(range_run)]) == 0
    out = capsys.readouterr().out
    assert "grid range [1,000, 5,000) (4,000 variants)" in out and "full grid" not in out
    page = archsweep.sweep_report(range_run)
    assert "grid range [1,000, 5,000) (4,000 variants)" in page and "full grid" not in page


def test_result_tables_fit_the_terminal(range_run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["pareto", str(range_run), "--minimize", "params,macs"]) == 0
    out = capsys.readouterr().out
    assert out and all(len(line) <= 80 for line in out.splitlines()), out
    # the id and the objectives are always shown, exact digits and human units
    header = next(line for line in out.splitlines() if "variant_id" in line)
    assert "params" in header and "macs" in header
    assert re.search(r"not shown \(too wide for 80 columns\): .+; --format csv or json shows every column", " ".join(out.split()))
    front = archsweep.pareto(archsweep.scan(range_run), minimize=["params", "macs"])
    assert f"{front['params'][0]:,}" in out
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["top", str(range_run), "--by", "macs", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "not shown" not in out and "peak_activation_bytes" in out


def test_json_results_carry_every_column(range_run, capsys):
    assert main(["top", str(range_run), "--by", "macs", "-k", "2", "--format", "json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and list(rows[0]) == archsweep.scan(range_run).collect_schema().names()
