"""Terminal rendering of reports (rich). Statistics live in `analysis`; this only formats."""

from __future__ import annotations

import errno
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import polars as pl
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archsweep.analysis import Report
from archsweep.units import TABLE_ROWS, commas, human_count, mb, mib

# Text from files and datasets (layer, model and space names, variable values, error messages,
# file names) is printed as it is written, never interpreted: a control character (an escape
# sequence, a newline that would start a fake row) is shown as a Python-style escape, and rich
# markup in it is not rendered, because it only ever reaches a table or a line as a rich Text.
_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
#: C0 and C1 controls, DEL, and the invisible characters that reorder or break a line (bidi
#: embeddings, overrides and isolates, line and paragraph separators).
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
             0x2028, 0x2029]
_TRANSLATE = {c: _ESCAPES.get(c, f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}


def printable(text: object) -> str:
    """``str(text)`` with every control character escaped (``\\x1b``, ``\\n``): safe to print."""
    return str(text).translate(_TRANSLATE)


def cell(text: object, style: str = "") -> Text:
    """``text`` for a table cell, a title or a line: control characters escaped, no markup."""
    return Text(printable(text), style=style)


def line(*pieces: object) -> Text:
    """One line of output from pieces of plain text and ``(text, style)`` pairs (a bold name):
    every piece goes through :func:`printable`, none is read as markup."""
    out = Text()
    for piece in pieces:
        if isinstance(piece, tuple):
            out.append(printable(piece[0]), style=piece[1])
        else:
            out.append(printable(piece))
    return out


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich exits with status 1 when the reader of its output goes away; the command line
        stops quietly with 0 there, whatever wrote the output (archsweep.cli.main)."""
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def console(stream: TextIO | None = None, width: int | None = None) -> Console:
    """A console for ``stream`` (stdout by default), ``width`` columns wide when it is not a
    terminal (default: the terminal's width, at least 140). Markup is off: what is styled is
    styled with :func:`line` or :func:`cell`."""
    stream = stream or sys.stdout
    if stream.isatty():
        width = None
    elif width is None:
        width = max(shutil.get_terminal_size((140, 20)).columns, 140)
    return _Console(file=stream, width=width, highlight=False, markup=False)


def _shape(dims: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


#: A terminal table shows at most this many rows (``--rows``): a longer one shows its first and
#: last half of them, a row of "…" between, and a line below saying how many are not shown and
#: how to get them all (as polars prints a long frame); a file format (``--format csv``) has
#: every row.
MAX_ROWS = TABLE_ROWS


def shown_rows(frame: pl.DataFrame, max_rows: int | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``(frame, None)`` when it has at most ``max_rows`` rows (or ``max_rows`` is None: all),
    else ``(head, tail)``: its first ``ceil(max_rows / 2)`` and last ``floor(max_rows / 2)`` rows."""
    if max_rows is None or frame.height <= max_rows:
        return frame, None
    return frame.head((max_rows + 1) // 2), frame.tail(max_rows // 2)


def rows_note(total: int, head: int, tail: int, what: str) -> str:
    """The line under a table cut to its first ``head`` and last ``tail`` of ``total`` rows."""
    return (f"{commas(total - head - tail)} of {commas(total)} {what} not shown (the first {commas(head)} and the last "
            f"{commas(tail)} are): --rows all shows every one, --format csv writes them all")


@dataclass
class Rows:
    """A table to print: its title and columns (name, justify), its rows as plain one-line cells
    (escaped with :func:`printable`), and the line saying how many rows were left out, or None."""

    title: str
    columns: list[tuple[str, str]]
    cells: list[list[str]]
    note: str | None

    def table(self, rows: list[list[str]]) -> Table:
        t = Table(title=cell(self.title), title_justify="left")
        for name, justify in self.columns:
            t.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            t.add_row(*(Text(c) for c in r))
        return t


def _cut(frame: pl.DataFrame, max_rows: int | None, what: str, row: Callable[[dict[str, Any]], list[str]]) -> tuple[list[list[str]], str | None]:
    """``frame``'s rows made by ``row``, cut to ``max_rows`` (see :func:`shown_rows`) with a row
    of "…" where rows are left out, and the line saying so (``what`` names the rows)."""
    head, tail = shown_rows(frame, max_rows)
    cells = [row(r) for r in head.iter_rows(named=True)]
    if tail is None:
        return cells, None
    width = len(cells[0]) if cells else len(row(tail.row(0, named=True)))
    cells.append(["…"] * width)
    cells += [row(r) for r in tail.iter_rows(named=True)]
    return cells, rows_note(frame.height, head.height, tail.height, what)


def print_rows(c: Console, rows: Rows) -> None:
    """Print ``rows`` as rich would lay the whole table out, but fast: rich lays out the title,
    the header and one row of each column's widest cell; every row is then that row's layout
    with its own cells, padded in bulk (rich takes ~1 ms a row: minutes for 100,000 layers).
    Where rich's row is not plain padding (a table wider than the console, whose cells rich
    wraps), rich lays out every row itself."""
    if not rows.cells:
        c.print(rows.table([]))
    else:
        widest = [max(column, key=cell_len) for column in zip(*rows.cells)]
        widths = [max(cell_len(name), cell_len(w)) for (name, _), w in zip(rows.columns, widest)]
        right = [justify == "right" for _, justify in rows.columns]

        def line_of(r: list[str]) -> str:
            padded = (" " * (w - cell_len(x)) + x if rj else x + " " * (w - cell_len(x)) for x, w, rj in zip(r, widths, right))
            return "│ " + " │ ".join(padded) + " │"

        with c.capture() as capture:
            c.print(rows.table([widest]))
        lines = capture.get().split("\n")
        if len(lines) >= 5 and lines[-3] == line_of(widest) and not lines[-1] and all(j in ("left", "right") for _, j in rows.columns):
            c.file.write("\n".join(lines[:-3]) + "\n" + "".join(line_of(r) + "\n" for r in rows.cells) + lines[-2] + "\n")
        else:
            c.print(rows.table(rows.cells))
    if rows.note:
        c.print(rows.note, soft_wrap=True)


def layer_table(report: Report, max_rows: int | None = MAX_ROWS) -> Rows:
    """The per-layer table, at most ``max_rows`` rows (None: all)."""

    def row(r: dict[str, Any]) -> list[str]:
        act = "view" if r["is_view"] else mib(r["activation_bytes"])
        return [printable(r["name"]), printable(r["op"]), _shape(r["output_shape"]), commas(r["params"]), commas(r["macs"]),
                commas(r["other_ops"]), act]

    columns = [("layer", "left"), ("op", "left"), ("output shape", "left"), ("params", "right"), ("MACs", "right"),
               ("other ops", "right"), ("activations", "right")]
    return Rows(f"{report.name} — input {_shape(list(report.input_shape))}, {report.dtype}", columns,
                *_cut(report.layers, max_rows, "layers", row))


def group_table(report: Report, groups: pl.DataFrame, depth: int, max_rows: int | None = MAX_ROWS) -> Rows:
    """The rows of :meth:`Report.grouped`: one per group of layers, counts summed (at most
    ``max_rows``, as :func:`layer_table`)."""

    def row(r: dict[str, Any]) -> list[str]:
        return [printable(r["name"]), printable(r["op"]), commas(r["layers"]), _shape(r["output_shape"]), commas(r["params"]),
                commas(r["macs"]), commas(r["other_ops"]), mib(r["activation_bytes"])]

    columns = [("group", "left"), ("op", "left"), ("layers", "right"), ("output shape", "left"), ("params", "right"),
               ("MACs", "right"), ("other ops", "right"), ("activations", "right")]
    return Rows(f"{report.name} — input {_shape(list(report.input_shape))}, {report.dtype}; layers grouped by name to depth "
                f"{depth}", columns, *_cut(groups, max_rows, "groups", row))


def print_grouped(report: Report, groups: pl.DataFrame, depth: int, stream: TextIO | None = None,
                  max_rows: int | None = MAX_ROWS) -> None:
    c = console(stream)
    print_rows(c, group_table(report, groups, depth, max_rows))
    c.print(totals_table(report))


def totals_table(report: Report) -> Table:
    tot = report.totals
    t = Table(title="totals", title_justify="left")
    t.add_column("quantity")
    t.add_column("exact", justify="right")
    t.add_column("MiB / count", justify="right")
    t.add_column("MB", justify="right")

    def count(label: str, key: str) -> None:
        t.add_row(label, commas(tot[key]), human_count(tot[key]), "")

    def size(label: str, key: str) -> None:
        t.add_row(label, f"{commas(tot[key])} B", mib(tot[key]), mb(tot[key]))

    count("params", "params")
    t.add_row("  weights / biases", f"{commas(tot['weight_params'])} / {commas(tot['bias_params'])}", "", "")
    count("  trainable", "trainable_params")
    count("buffers (not params)", "buffers")
    count("MACs (conv, linear, attention)", "macs")
    count("FLOPs (= 2 × MACs)", "flops")
    count("other ops (elementwise, norm, pool)", "other_ops")
    size(f"weights ({report.dtype})", "weight_bytes")
    size("buffers (own dtypes)", "buffer_bytes")
    size(f"input (batch {report.batch})", "input_bytes")
    size(f"activations (all outputs, batch {report.batch})", "activation_bytes")
    size("peak live activations (inference)", "peak_activation_bytes")
    size(f"saved for backward (batch {report.batch})", "saved_bytes")
    size(f"training step ({report.optimizer}: + grads, states)", "train_bytes")
    return t


def params_by_op(report: Report) -> pl.DataFrame:
    return (
        report.layers.group_by("op", maintain_order=True)
        .agg(pl.len().alias("layers"), pl.col("params").sum(), pl.col("macs").sum())
        .filter(pl.col("params") > 0)
    )


def print_report(report: Report, explain: bool = False, stream: TextIO | None = None, max_rows: int | None = MAX_ROWS) -> None:
    """The layer table (at most ``max_rows`` rows, None: all) or, with ``explain``, every
    layer's formula; then the totals."""
    c = console(stream)
    if explain:
        c.print(line((report.name, "bold"), f" — input {_shape(list(report.input_shape))}, {report.dtype}; formulas per layer:"))
        # plain lines, each escaped (a name's newline stays in its line), written at once: printed
        # by rich (as they were, unwrapped and unstyled, so the text is the same) each cost ~0.1-0.2
        # ms (100,000 layers: ~10 s)
        c.file.write("".join(printable(text) + "\n" for text in report.explain()))
        c.print()
        for row in params_by_op(report).iter_rows(named=True):
            c.print(cell(f"all {row['op']} ({row['layers']} layers): params {commas(row['params'])}, MACs {commas(row['macs'])}"))
        c.print()
    else:
        print_rows(c, layer_table(report, max_rows))
    c.print(totals_table(report))
