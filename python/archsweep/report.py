"""`archsweep report`: one self-contained HTML page about a sweep dataset.

The page works offline: inline CSS, plots as base64 PNG ``data:`` URIs, no scripts, nothing
fetched. Every number comes from polars aggregations over the dataset (no loop over rows), and
every piece of text put into the page is escaped.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Set as AbstractSet
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from archsweep import _core
from archsweep.metrics import NAMES, is_bytes
from archsweep.units import big_int, human_bytes, human_count, magnitude

#: Metrics summarised (min / median / max) on the page.
SUMMARY = ["params", "macs", "flops", "weight_bytes", "peak_activation_bytes", "train_bytes"]
#: The Pareto table's objectives.
FRONT = ["params", "macs", "peak_activation_bytes"]
#: Plots on the page: (x, y).
PLOTS = [("params", "macs"), ("params", "peak_activation_bytes")]
ERRORS_SHOWN = 10

CSS = """
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.8em;overflow:auto;font-size:.85em;max-height:40em}
.plots{display:flex;flex-wrap:wrap;gap:1em} .plots figure{margin:0;flex:1 1 520px}
figcaption{color:#555;font-size:.9em}
.scroll{overflow-x:auto}
"""


def dataset_info(directory: str | Path) -> dict[str, Any]:
    """The spec and run options of a sweep directory: from its manifest (``_manifest.parquet``, a
    shard's manifest, or the ``_manifest.json`` of an earlier layout), else from a part file's
    Parquet key-value metadata. Keys: ``space``, ``spec`` (dict or None), ``spec_hash``, ``run``
    (dict or None), ``source`` (where they came from)."""
    import pyarrow.parquet as pq

    from archsweep.sweep.layout import manifest_paths, part_index, read_manifest

    d = Path(directory)
    for path in manifest_paths(d):
        try:
            m = read_manifest(path)
        except _core.ArchsweepError:
            continue
        return {"space": m.get("space"), "spec": m.get("spec"), "spec_hash": m.get("spec_hash"), "run": m.get("run"),
                "source": path.name}
    for path in sorted(p for p in d.glob("part-*.parquet") if part_index(p.name) is not None)[:1]:
        kv = pq.read_metadata(path).metadata or {}
        spec = json.loads(kv[b"archsweep.spec"]) if b"archsweep.spec" in kv else None
        return {"space": (spec or {}).get("name"), "spec": spec,
                "spec_hash": kv.get(b"archsweep.spec_hash", b"").decode() or None,
                "run": json.loads(kv[b"archsweep.run"]) if b"archsweep.run" in kv else None, "source": path.name}
    return {"space": None, "spec": None, "spec_hash": None, "run": None, "source": None}


def _collect(lf: pl.LazyFrame) -> pl.DataFrame:
    from archsweep.plot import collect_streaming

    return collect_streaming(lf)


#: Bins of the histograms that locate the medians (see :func:`medians`).
MEDIAN_BINS = 1 << 12


def medians(lf: pl.LazyFrame, stats: dict[str, Any], columns: list[str], n: int) -> dict[str, float | int | None]:
    """The exact median of each column over ``lf`` (``n`` rows; ``stats`` holds ``c:min`` and
    ``c:max``) — the middle value, or the mean of the two middle values for an even ``n``, as
    polars' ``median`` — in bounded memory. Per column one streaming group-by counts the values
    in ``MEDIAN_BINS`` bins (equal widths in log(1 + v) for non-negative columns, which span
    decades), then only the distinct values of the bin holding the middle rank are counted.
    ``pl.col(c).median()`` would hold every column in memory (~0.7 GB for six metrics at 10^7
    rows)."""
    out: dict[str, float | int | None] = {}
    bins: dict[str, pl.Expr] = {}
    for c in columns:
        lo, hi = stats[f"{c}:min"], stats[f"{c}:max"]
        if n == 0 or lo == hi:
            out[c] = None if n == 0 else lo
            continue
        v = pl.col(c).cast(pl.Float64)
        if lo >= 0:
            v, a, b = (v + 1).log(), math.log(lo + 1), math.log(hi + 1)
        else:
            a, b = float(lo), float(hi)
        bins[c] = ((v - a) / ((b - a) / MEDIAN_BINS)).floor().clip(0, MEDIAN_BINS - 1).cast(pl.Int32).alias("_bin")
    todo = list(bins)
    hists = _collect_all([lf.select(bins[c]).group_by("_bin").agg(pl.len().alias("n")).sort("_bin") for c in todo])
    ranks = sorted({(n - 1) // 2, n // 2})
    wanted = []  # (column, rank, values before the bin, the bin's distinct values and counts)
    for c, hist in zip(todo, hists):
        cum = hist["n"].cum_sum().to_list()
        for rank in ranks:
            i = bisect.bisect_right(cum, rank)  # the first bin holding more than `rank` values
            counts = (lf.select(pl.col(c), bins[c]).filter(pl.col("_bin") == hist["_bin"][i])
                      .group_by(c).agg(pl.len().alias("n")).sort(c))
            wanted.append((c, rank, cum[i - 1] if i else 0, counts))
    middle: dict[str, list] = {}
    for (c, rank, before, _), found in zip(wanted, _collect_all([w[3] for w in wanted])):
        j = bisect.bisect_right(found["n"].cum_sum().to_list(), rank - before)
        middle.setdefault(c, []).append(found[c][j])
    for c, (first, *second) in middle.items():
        out[c] = first if not second or second[0] == first else (first + second[0]) / 2
    return out


def _collect_all(frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    # one after the other: pl.collect_all shares the scan between the queries by caching it in
    # memory (0.6 GB for six histograms at 10^7 rows, against 0.15 GB this way, in about as long)
    return [_collect(f) for f in frames]


def summarize(lf: pl.LazyFrame) -> dict[str, Any]:
    """Row counts, the commonest error reasons and min/median/max of the ``SUMMARY`` metrics of
    the valid rows, in polars queries of bounded memory."""
    counts = _collect(lf.select(pl.len().alias("rows"), pl.col("valid").sum().alias("valid"))).row(0, named=True)
    invalid = lf.filter(~pl.col("valid"))
    errors = _collect(invalid.group_by("error").agg(pl.len().alias("rows"))).sort(["rows", "error"], descending=[True, False])
    metrics = [c for c in SUMMARY if c in lf.collect_schema().names()]
    valid = lf.filter(pl.col("valid"))
    stats = _collect(valid.select(
        [e for c in metrics for e in (pl.col(c).min().alias(f"{c}:min"), pl.col(c).max().alias(f"{c}:max"))]
    )).row(0, named=True) if metrics else {}
    n_valid = int(counts["valid"] or 0)
    for c, m in medians(valid, stats, metrics, n_valid).items():
        stats[f"{c}:median"] = m
    return {"rows": counts["rows"], "valid": n_valid, "errors": errors, "metrics": metrics, "stats": stats}


def _human(column: str, value: float | int | None) -> str:
    if value is None:
        return "–"
    v = round(value)  # a median of an even count may be halfway between two integers
    text = f"{v:,}" if v == value else f"{value:,.1f}"
    if is_bytes(column):
        return f"{text} B = {human_bytes(v)}" if v >= 1000 else f"{text} B"
    return f"{text} ({human_count(v)})" if v >= 1000 else text


def _table(header: list[str] | None, rows: list[list[str]], numeric: AbstractSet[int] = frozenset()) -> str:
    """An HTML table (no header row if ``header`` is None); cells are escaped here."""
    head = "" if header is None else "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    body = "\n".join(
        "<tr>" + "".join(f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table>\n{head}\n{body}\n</table></div>'


def _json(value: Any, indent: str = "") -> str:
    """JSON with objects one key a line and lists of scalars on one line (a readable spec)."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def _run_text(run: dict[str, Any] | None) -> str:
    if not run:
        return "unknown (no manifest)"
    from archsweep.sweep.plan import run_what

    what = run_what(run)
    opts = f"batch {run.get('batch')}, {run.get('dtype')}, optimizer {run.get('optimizer')}"
    where = f"; kept only rows where {run['where']}" if run.get("where") else ""
    return f"{what}; {opts}{where}"


def sweep_report(source: str | Path, out: str | Path | None = None, *, front_rows: int = 200, title: str | None = None) -> str:
    """The HTML report of the sweep dataset in directory ``source``: spec, space size, rows,
    valid/invalid counts with the commonest error reasons, min/median/max of the metrics, density
    plots with their Pareto fronts (params vs MACs, params vs peak activation) and the Pareto
    table over params, MACs and peak activation memory (at most ``front_rows`` rows) with the
    variable columns. Written atomically to ``out`` if given; returns the page."""
    from archsweep.checks import ArgumentTypeError, integer, show
    from archsweep.io import output_file
    from archsweep.plot import html_page, img_tag, plot_sweep
    from archsweep.space import Space
    from archsweep.sweep import pareto, scan

    if not isinstance(source, (str, os.PathLike)):
        raise ArgumentTypeError(f"source must be the path of a sweep dataset, got {show(source)}")
    front_rows = integer(front_rows, "front_rows", low=0, flag="--front-rows")
    if out is not None:
        output_file(out, create=False)  # a directory or a file in the way: said now, not after the work
    directory = Path(source)
    lf = scan(directory)
    info = dataset_info(directory)
    name = info["space"] or directory.name
    size = variables = None
    if info["spec"] is not None:
        try:
            space = Space(info["spec"])
            size, variables = space.size, space.variables
        except (_core.ArchsweepError, ValueError):  # a spec this version cannot compile: leave it out
            pass
    s = summarize(lf)
    invalid = s["rows"] - s["valid"]
    parts: list[str] = []
    heading = title or f"archsweep report: {name}"
    parts.append(f"<h1>{escape(heading)}</h1>")
    parts.append(f'<p class="sub">dataset {escape(str(directory))}; spec sha256 {escape(str(info["spec_hash"] or "unknown"))}</p>')

    # --- overview
    size_text = "unknown" if size is None else f"{big_int(size)} variants (about {magnitude(size)})"
    overview = [
        ["space", name],
        ["space size", size_text],
        ["run", _run_text(info["run"])],
        ["rows in the dataset", f"{s['rows']:,}"],
        ["valid", f"{s['valid']:,} ({100 * s['valid'] / s['rows']:.1f} %)" if s["rows"] else "0"],
        ["invalid", f"{invalid:,} ({100 * invalid / s['rows']:.1f} %)" if s["rows"] else "0"],
    ]
    parts.append("<h2>Dataset</h2>")
    parts.append(_table(None, overview))
    if variables:
        parts.append("<h2>Variables</h2>")
        parts.append(_table(["variable", "choices", "values"],
                            [[v, str(len(c)), ", ".join(str(x) for x in c)] for v, c in variables.items()], numeric={1}))

    # --- errors
    parts.append("<h2>Invalid variants: commonest reasons</h2>")
    errors = s["errors"]
    if errors.height == 0:
        parts.append("<p>No invalid variants.</p>")
    else:
        shown = errors.head(ERRORS_SHOWN)
        parts.append(f"<p>{errors.height:,} distinct messages over {invalid:,} invalid rows; the {shown.height} commonest:</p>")
        parts.append(_table(["rows", "share of invalid", "error"],
                            [[f"{r:,}", f"{100 * r / invalid:.1f} %", e or ""] for e, r in shown.iter_rows()], numeric={0, 1}))

    # --- statistics
    if s["valid"]:
        parts.append("<h2>Valid variants: summary statistics</h2>")
        parts.append("<p>Bytes in MiB (2^20 B) and MB (10^6 B); counts in k, M, G (10^3, 10^6, 10^9).</p>")
        parts.append(_table(["metric", "min", "median", "max"],
                            [[c] + [_human(c, s["stats"][f"{c}:{k}"]) for k in ("min", "median", "max")] for c in s["metrics"]],
                            numeric={1, 2, 3}))

        # --- plots
        parts.append("<h2>Density and Pareto fronts</h2>")
        parts.append('<div class="plots">')
        for x, y in PLOTS:
            fig = plot_sweep(lf, x=x, y=y, title=f"{name}: {s['valid']:,} valid variants")
            caption = f"{y} against {x}: variants per bin (colour), Pareto front minimising both (red)"
            parts.append(f"<figure>{img_tag(fig, caption)}<figcaption>{escape(caption)}</figcaption></figure>")
        parts.append("</div>")

        # --- Pareto table
        front = pareto(lf, minimize=FRONT)
        parts.append(f"<h2>Pareto front: minimising {escape(', '.join(FRONT))}</h2>")
        shown = front.head(min(front_rows, 2**32 - 1))  # polars counts rows in 32 bits
        more = f" (the first {shown.height} shown)" if shown.height < front.height else ""
        parts.append(f"<p>{front.height:,} rows{escape(more)}, sorted by {escape(', '.join(FRONT))}.</p>")
        hidden = set(NAMES) | {"valid", "error", "output_shape"}
        var_cols = [c for c in front.columns if c not in hidden]
        header = ["params", "MACs", "peak activation"] + var_cols
        rows = [[f"{r['params']:,} ({human_count(r['params'])})", f"{r['macs']:,} ({human_count(r['macs'])})",
                 f"{r['peak_activation_bytes']:,} B = {human_bytes(r['peak_activation_bytes'])}"] + [str(r[c]) for c in var_cols]
                for r in shown.iter_rows(named=True)]
        parts.append(_table(header, rows, numeric=set(range(len(header)))))
    else:
        parts.append("<h2>Valid variants</h2>\n<p>None: no statistics, plots or Pareto front.</p>")

    # --- spec
    if info["spec"] is not None:
        parts.append("<h2>Spec</h2>")
        parts.append(f"<p>From {escape(str(info['source']))}.</p>")
        parts.append(f"<pre>{escape(_json(info['spec']), quote=False)}</pre>")

    page = html_page(heading, "\n".join(parts), css=CSS)
    if out is not None:
        from archsweep.io import atomic_write_text

        atomic_write_text(out, page)
    return page
