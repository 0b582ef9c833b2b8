"""`summary`: torchinfo's one-line habit, ``summary(model, input_size=(1, 3, 224, 224), depth=2)``,
on archsweep's exact counts.

The table is torchinfo's layout: one row per module down to ``depth`` levels of the layers'
dotted names (``layer1.0.conv1`` is at depth 3), each container's rows indented under it with
``├─`` and ``│    └─``; a container shown with its children has ``--`` in its own row, and a row
at the depth limit holds the sums of every layer beneath it, so the rows that show numbers add
up to the totals. Then the totals: params, trainable and non-trainable params, mult-adds (MACs,
torchinfo's "mult-adds"; FLOPs = 2 × MACs) and sizes in MB (10^6 bytes, as torchinfo prints).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from archsweep import _core, checks
from archsweep.analysis import Report, _as_model, run_analysis
from archsweep.model import Model

#: Width of the table (torchinfo's default layout is 90 columns; this one has a MACs column too).
WIDTH = 100
_COLUMNS = (40, 24, 16, 20)  # layer, output shape, params, MACs


@dataclass
class Summary:
    """What :func:`summary` printed: ``text``, the shown ``rows`` (a polars DataFrame: ``name``,
    ``label``, ``level``, ``op``, ``layers``, ``output_shape``, ``params``, ``macs``, ``shown``
    (False for a container row printed as ``--``)) and the full :class:`Report` (``report``:
    per-layer rows and every total)."""

    text: str
    rows: pl.DataFrame
    report: Report

    @property
    def totals(self) -> dict[str, int]:
        return self.report.totals

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def _input(model: Model, input_size: Sequence[int] | None, batch: int | None) -> tuple[list[int] | None, int]:
    """(per-sample shape or None for the model's own, batch) of torchinfo's ``input_size``: a
    batch-included size, as torchinfo takes it (``(1, 3, 224, 224)``), or a per-sample one
    (``(3, 224, 224)``) when it has the rank of the model's own input."""
    if input_size is None:
        return None, 1 if batch is None else batch
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence):
        raise checks.ArgumentTypeError(f"input_size must be a sequence of positive ints such as (1, 3, 224, 224), got {checks.show(input_size)}")
    dims = [checks.integer(d, f"input_size[{i}]", low=1, high=checks.U64_MAX) for i, d in enumerate(input_size)]
    rank = len(model.input) if isinstance(model.input, (list, tuple)) else None
    if rank is not None and len(dims) == rank:
        return dims, 1 if batch is None else batch  # per sample (batch excluded)
    if len(dims) < 2:
        raise _core.ArchsweepError(f"input_size {tuple(dims)}: expected the batch and the per-sample shape, e.g. (1, 3, 224, 224)")
    if batch is not None and batch != dims[0]:
        raise _core.ArchsweepError(f"input_size {tuple(dims)} says batch {dims[0]}, batch= says {batch}")
    return dims[1:], dims[0]


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def summary(
    model: Model | str | Path | dict,
    input_size: Sequence[int] | None = None,
    depth: int = 3,
    *,
    batch: int | None = None,
    dtype: str = "fp32",
    verbose: int = 1,
    file: TextIO | None = None,
) -> Summary:
    """Print ``model``'s torchinfo-style summary and return it (a :class:`Summary`).

    ``model``: a :class:`Model`, a dict, a model file's path or a zoo model's name (as for
    :func:`archsweep.analyze`). ``input_size``: batch included, as torchinfo takes it
    (``(1, 3, 224, 224)``), or per sample when it has the rank of the model file's ``input``;
    None: the model's own input, batch 1. ``depth``: how many levels of dotted layer names get
    rows (torchinfo's ``depth``; default 3, as torchinfo's). ``verbose=0`` prints nothing
    (torchinfo's ``verbose``); ``file``: where to print (default stdout)."""
    depth = checks.integer(depth, "depth", low=1, high=1 << 16)
    verbose = checks.integer(verbose, "verbose", low=0, high=2)
    m = _as_model(model)
    shape, b = _input(m, input_size, batch)
    report = run_analysis(m, shape, b, dtype, "adam")
    rows = _rows(report, depth)
    text = _text(report, rows)
    if verbose:
        print(text, file=file or sys.stdout)
    return Summary(text=text, rows=rows, report=report)


def _rows(report: Report, depth: int) -> pl.DataFrame:
    """The tree rows: every prefix of up to ``depth`` parts of the layer names, parents before
    their children, in the order the layers come."""
    names: list[str] = report.layers["name"].to_list()
    parts = [n.split(".") for n in names]
    groups = {lvl: {r["name"]: r for r in report.grouped(lvl).iter_rows(named=True)} for lvl in range(1, depth + 1)}
    parents = {".".join(p[:lvl]) for p in parts for lvl in range(1, min(len(p) - 1, depth - 1) + 1)}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for p in parts:
        for lvl in range(1, min(len(p), depth) + 1):
            prefix = ".".join(p[:lvl])
            if prefix in seen:
                continue
            seen.add(prefix)
            g = groups[lvl][prefix]
            what = g["op"] if g["op"] != "block" else f"block of {g['layers']}"
            label = ("├─" if lvl == 1 else "│    " * (lvl - 1) + "└─") + f"{p[lvl - 1]}: {what}"
            out.append({"name": prefix, "label": label, "level": lvl, "op": g["op"], "layers": g["layers"],
                        "output_shape": g["output_shape"], "params": g["params"], "macs": g["macs"],
                        "shown": prefix not in parents})
    return pl.DataFrame(out, schema={"name": pl.String, "label": pl.String, "level": pl.Int64, "op": pl.String,
                                     "layers": pl.Int64, "output_shape": pl.List(pl.UInt64), "params": pl.Int64,
                                     "macs": pl.Int64, "shown": pl.Boolean})


def _cell(text: str, width: int, right: bool = False) -> str:
    if len(text) > width - 1:
        text = text[: width - 2] + "…"
    return text.rjust(width - 1) + " " if right else text.ljust(width)


def _text(report: Report, rows: pl.DataFrame) -> str:
    t = report.totals
    w = _COLUMNS
    rule, thin = "=" * WIDTH, "-" * WIDTH
    shape = lambda dims: "[" + ", ".join(str(d) for d in dims) + "]"  # noqa: E731
    lines = [rule, _cell("Layer (name: op)", w[0]) + _cell("Output Shape", w[1]) + _cell("Param #", w[2], True) + _cell("Mult-Adds", w[3], True),
             rule]
    out_shape = report.layers["output_shape"][-1].to_list()
    lines.append(_cell(report.name, w[0]) + _cell(shape(out_shape), w[1]) + _cell("--", w[2], True) + _cell("--", w[3], True))
    for r in rows.iter_rows(named=True):
        params = f"{r['params']:,}" if r["shown"] else "--"
        macs = f"{r['macs']:,}" if r["shown"] else "--"
        lines.append(_cell(r["label"], w[0]) + _cell(shape(r["output_shape"]), w[1]) + _cell(params, w[2], True) + _cell(macs, w[3], True))
    buffers = f" (+ {t['buffers']:,} buffer elements, not params)" if t["buffers"] else ""
    lines += [
        rule,
        f"Total params: {t['params']:,}{buffers}",
        f"Trainable params: {t['trainable_params']:,}",
        f"Non-trainable params: {t['params'] - t['trainable_params']:,}",
        f"Total mult-adds (G): {t['macs'] / 1e9:.2f} ({t['macs']:,} MACs; FLOPs = 2 x MACs = {t['flops']:,})",
        rule,
        f"Input size (MB): {_mb(t['input_bytes'])}",
        f"Activations, every layer's output (MB): {_mb(t['activation_bytes'])} (peak live: {_mb(t['peak_activation_bytes'])})",
        f"Params size (MB): {_mb(t['weight_bytes'])} ({report.dtype}); buffers (MB): {_mb(t['buffer_bytes'])}",
        f"Estimated total size (MB): {_mb(t['input_bytes'] + t['activation_bytes'] + t['weight_bytes'] + t['buffer_bytes'])}",
        thin,
        f"input {shape(list(report.input_shape))} (batch {report.batch}); archsweep's counts, inference only "
        "(docs/peers.md maps them to torchinfo's)",
        rule,
    ]
    return "\n".join(line.rstrip() for line in lines)
