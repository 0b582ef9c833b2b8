"""Terminal rendering of reports (rich). Statistics live in `analysis`; this only formats."""

from __future__ import annotations

import errno
import shutil
import sys
from typing import TextIO

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archsweep.analysis import Report
from archsweep.units import commas, human_count, mb, mib

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


def layer_table(report: Report) -> Table:
    t = Table(title=cell(f"{report.name} — input {_shape(list(report.input_shape))}, {report.dtype}"), title_justify="left")
    t.add_column("layer")
    t.add_column("op")
    t.add_column("output shape")
    t.add_column("params", justify="right")
    t.add_column("MACs", justify="right")
    t.add_column("other ops", justify="right")
    t.add_column("activations", justify="right")
    for row in report.layers.iter_rows(named=True):
        act = "view" if row["is_view"] else mib(row["activation_bytes"])
        t.add_row(
            cell(row["name"]), cell(row["op"]), _shape(row["output_shape"]), commas(row["params"]),
            commas(row["macs"]), commas(row["other_ops"]), act,
        )
    return t


def group_table(report: Report, groups: pl.DataFrame, depth: int) -> Table:
    """The rows of :meth:`Report.grouped`: one per group of layers, counts summed."""
    t = Table(title=cell(f"{report.name} — input {_shape(list(report.input_shape))}, {report.dtype}; layers grouped "
                         f"by name to depth {depth}"), title_justify="left")
    for name, justify in (("group", "left"), ("op", "left"), ("layers", "right"), ("output shape", "left"), ("params", "right"),
                          ("MACs", "right"), ("other ops", "right"), ("activations", "right")):
        t.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in groups.iter_rows(named=True):
        t.add_row(
            cell(row["name"]), cell(row["op"]), commas(row["layers"]), _shape(row["output_shape"]), commas(row["params"]),
            commas(row["macs"]), commas(row["other_ops"]), mib(row["activation_bytes"]),
        )
    return t


def print_grouped(report: Report, groups: pl.DataFrame, depth: int, stream: TextIO | None = None) -> None:
    c = console(stream)
    c.print(group_table(report, groups, depth))
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
    size(f"training estimate ({report.optimizer})", "train_bytes")
    return t


def params_by_op(report: Report) -> pl.DataFrame:
    return (
        report.layers.group_by("op", maintain_order=True)
        .agg(pl.len().alias("layers"), pl.col("params").sum(), pl.col("macs").sum())
        .filter(pl.col("params") > 0)
    )


def print_report(report: Report, explain: bool = False, stream: TextIO | None = None) -> None:
    c = console(stream)
    if explain:
        c.print(line((report.name, "bold"), f" — input {_shape(list(report.input_shape))}, {report.dtype}; formulas per layer:"))
        for text in report.explain():
            c.print(cell(text), soft_wrap=True)
        c.print()
        for row in params_by_op(report).iter_rows(named=True):
            c.print(cell(f"all {row['op']} ({row['layers']} layers): params {commas(row['params'])}, MACs {commas(row['macs'])}"))
        c.print()
    else:
        c.print(layer_table(report))
    c.print(totals_table(report))
