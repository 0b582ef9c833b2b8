"""Plots: the density of a sweep dataset with its Pareto front, and one model's per-layer shares.

A density plot never draws points. The (x, y) plane is cut into bins, polars counts the rows of
every bin (or aggregates a colour column) in one streaming group-by, and matplotlib draws at most
``bins × bins`` cells plus the front — so 10^7 rows cost a scan, not 10^7 markers. Figures are
built with matplotlib's object API (no pyplot, no display: Agg for PNG, the SVG backend for SVG).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import polars as pl
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from archsweep import _core, checks
from archsweep.checks import ArgumentTypeError, optional_integer, optional_text, show, text
from archsweep.metrics import BYTES_COLUMNS, COUNT_COLUMNS, LABELS
from archsweep.units import axis_unit

if TYPE_CHECKING:
    from matplotlib.patches import Patch

    from archsweep.analysis import Report

#: What a sweep plot reads: a sweep directory, a LazyFrame or a DataFrame.
SweepSource = str | Path | pl.LazyFrame | pl.DataFrame

#: A column spanning more decades than this gets a log axis (unless told otherwise).
LOG_DECADES = 1.5
DPI = 110
FORMATS = (".png", ".svg", ".html")
#: How ``color`` summarises a bin's rows.
AGGREGATIONS = ("mean", "min", "max", "median")
#: The most bins per axis (a plot of bins × bins cells).
MAX_BINS = 2000


def wants_log(lo: float, hi: float, force: bool | None = None) -> bool:
    """Log axis for values in [lo, hi]: ``force`` if given, else when all are positive and they
    span more than ``LOG_DECADES`` decades."""
    if force is not None:
        return force
    return lo > 0 and math.log10(hi / lo) > LOG_DECADES


def _plain() -> FuncFormatter:
    return FuncFormatter(lambda v, _: f"{v:g}")  # 0.1, 1, 10, 100 rather than 10^-1 … 10^2


@dataclass(frozen=True)
class Axis:
    """One plotted column: its name, value range, log or linear, and display unit."""

    column: str
    lo: float
    hi: float
    log: bool
    divisor: int
    label: str

    @classmethod
    def of(cls, column: str, lo: float, hi: float, log: bool | None = None, what: str = "") -> Axis:
        if log and lo <= 0:
            raise _core.ArchsweepError(f"{column} has values <= 0 ({lo:g}): a log axis cannot show them; use a linear axis")
        log = wants_log(lo, hi, log)
        name = what + LABELS.get(column, column)
        # the unit of a log axis suits the middle of its decades, not only the top
        typical = math.sqrt(lo * hi) if log else hi
        if column in BYTES_COLUMNS:
            divisor, unit, power = axis_unit(typical, binary=True)
            label = f"{name} ({unit}, {power})" if divisor > 1 else f"{name} (bytes)"
        elif column in COUNT_COLUMNS:
            divisor, unit, power = axis_unit(typical, binary=False)
            label = f"{name} ({unit}, {power})" if divisor > 1 else name
        else:
            divisor, label = 1, name
        return cls(column, lo, hi, log, divisor, label)

    def edges(self, bins: int) -> np.ndarray:
        """``bins + 1`` bin edges in the column's raw units (equal widths in log10 on a log axis)."""
        lo, hi = self._span()
        e = np.linspace(lo, hi, bins + 1)
        return 10**e if self.log else e

    def bin_index(self, bins: int) -> pl.Expr:
        """The bin (0 … bins-1) of every row, computed by polars."""
        lo, hi = self._span()
        v = pl.col(self.column).cast(pl.Float64)
        if self.log:
            v = v.log10()
        return ((v - lo) / ((hi - lo) / bins)).floor().clip(0, bins - 1).cast(pl.Int32)

    def _span(self) -> tuple[float, float]:
        lo, hi = (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)
        if hi == lo:  # one value: a bin around it
            lo, hi = lo - 0.5, hi + 0.5
        return lo, hi

    def limits(self, bins: int, pad: float = 0.02) -> tuple[float, float]:
        """The axis range in display units: the bins plus ``pad`` of their span (in log10 on a
        log axis), so points on the edge (the front's ends) show whole."""
        lo, hi = self._span()
        lo, hi = lo - pad * (hi - lo), hi + pad * (hi - lo)
        return tuple(self.show(10 ** np.array([lo, hi]) if self.log else [lo, hi]))

    def show(self, values: Any) -> np.ndarray:
        """Raw values in display units."""
        return np.asarray(values, dtype=np.float64) / self.divisor

    def style(self, ax: Any, which: str) -> None:
        set_label, set_scale, axis = (ax.set_xlabel, ax.set_xscale, ax.xaxis) if which == "x" else (ax.set_ylabel, ax.set_yscale, ax.yaxis)
        set_label(self.label)
        if self.log:
            set_scale("log")
            axis.set_major_formatter(_plain())


def _lazy(source: SweepSource) -> tuple[pl.LazyFrame, str]:
    from archsweep.sweep import scan

    if isinstance(source, pl.LazyFrame):
        return source, "sweep"
    if isinstance(source, pl.DataFrame):
        return source.lazy(), "sweep"
    if not isinstance(source, (str, os.PathLike)):
        raise ArgumentTypeError(f"source must be a sweep directory, a polars LazyFrame or a DataFrame, got {show(source)}")
    return scan(source), str(source)


def collect_streaming(lf: pl.LazyFrame) -> pl.DataFrame:
    """``lf.collect()`` on polars' streaming engine where it has one (bounded memory)."""
    try:
        return lf.collect(engine="streaming")
    except TypeError:  # polars before the engine= argument
        return lf.collect()


def density(lf: pl.LazyFrame, x: Axis, y: Axis, bins: int, color: str | None = None, agg: str = "mean") -> pl.DataFrame:
    """Rows per (x bin, y bin) — columns ``ix``, ``iy``, ``n`` and, with ``color``, ``c`` (the
    bin's ``agg`` of that column): one polars group-by, never a loop over rows."""
    aggs = [pl.len().alias("n")]
    if color is not None:
        if agg not in AGGREGATIONS:
            raise _core.ArchsweepError(f"unknown colour aggregation '{agg}' (mean, min, max, median)")
        aggs.append(getattr(pl.col(color).cast(pl.Float64), agg)().alias("c"))
    keyed = lf.select(x.bin_index(bins).alias("ix"), y.bin_index(bins).alias("iy"), *([pl.col(color)] if color else []))
    return collect_streaming(keyed.group_by("ix", "iy").agg(aggs))


def plot_sweep(
    source: SweepSource,
    x: str = "params",
    y: str = "peak_activation_bytes",
    color: str | None = None,
    where: str | pl.Expr | None = None,
    out: str | Path | None = None,
    *,
    agg: str = "mean",
    logx: bool | None = None,
    logy: bool | None = None,
    bins: int | None = None,
    front: bool = True,
    title: str | None = None,
) -> Figure:
    """Density of the valid rows of a sweep in the (``x``, ``y``) plane with their Pareto front
    (minimising ``x`` and ``y``) drawn over it as a step line with markers.

    ``source`` is a sweep directory, a LazyFrame or a DataFrame; ``where`` an expression as in
    ``sweep --where`` (``"res >= 160 and params < 5M"``, docs/filters.md) or a polars expression,
    applied first. Bins are coloured by
    their row count, or with ``color`` by the ``agg`` (mean, min, max, median) of that column.
    Axes are logarithmic when a column spans more than 1.5 decades (``logx``/``logy`` force
    either way); bytes are shown in binary units (MiB, 2^20 B), counts in decimal (M, 10^6), named
    in the labels. ``bins`` per axis defaults to about the square root of the row count (30 to
    150). ``out`` (.png, .svg, .html) is written atomically. Returns the Figure.
    """
    from archsweep.io import output_file
    from archsweep.sweep import pareto
    from archsweep.sweep.results import _column, _filtered, _schema

    if out is not None:
        _check_format(out)
        output_file(out, create=False)  # a directory or a file in the way: said now, not after the work
    x = text(x, "x", flag="--x")
    y = text(y, "y", flag="--y")
    color = optional_text(color, "color", flag="--color")
    agg = text(agg, "agg", flag="--color-agg")
    if agg not in AGGREGATIONS:
        raise _core.ArchsweepError(f"unknown colour aggregation '{agg}' (mean, min, max, median)")
    bins = optional_integer(bins, "bins", low=1, high=MAX_BINS, flag="--bins")
    if x == y:
        raise _core.ArchsweepError(f"x and y are both '{x}': plot one column against another")
    lf, name = _lazy(source)
    schema = _schema(lf)
    for arg, column in (("x", x), ("y", y), ("color", color)):
        if column is None:
            continue
        _column(schema, column, arg)
        if not schema[column].is_numeric():
            raise _core.ArchsweepError(f"{arg}={column!r}: a plot needs a numeric column, and {column} is {schema[column]}")
    lf = _filtered(lf, where)
    cols = [x, y] + ([color] if color else [])
    stats = collect_streaming(lf.select(
        pl.len().alias("rows"),
        *[e for c in dict.fromkeys(cols) for e in (
            pl.col(c).min().cast(pl.Float64).alias(f"{c}:min"),
            pl.col(c).max().cast(pl.Float64).alias(f"{c}:max"),
        )],
    )).row(0, named=True)
    rows = stats["rows"]
    if rows == 0:
        raise _core.ArchsweepError(f"{name}: no valid rows to plot" + (f" where {where}" if where is not None else ""))
    if bins is None:  # about sqrt(rows) per axis, so a small sweep is not all empty cells
        bins = int(min(max(math.sqrt(rows), 30), 150))
    ax_x = Axis.of(x, stats[f"{x}:min"], stats[f"{x}:max"], logx)
    ax_y = Axis.of(y, stats[f"{y}:min"], stats[f"{y}:max"], logy)
    cells = density(lf, ax_x, ax_y, bins, color, agg)

    grid = np.full((bins, bins), np.nan)
    value = "c" if color else "n"
    grid[cells["iy"].to_numpy(), cells["ix"].to_numpy()] = cells[value].to_numpy()
    if color:
        ax_c = Axis.of(color, stats[f"{color}:min"], stats[f"{color}:max"], what=f"{agg} ")
        grid = ax_c.show(grid)
        lo, hi = ax_c.show([ax_c.lo, ax_c.hi])
        norm = LogNorm(lo, hi) if ax_c.log else Normalize(lo, hi if hi > lo else lo + 1)
        clabel = f"{ax_c.label} per bin"
    else:
        norm = LogNorm(1, max(float(cast(int, cells["n"].max())), 10.0))
        clabel = "variants per bin"

    fig = Figure(figsize=(8, 6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(ax_x.show(ax_x.edges(bins)), ax_y.show(ax_y.edges(bins)), np.ma.masked_invalid(grid),
                         cmap="viridis", norm=norm, rasterized=True)
    bar = fig.colorbar(mesh, ax=ax, label=clabel)
    if isinstance(norm, LogNorm):
        bar.ax.yaxis.set_major_formatter(_plain())
    if front:
        rows_front = pareto(lf, minimize=[x, y])
        ax.plot(ax_x.show(rows_front[x]), ax_y.show(rows_front[y]), drawstyle="steps-post", marker="o", ms=4,
                color="#d62728", mfc="white", lw=1.6, label=f"Pareto front, minimising both ({rows_front.height} rows)",
                gid="pareto-front")
        # outside the axes: legend(loc="best") would test its box against every bin (seconds)
        fig.legend(loc="outside lower center", fontsize=9, frameon=False)
    ax.set_xlim(*ax_x.limits(bins))
    ax.set_ylim(*ax_y.limits(bins))
    ax_x.style(ax, "x")
    ax_y.style(ax, "y")
    ax.grid(True, which="major", alpha=0.25)
    subtitle = f"{rows:,} valid variants" + (f" where {where}" if isinstance(where, str) else "")
    ax.set_title(title or f"{name}: {subtitle}", fontsize=10)
    if out is not None:
        save(fig, out, title=title or f"{name}: {LABELS.get(y, y)} vs {LABELS.get(x, x)}")
    return fig


# --------------------------------------------------------------------------------------------
# One model: per-layer shares


#: Per-layer panels: (column, title).
LAYER_PANELS = [("params", "params"), ("macs", "MACs"), ("activation_bytes", "activation memory (layer outputs)")]


#: Most bars a per-layer share plot draws before it groups layers by block (see plot_layers).
MAX_LAYER_ROWS = 60


def _share_rows(report: Report, depth: int | None, max_rows: int) -> tuple[pl.DataFrame, int | None]:
    """The rows of a share plot and the depth they are grouped to (None: one row per layer)."""
    cols = [c for c, _ in LAYER_PANELS]
    layers = report.layers.select("name", "op", *cols)
    has_share = pl.max_horizontal([pl.col(c) for c in cols]) > 0
    if depth is None and layers.filter(has_share).height > max_rows:
        # the deepest grouping of the layer names that still fits (at least depth 1)
        dots = report.layers["name"].str.count_matches(r"\.").max()
        deepest = (dots if isinstance(dots, int) else 0) + 1
        depth = 1
        for d in range(deepest - 1, 0, -1):
            if report.grouped(d).filter(has_share).height <= max_rows:
                depth = d
                break
    if depth is None:
        return layers.filter(has_share), None
    return report.grouped(depth).select("name", "op", *cols).filter(has_share), depth


def plot_layers(report: Report, out: str | Path | None = None, *, label_share: float = 2.0, depth: int | None = None,
                max_rows: int = MAX_LAYER_ROWS) -> Figure:
    """Each layer's share (%) of the model's params, MACs and activation memory, as three
    horizontal bar panels with the layers in order (top to bottom). Layers with no share in any
    panel (views, in-place activations, dropout) are left out. Shares of ``label_share`` % or more
    are written on the bars, and a layer with a large share (>= 10 %) in one panel is labelled in
    every panel, so contrasts show (VGG16's fc1: 74 % of params, 0.7 % of MACs).

    A deep network is drawn by block: with more than ``max_rows`` bars, layers are grouped by the
    first parts of their dotted names (``layer1.0.conv1`` in ``layer1.0``), at the deepest level
    that gives at most ``max_rows`` bars (``depth`` sets the level); a group's share is the exact
    sum of its layers'. Share axes are labelled at the top and the bottom."""
    from archsweep.units import human_bytes, human_count

    if out is not None:
        from archsweep.io import output_file

        _check_format(out)
        output_file(out, create=False)
    if depth is not None:
        depth = checks.integer(depth, "depth", low=1, high=1 << 16)
    max_rows = checks.integer(max_rows, "max_rows", low=1, high=1 << 20)
    cols = [c for c, _ in LAYER_PANELS]
    df, grouped = _share_rows(report, depth, max_rows)
    totals = {c: int(report.layers[c].sum()) for c in cols}
    shares = df.with_columns([
        (pl.col(c).cast(pl.Float64) * 100 / totals[c] if totals[c] else pl.lit(0.0)).alias(f"{c}%") for c in cols
    ])
    shares = shares.with_columns(pl.max_horizontal([pl.col(f"{c}%") for c in cols]).alias("_largest"))
    n = shares.height
    ops = list(dict.fromkeys(shares["op"].to_list()))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#d62728"]
    op_color = {op: palette[i % len(palette)] for i, op in enumerate(ops)}
    colors = [op_color[o] for o in shares["op"].to_list()]

    fig = Figure(figsize=(12, 1.6 + 0.22 * max(n, 4)), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(LAYER_PANELS), sharey=True)
    y = np.arange(n)
    total_text = {"params": human_count(totals["params"]), "macs": human_count(totals["macs"]),
                  "activation_bytes": human_bytes(totals["activation_bytes"])}
    largest = shares["_largest"].to_numpy()
    for ax, (col, title) in zip(axes, LAYER_PANELS):
        share = shares[f"{col}%"].to_numpy()
        ax.barh(y, share, color=colors, height=0.75)
        top = max(float(share.max()), 1.0)
        ax.set_xlim(0, top * 1.3)
        ax.set_title(f"{title}\n{total_text[col]} = 100 %", fontsize=10)
        ax.set_xlabel("share of the model (%)")
        ax.tick_params(axis="x", labeltop=True, top=True)  # readable at the top of a tall plot too
        ax.grid(True, axis="x", alpha=0.25)
        for i in np.flatnonzero((share >= label_share) | (largest >= 10)):
            ax.text(share[i] + top * 0.02, y[i], _percent(share[i]), va="center", fontsize=7.5)
    axes[0].set_yticks(y, shares["name"].to_list(), fontsize=8)
    axes[0].set_ylim(n - 0.5, -0.5)  # top to bottom in file order, no empty margin rows
    handles = [_patch(op_color[o]) for o in ops]
    fig.legend(handles, ops, loc="outside lower center", ncols=min(len(ops), 8), fontsize=8, frameon=False)
    shape = "×".join(str(d) for d in report.input_shape)
    if grouped is None:
        what = f"share of each layer (input {shape}, {report.dtype}; {len(report.layers) - n} layers with no share left out)"
    else:
        what = (f"share of each block: {len(report.layers)} layers grouped by the first {grouped} part(s) of their names "
                f"(input {shape}, {report.dtype})")
    fig.suptitle(f"{report.name}: {what}", fontsize=11)
    if out is not None:
        save(fig, out, title=f"{report.name}: per-layer shares")
    return fig


def _percent(v: float) -> str:
    if v >= 1:
        return f"{v:.1f} %"
    return f"{v:.2f} %" if v >= 0.01 else "< 0.01 %"


def _patch(color: str) -> Patch:
    from matplotlib.patches import Patch

    return Patch(color=color)


# --------------------------------------------------------------------------------------------
# Output


def _check_format(out: str | Path) -> str:
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise _core.ArchsweepError(f"{out}: unknown plot format '{suffix}' (use {', '.join(FORMATS)})")
    return suffix


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def img_tag(fig: Figure, alt: str) -> str:
    """An ``<img>`` holding the figure as a base64 PNG (a data: URI: nothing to fetch)."""
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def html_page(title: str, body: str, css: str = "") -> str:
    """A self-contained page: inline CSS, no scripts, nothing loaded from elsewhere."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n"
        "<style>\nbody{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;"
        "padding:0 1em;color:#222}\nimg{max-width:100%;height:auto}\n" + css + "</style>\n</head>\n<body>\n"
        + body + "\n</body>\n</html>\n"
    )


def save(fig: Figure, out: str | Path, title: str = "archsweep plot") -> Path:
    """Write ``fig`` to ``out`` (.png, .svg, or .html: a page with the figure as a base64 PNG),
    under a temporary name first."""
    from archsweep.io import atomic_write, atomic_write_text

    suffix = _check_format(out)
    if suffix == ".html":
        return atomic_write_text(out, html_page(title, f"<h1>{html.escape(title)}</h1>\n{img_tag(fig, title)}"))
    fmt = suffix[1:]
    # no date and a fixed id salt: the same figure gives the same file
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "archsweep"}):
        return atomic_write(out, lambda p: fig.savefig(p, format=fmt, dpi=DPI, metadata=metadata))


__all__: Sequence[str] = ["plot_sweep", "plot_layers", "density", "wants_log", "save", "html_page", "img_tag"]
