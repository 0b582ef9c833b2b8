"""Terminal rendering of reports (rich). Statistics live in `analysis`; this only formats."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

import polars as pl
from rich.console import Console
from rich.table import Table

from archsweep.analysis import Report
from archsweep.units import commas, human_count, mb, mib


def console(stream: TextIO | None = None) -> Console:
    stream = stream or sys.stdout
    width = None if stream.isatty() else max(shutil.get_terminal_size((140, 20)).columns, 140)
    return Console(file=stream, width=width, highlight=False)


def _shape(dims: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def layer_table(report: Report) -> Table:
    t = Table(title=f"{report.name} — input {_shape(list(report.input_shape))}, {report.dtype}", title_justify="left")
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
            row["name"], row["op"], _shape(row["output_shape"]), commas(row["params"]),
            commas(row["macs"]), commas(row["other_ops"]), act,
        )
    return t


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
        c.print(f"[bold]{report.name}[/] — input {_shape(list(report.input_shape))}, {report.dtype}; formulas per layer:")
        for line in report.explain():
            c.print(line, soft_wrap=True, markup=False)
        c.print()
        for row in params_by_op(report).iter_rows(named=True):
            c.print(f"all {row['op']} ({row['layers']} layers): params {commas(row['params'])}, MACs {commas(row['macs'])}", markup=False)
        c.print()
    else:
        c.print(layer_table(report))
    c.print(totals_table(report))
