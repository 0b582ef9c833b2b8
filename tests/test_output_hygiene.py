"""Text from files and datasets is printed as written, never interpreted: no escape sequence
reaches the terminal, no newline starts a fake row, no rich markup is rendered — in every table
and line the commands print (analyze, space, sweep, top, pareto, query, status, verify, zoo) and in
error messages."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import archsweep
from archsweep.cli import main
from archsweep.render import cell, printable

ESC = "\x1b"
# a name that would colour the terminal red, start a fake table row, and be read as rich markup
EVIL = "ev\x1b[31mil\n[bold red]x[/]\u202e"
SHOWN = "ev\\x1b[31mil\\n[bold red]x[/]\\u202e"
EVIL_SPEC = {
    "name": EVIL,
    "input": [3, 8, 8],
    "variables": {"tag": ["plain", EVIL], "w": [4, 8]},
    "layers": [{"name": "conv" + EVIL, "op": "conv2d", "out_channels": "=w", "kernel_size": 1}],
}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean(text: str, shown: str = SHOWN) -> None:
    assert ESC not in text and "\u202e" not in text, repr(text)
    assert shown in text, f"{shown!r} not in {text!r}"
    for line in text.splitlines():
        assert not line.lstrip("│┃ ").startswith(("[bold red]x", "[b]x")), "a newline in a name started a row"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hygiene")
    model = d / "evil.json"
    model.write_text(json.dumps({"name": EVIL, "input": [3, 8, 8],
                                 "layers": [{"name": EVIL, "op": "relu"}, {"name": "[bold]b[/]", "op": "relu"}]}),
                     encoding="utf-8")
    spec = d / "evil_spec.json"
    spec.write_text(json.dumps(EVIL_SPEC), encoding="utf-8")
    ds = d / "ds"
    archsweep.sweep_to_dataset(archsweep.Space(EVIL_SPEC), ds, chunk_rows=2)
    return {"model": model, "spec": spec, "ds": ds, "dir": d}


def test_printable_escapes_every_control_character():
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F),
                                 *range(0x2066, 0x206A), 0x2028, 0x2029]))
    out = printable("a" + controls + "é€ü日本")
    assert out.isprintable() and out.endswith("é€ü日本")
    assert printable("\x1b[31m\n\t\r") == "\\x1b[31m\\n\\t\\r"
    assert printable("\u202e") == "\\u202e"
    assert cell("[bold]x[/]").plain == "[bold]x[/]"


def test_analyze_table(files, capsys):
    code, out, _ = run(capsys, "analyze", str(files["model"]))
    assert code == 0
    assert_clean(out)
    assert "[bold]b[/]" in out  # markup shown as written, not rendered


def test_analyze_explain(files, capsys):
    code, out, _ = run(capsys, "analyze", str(files["model"]), "--explain")
    assert code == 0
    assert_clean(out)


def test_analyze_table_to_a_file(files, capsys, tmp_path):
    code, _, _ = run(capsys, "analyze", str(files["model"]), "-o", str(tmp_path / "t.txt"))
    assert code == 0
    assert_clean((tmp_path / "t.txt").read_text(encoding="utf-8"))


def test_analyze_error_message(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input": [3, 4, 4], "layers": [{"name": EVIL, "op": "conv2d", "out_channels": 4,
                                                              "kernel_size": 9}]}), encoding="utf-8")
    code, _, err = run(capsys, "analyze", str(bad))
    assert code == 2
    assert_clean(err)
    assert err.count("\n") == 1


def test_space(files, capsys):
    code, out, _ = run(capsys, "space", str(files["spec"]))
    assert code == 0
    assert_clean(out)


def test_sweep_summary(files, capsys, tmp_path):
    code, _, err = run(capsys, "sweep", str(files["spec"]), "-o", str(tmp_path / "o"))
    assert code == 0
    assert_clean(err)


@pytest.mark.parametrize("args", [["top", "--by", "macs"], ["pareto"], ["query", "SELECT tag, macs FROM sweep"]],
                         ids=["top", "pareto", "query"])
def test_dataset_tables(files, capsys, args):
    code, out, _ = run(capsys, args[0], str(files["ds"]), *args[1:])
    assert code == 0
    assert_clean(out)


def test_cut_tables(files, capsys):
    """A table cut to --rows rows keeps its first and last rows, escaped as ever, and says how
    many it left out."""
    code, out, _ = run(capsys, "query", str(files["ds"]), "SELECT tag, macs FROM sweep ORDER BY variant_id", "--rows", "2")
    assert code == 0
    assert_clean(out)
    assert "2 of 4 rows not shown (the first 1 and the last 1 are): --rows all shows every one" in out
    assert sum(line.replace("│", " ").split() == ["…", "…"] for line in out.splitlines()) == 1
    code, out, _ = run(capsys, "analyze", str(files["model"]), "--depth", "1", "--rows", "1")
    assert code == 0
    assert_clean(out)
    assert "1 of 2 groups not shown (the first 1 and the last 0 are)" in out and "[bold]b[/]" not in out


@pytest.mark.parametrize("names, bulk", [
    (["conv1", "relu", "fc"], True),
    ([EVIL, "[bold]b[/]", "日本語の層", "é" * 3], True),  # escaped, markup as written, wide characters
    (["x" * 200, "y"], False),  # wider than the console: rich wraps the cell, and lays out every row
], ids=["plain", "escaped-and-wide", "too-wide"])
def test_rows_in_bulk_are_the_rows_rich_lays_out(names, bulk, monkeypatch):
    """A table's rows padded in bulk (print_rows) are byte for byte the rows rich lays out; where
    rich would wrap a cell, rich lays out the table itself."""
    import io

    from archsweep import render

    model = {"name": "m", "input": [4], "layers": [{"name": n, "op": "relu"} for n in names]}
    rows = render.layer_table(archsweep.analyze(model))
    laid_out: list[int] = []
    table = render.Rows.table
    monkeypatch.setattr(render.Rows, "table", lambda self, r: laid_out.append(len(r)) or table(self, r))
    fast, full = io.StringIO(), io.StringIO()
    render.print_rows(render.console(fast), rows)
    render.console(full).print(table(rows, rows.cells))
    assert fast.getvalue() == full.getvalue()
    assert laid_out == ([1] if bulk else [1, len(names)])  # the widest row only, or every row as well


def test_status(files, capsys):
    code, out, _ = run(capsys, "status", str(files["ds"]))
    assert code == 0
    assert_clean(out)


def test_verify_and_status_name_a_stray_file(files, capsys, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(files["ds"], ds)
    (ds / "stray\x1b[31m\n[b]x\u202e").write_text("x")  # a file name holds no "/"
    code, out, _ = run(capsys, "verify", str(ds))
    assert code == 1
    assert_clean(out, "stray\\x1b[31m\\n[b]x\\u202e")
    code, out, _ = run(capsys, "status", str(ds))
    assert_clean(out, "stray\\x1b[31m\\n[b]x\\u202e")


def test_zoo(capsys, monkeypatch):
    from archsweep import zoo

    row = {"model": EVIL, "family": "[red]fam[/]", "resolution": 224, "params": 1, "gmacs": 0.1, "weights_mib": 0.0,
           "weights_mb": 0.0}
    monkeypatch.setattr(zoo, "table", lambda: pl.DataFrame([row]))
    code, out, _ = run(capsys, "zoo")
    assert code == 0
    assert_clean(out)
    assert "[red]fam[/]" in out


def test_csv_and_json_keep_the_text(files, capsys):
    """Data formats carry the name as it is (JSON escapes it; a CSV quotes it): only what is
    printed for people is escaped."""
    code, out, _ = run(capsys, "analyze", str(files["model"]), "--format", "json")
    assert code == 0
    assert json.loads(out)["layers"][0]["name"] == EVIL


def test_the_styles_still_apply(files, capsys, monkeypatch):
    """On a terminal the space's name is bold and the table is drawn; the name is still escaped."""
    import io

    from archsweep import render

    buf = io.StringIO()
    buf.isatty = lambda: True  # type: ignore[method-assign]
    c = render.console(buf)
    c.force_terminal = True
    c.print(render.line((EVIL, "bold"), ": rest"))
    text = buf.getvalue()
    assert "\x1b[1m" in text  # rich's bold
    assert SHOWN in text and "\x1b[31m" not in text
