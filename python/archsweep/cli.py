"""The `archsweep` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archsweep import _core

DESCRIPTION = """\
archsweep computes, exactly and analytically, what a neural network costs: per-layer output
shapes, parameters (weights, biases, buffers), MACs/FLOPs and memory, following PyTorch's
shape rules. MACs count multiply-accumulates of conv, linear and attention matmuls
(torchvision's convention); FLOPs = 2 × MACs; everything else is counted apart as
"other ops". Sizes are printed in MiB (2^20 bytes) and MB (10^6 bytes) side by side.
"""

EPILOG = """\
examples:
  archsweep analyze data/models/vgg16.toml
  archsweep analyze data/models/vgg16.toml --explain
  archsweep analyze data/models/vgg16.toml --input 3x160x160 --dtype fp16 --format json
  archsweep analyze data/models/vgg16.toml --format parquet -o vgg16_layers.parquet
  archsweep analyze resnet50 --input 3x160x160 --dtype fp16   # a zoo model, by name
  archsweep zoo                                              # the zoo: presets of data/families/*.toml
  archsweep ops
  archsweep space data/spaces/vgg.toml
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --seed 0
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --where "params < 5e6 and macs < 3e8"
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --engine dask --workers 4
  archsweep status out/
  archsweep pareto out/ --minimize params,macs,peak_activation_bytes
  archsweep plot out/ --x params --y peak_activation_bytes --color macs -o front.png
  archsweep report out/ -o report.html
  archsweep analyze data/models/vgg16.toml --plot layers.png
"""


def _shape(text: str) -> list[int]:
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 3x224x224") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape of positive dims like 3x224x224")
    return dims


def _dataset_args(parser: argparse.ArgumentParser, where: bool = True) -> None:
    """DIR plus the filter and output options shared by pareto, top and query."""
    if where:
        parser.add_argument("--where", dest="where", metavar="SQL", help="filter first (polars SQL expression)")
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("-o", "--output", type=Path, help="write to this file (required for parquet)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="archsweep", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    a = sub.add_parser(
        "analyze", help="cost of one model, per layer and in total",
        description="Print the cost of one model: per-layer output shape, params, MACs, other ops and "
        "activation memory, then totals (weights, peak activations, a training estimate).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="memory model: weights = params × dtype bytes (buffers keep their own dtype); activations = "
        "sum of layer outputs for the batch; peak = live tensors walking the layers in order; training = "
        "weights + buffers + grads + optimizer state + saved activations (see README).",
    )
    a.add_argument("model", help="a model file (.toml, .yaml, .json) or the name of a zoo model (archsweep zoo lists them)")
    a.add_argument("--input", type=_shape, metavar="CxHxW", help="per-sample input shape, overrides the file's (e.g. 3x160x160)")
    a.add_argument("--batch", type=int, default=1, help="batch size for activations and MACs (default 1)")
    a.add_argument("--dtype", default="fp32", help="fp32 (default), fp16, bf16, int8, fp8, fp64: bytes per weight and activation")
    a.add_argument("--optimizer", default="adam", help="sgd, momentum, adam (default), adamw: optimizer state in the training estimate")
    a.add_argument("--format", choices=["table", "json", "csv", "parquet"], default="table", help="output format (default: table)")
    a.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout (required for parquet)")
    a.add_argument("--explain", action="store_true", help="print each layer's formula with its numbers")
    a.add_argument("--plot", type=Path, metavar="FILE",
                   help="also draw each layer's share of params, MACs and activation memory (.png, .svg or .html)")

    sub.add_parser("ops", help="list the ops the core knows", description="List every op name usable in model files.")

    z = sub.add_parser(
        "zoo", help="list the zoo's models: presets of the family templates",
        description="List every named model of the zoo (the [presets.*] tables of data/families/*.toml) with "
        "its resolution, params, GMACs and fp32 weight size in MiB (2^20 B) and MB (10^6 B). "
        "Analyze one with: archsweep analyze NAME.",
    )
    z.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)")
    z.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")

    sp = sub.add_parser(
        "space", help="size, variables and one example of a search space",
        description="Compile a search-space spec and print its exact size, its variables (in id-digit "
        "order: the last changes fastest) and one example configuration with its cost.",
    )
    sp.add_argument("spec", help="a space spec (.toml, .yaml, .json)")
    sp.add_argument("--id", type=int, default=None, help="variant id of the example (default: the middle of the space)")

    sw = sub.add_parser(
        "sweep", help="evaluate many variants of a space into a Parquet dataset",
        description="Evaluate variants of a search space in Rust (all cores) and write one row per variant "
        "as Parquet part files plus _manifest.json into a directory. Query it with polars: "
        "archsweep.scan(DIR) or pl.scan_parquet('DIR/*.parquet').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="columns: variant_id, one column per variable, valid, error, params, trainable_params, buffers, macs, "
        "flops, other_ops, weight_bytes, buffer_bytes, activation_bytes, peak_activation_bytes, train_bytes, "
        "num_layers, output_shape (see README).\n"
        "--where takes archsweep's expression language: params < 5e6 and macs < 3e8; peak_activation_bytes < 64 MiB; "
        "res >= 160. It is evaluated in Rust: rejected variants are never written. Invalid rows have null metrics "
        "and the filter is three-valued on them, as in polars (res == 8 or params > 4e4 keeps an invalid row with "
        "res == 8).\n"
        "variant_id is u64, or Decimal(38, 0) for a space of more than 2^64 variants (up to 10^38 can be sampled).",
    )
    sw.add_argument("spec", help="a space spec (.toml, .yaml, .json)")
    sw.add_argument("-o", "--out", type=Path, required=True, help="output directory (created; must be empty unless --resume)")
    sw.add_argument("--sample", type=int, metavar="N", help="evaluate N distinct variants drawn at random (seeded) instead of the full grid")
    sw.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0): same seed, same ids, on any machine")
    sw.add_argument("--sampler", type=int, choices=(1, 2), default=2,
                    help="the sample's permutation (default 2). 1 reproduces the samples of archsweep's first builds; "
                         "the two differ only for spaces whose size needs an odd number of bits, where 2 is faster")
    sw.add_argument("--where", dest="where", metavar="EXPR", help="keep only rows satisfying EXPR (evaluated in Rust)")
    sw.add_argument("--shard", metavar="I/N", help="compute only shard I of N (0-based), for job arrays")
    sw.add_argument("--range", dest="grid_range", metavar="START:END",
                    help="only grid positions (= variant ids) START..END-1, consecutive: a slice of a grid too large to "
                         "sweep whole (grid order re-evaluates only the layers after the changed variables, so it is the fastest order)")
    sw.add_argument("--resume", action="store_true", help="complete an interrupted sweep in OUT (same spec and options)")
    sw.add_argument("--threads", type=int, default=0,
                    help="rayon threads (default: all cores; with --engine dask: per worker, default 1)")
    sw.add_argument("--batch", type=int, default=1, help="batch size for activations (default 1)")
    sw.add_argument("--dtype", default="fp32", help="fp32 (default), fp16, bf16, int8, fp8, fp64")
    sw.add_argument("--optimizer", default="adam", help="sgd, momentum, adam (default), adamw")
    sw.add_argument("--chunk-rows", type=int, default=1 << 18, help="variants per part file (default 262144); bounds memory")
    sw.add_argument("--max-variants", type=int, default=None, help="allow full grids up to this size (default 10^10)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--engine", choices=["local", "dask"], default="local",
                    help="local (default): this process, --threads rayon threads; dask: one task per chunk on Dask workers")
    sw.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                    help="with --engine dask: connect to this Dask scheduler (default: start a local cluster)")
    sw.add_argument("--workers", type=int, metavar="N",
                    help="with --engine dask and no --scheduler: worker processes of the local cluster (default 2)")

    results_help = ("--where takes a SQL expression over the dataset's columns, e.g. \"params < 5e6 AND res >= 160\" "
                    "(polars SQL); only valid rows are considered.")
    pa = sub.add_parser(
        "pareto", help="Pareto front of a sweep dataset (minimise some columns)",
        description="Print the rows of a sweep dataset that no other row beats in every one of the --minimize "
        "columns (<= in all, < in one). " + results_help,
    )
    pa.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    pa.add_argument("--minimize", default="params,macs", help="comma-separated columns (default params,macs)")
    _dataset_args(pa)
    tp = sub.add_parser(
        "top", help="the k best rows of a sweep dataset by one column",
        description="Print the k valid rows with the smallest (or, with --largest, largest) value of --by. " + results_help,
    )
    tp.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    tp.add_argument("--by", required=True, help="the column to rank by, e.g. macs")
    tp.add_argument("-k", type=int, default=10, help="how many rows (default 10)")
    tp.add_argument("--largest", action="store_true", help="largest first instead of smallest")
    _dataset_args(tp)

    qy = sub.add_parser(
        "query", help="SQL over a sweep dataset (table name: sweep)",
        description="Run a SQL query through polars' SQL context over the sweep dataset in DIR, registered as "
        "the table `sweep`, e.g. archsweep query out/ \"SELECT res, count(*) AS n, min(macs) AS best FROM sweep "
        "WHERE valid GROUP BY res ORDER BY res\".",
    )
    qy.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    qy.add_argument("sql", help="the query; the dataset is the table `sweep`")
    _dataset_args(qy, where=False)

    pl_ = sub.add_parser(
        "plot", help="density plot of a sweep dataset with its Pareto front (png, svg, html)",
        description="Plot the valid rows of a sweep dataset in the (--x, --y) plane as a density (bins counted "
        "by polars, so 10^7 rows take seconds) with the Pareto front minimising both drawn over it. Axes are "
        "logarithmic when a column spans more than 1.5 decades; bytes are shown in MiB (2^20 B), counts in "
        "M (10^6) or G (10^9), as the labels say. " + results_help,
    )
    pl_.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    pl_.add_argument("--x", default="params", help="column on the x axis (default params)")
    pl_.add_argument("--y", default="peak_activation_bytes", help="column on the y axis (default peak_activation_bytes)")
    pl_.add_argument("--color", metavar="COL", help="colour bins by this column (see --color-agg) instead of the row count")
    pl_.add_argument("--color-agg", choices=["mean", "min", "max", "median"], default="mean",
                     help="how --color summarises a bin's rows (default mean)")
    pl_.add_argument("--where", dest="where", metavar="SQL", help="plot only rows satisfying this (polars SQL expression)")
    pl_.add_argument("--bins", type=int, help="bins per axis (default: about sqrt(rows), 30 to 150)")
    pl_.add_argument("--no-front", action="store_true", help="do not draw the Pareto front")
    for axis in ("x", "y"):
        g = pl_.add_mutually_exclusive_group()
        g.add_argument(f"--log{axis}", dest=f"log{axis}", action="store_const", const=True, default=None,
                       help=f"logarithmic {axis} axis (default: when the column spans > 1.5 decades)")
        g.add_argument(f"--lin{axis}", dest=f"log{axis}", action="store_const", const=False, help=f"linear {axis} axis")
    pl_.add_argument("-o", "--output", type=Path, required=True, help="the file to write: .png, .svg or .html (self-contained)")

    rp = sub.add_parser(
        "report", help="one self-contained HTML page about a sweep dataset",
        description="Write one HTML file that works offline (inline CSS, plots as base64 PNG, no scripts): the "
        "spec, space size, rows, valid and invalid counts with the commonest error reasons, min/median/max of "
        "the metrics, density plots with Pareto fronts, and the Pareto table over params, MACs and peak "
        "activation memory.",
    )
    rp.add_argument("dir", type=Path, help="a sweep directory (part-*.parquet)")
    rp.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    rp.add_argument("--front-rows", type=int, default=200, help="show at most this many Pareto rows (default 200)")

    st = sub.add_parser(
        "status", help="progress of a sweep directory: chunks done, pending, failed, rows written",
        description="Report a sweep dataset's progress from its manifest(s) and part files: chunks done and "
        "pending (expected chunks with no part file), per shard for job arrays, rows written, failed chunks "
        "recorded by the coordinator, leftover temporary files.",
    )
    st.add_argument("dir", type=Path, help="a sweep output directory (archsweep sweep -o DIR)")
    st.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    return p


def _write(args, text: str) -> None:
    from archsweep.io import atomic_write_text

    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)


def cmd_analyze(args) -> int:
    from archsweep.analysis import analyze
    from archsweep.io import atomic_write
    from archsweep.render import print_report

    report = analyze(args.model, input_shape=args.input, batch=args.batch, dtype=args.dtype, optimizer=args.optimizer)
    if args.format == "table":
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:  # plain text, no colours
                print_report(report, explain=args.explain, stream=f)
        else:
            print_report(report, explain=args.explain)
    elif args.format == "json":
        _write(args, json.dumps(report.to_dict(), indent=2) + "\n")
    elif args.format == "csv":
        _write(args, report.flat_layers().write_csv())
    elif args.format == "parquet":
        if not args.output:
            raise _core.ArchsweepError("--format parquet needs -o FILE")
        atomic_write(args.output, lambda p: report.layers.write_parquet(p))
        print(f"wrote {len(report.layers)} layers to {args.output}", file=sys.stderr)
    if args.plot:
        from archsweep.plot import plot_layers

        plot_layers(report, args.plot)
        print(f"wrote per-layer shares to {args.plot}", file=sys.stderr)
    return 0


def cmd_ops(args) -> int:
    for name in _core.op_names():
        print(name)
    return 0


def cmd_zoo(args) -> int:
    from archsweep import zoo

    df = zoo.table()
    if args.format == "csv":
        _write(args, df.write_csv())
        return 0
    if args.format == "json":
        _write(args, json.dumps(df.to_dicts(), indent=2) + "\n")
        return 0
    from rich.table import Table

    from archsweep.render import console

    t = Table(title=f"model zoo: {len(df)} presets of data/families/*.toml (fp32 weights)", title_justify="left")
    for col, justify in [("model", "left"), ("family", "left"), ("res", "right"), ("params", "right"),
                         ("GMACs", "right"), ("MiB", "right"), ("MB", "right")]:
        t.add_column(col, justify=justify)
    for r in df.iter_rows(named=True):
        t.add_row(r["model"], r["family"], str(r["resolution"]), f"{r['params']:,}", f"{r['gmacs']:.3f}",
                  f"{r['weights_mib']:.1f}", f"{r['weights_mb']:.1f}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:  # plain text, no colours
            console(f).print(t)
    else:
        console().print(t)
    return 0


def cmd_space(args) -> int:
    from rich.table import Table

    from archsweep.analysis import analyze
    from archsweep.render import console
    from archsweep.space import Space
    from archsweep.units import human_bytes, human_count

    space = Space.load(args.spec)
    c = console()
    size = space.size
    c.print(f"[bold]{space.name}[/]: {size:,} variants (~10^{len(str(size)) - 1}), {len(space.variables)} variables, "
            f"{space.num_layer_instances} layer instances at the largest repeat counts")
    t = Table(title="variables (id digits in this order; the last changes fastest)", title_justify="left")
    t.add_column("variable")
    t.add_column("choices", justify="right")
    t.add_column("values")
    for name, choices in space.variables.items():
        shown = ", ".join(str(v) for v in choices[:12]) + (", ..." if len(choices) > 12 else "")
        t.add_row(name, str(len(choices)), shown)
    c.print(t)
    if space.derived:
        c.print("derived: " + ", ".join(space.derived))
    vid = args.id if args.id is not None else size // 2
    c.print(f"example: variant {vid}: {space.config(vid)}")
    try:
        r = analyze(space.model(vid))
        tot = r.totals
        c.print(f"  {tot['params']:,} params ({human_count(tot['params'])}), {tot['macs']:,} MACs ({human_count(tot['macs'])}), "
                f"weights {human_bytes(tot['weight_bytes'])}, peak activations {human_bytes(tot['peak_activation_bytes'])}")
    except _core.ArchsweepError as e:
        c.print(f"  invalid: {e}", markup=False)
    return 0


def _range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        a, b = text.replace("_", "").split(":")
        return int(a), int(b)
    except ValueError:
        raise _core.ArchsweepError(f"--range {text!r}: expected START:END, e.g. 0:1000000") from None


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise _core.ArchsweepError(f"--shard {text!r}: expected I/N, e.g. 0/8") from None
    return i, n


def cmd_sweep(args) -> int:
    from archsweep.render import console
    from archsweep.space import Space
    from archsweep.sweep import sweep

    space = Space.load(args.spec)
    summary = sweep(
        space, where=args.where, sample=args.sample, seed=args.seed, sampler=args.sampler, out=args.out, resume=args.resume,
        shard=_shard(args.shard), grid_range=_range(args.grid_range), threads=args.threads, batch=args.batch, dtype=args.dtype,
        optimizer=args.optimizer, chunk_rows=args.chunk_rows, max_variants=args.max_variants,
        progress=not args.no_progress and sys.stderr.isatty(),
        engine=args.engine, scheduler=args.scheduler, workers=args.workers,
    )
    c = console(sys.stderr)
    c.print(
        f"[bold]{space.name}[/]: evaluated {summary.evaluated:,} variants in {summary.seconds:.2f} s "
        f"({summary.rate / 1e6:.2f} M/s); kept {summary.kept:,} rows ({summary.invalid:,} invalid), "
        f"filtered out {summary.filtered_out:,}, rejected by constraints {summary.rejected_by_constraints:,}; "
        f"{summary.parts_written} part files written, {summary.parts_skipped} already done → {args.out}"
    )
    return 0


def _ranges(ks: list[int], limit: int = 8) -> str:
    """[0, 1, 2, 5, 7, 8] → "0-2, 5, 7-8"."""
    out: list[str] = []
    i = 0
    while i < len(ks) and len(out) < limit:
        j = i
        while j + 1 < len(ks) and ks[j + 1] == ks[j] + 1:
            j += 1
        out.append(str(ks[i]) if i == j else f"{ks[i]}-{ks[j]}")
        i = j + 1
    return ", ".join(out) + (", ..." if i < len(ks) else "")


_BYTES = {"weight_bytes", "buffer_bytes", "activation_bytes", "peak_activation_bytes", "train_bytes"}
_COUNTS = {"params", "trainable_params", "buffers", "macs", "flops", "other_ops"}


def _emit_rows(df, args, title: str, extra: list[str] = ()) -> int:
    """Rows of a sweep dataset: a rich table with human units beside raw numbers, or a file."""
    import polars as pl
    from rich.table import Table

    from archsweep.io import atomic_write
    from archsweep.units import commas, human_count, mb, mib

    if args.format == "parquet":
        if not args.output:
            raise _core.ArchsweepError("--format parquet needs -o FILE")
        atomic_write(args.output, lambda p: df.write_parquet(p))
        return 0
    if args.format == "csv":
        if "output_shape" in df.columns:
            df = df.with_columns(pl.col("output_shape").cast(pl.List(pl.String)).list.join("x"))
        _write(args, df.write_csv())
        return 0
    if args.format == "json":
        _write(args, df.write_json() + "\n")
        return 0
    # the variables, then the headline metrics (and any other column asked about); all columns
    # are in --format csv/json/parquet
    metrics = set(_BYTES) | set(_COUNTS) | {"num_layers"}
    wanted = ["params", "macs", "weight_bytes", "peak_activation_bytes", *extra]
    shown = [c for c in df.columns if c not in metrics and c not in ("valid", "error", "output_shape")]
    shown += [c for c in dict.fromkeys(wanted) if c in df.columns and c not in shown]
    t = Table(title=title, title_justify="left")
    for c in shown:
        # an id is never shortened to "2767411238…" when the table is squeezed
        whole = dict(no_wrap=True, min_width=max(len(c), len(str(df[c].max() or 0)))) if c == "variant_id" else {}
        t.add_column(c, justify="left" if df.schema[c] == pl.String else "right", **whole)
    for row in df.select(shown).iter_rows(named=True):
        cells = []
        for c in shown:
            v = row[c]
            if c in _BYTES and v is not None:
                cells.append(f"{commas(v)} ({mib(v)} / {mb(v)})")
            elif c in _COUNTS and v is not None:
                cells.append(f"{commas(v)} ({human_count(v)})")
            else:
                cells.append(str(v))
        t.add_row(*cells)
    import sys as _sys

    from rich.console import Console

    Console(width=None if _sys.stdout.isatty() else 240, highlight=False).print(t)
    return 0


def cmd_pareto(args) -> int:
    from archsweep.sweep import pareto, scan

    cols = [c.strip() for c in args.minimize.split(",") if c.strip()]
    front = pareto(scan(args.dir), minimize=cols, where=args.where)
    return _emit_rows(front, args, f"Pareto front of {args.dir} minimising {', '.join(cols)}: {front.height} rows", cols)


def cmd_top(args) -> int:
    from archsweep.sweep import scan, top_k

    rows = top_k(scan(args.dir), by=args.by, k=args.k, descending=args.largest, where=args.where)
    order = "largest" if args.largest else "smallest"
    return _emit_rows(rows, args, f"{rows.height} rows of {args.dir} with the {order} {args.by}", [args.by])


def cmd_query(args) -> int:
    from archsweep.sweep import query

    rows = query(args.dir, args.sql)
    return _emit_rows(rows, args, f"{rows.height} rows", list(rows.columns))


def cmd_plot(args) -> int:
    from archsweep.plot import plot_sweep

    plot_sweep(args.dir, x=args.x, y=args.y, color=args.color, where=args.where, out=args.output, agg=args.color_agg,
               logx=args.logx, logy=args.logy, bins=args.bins, front=not args.no_front)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from archsweep.report import sweep_report

    sweep_report(args.dir, args.output, front_rows=args.front_rows)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from archsweep.render import console
    from archsweep.sweep import sweep_status

    st = sweep_status(args.dir)
    if args.format == "json":
        sys.stdout.write(json.dumps(st, indent=2) + "\n")
        return 0
    c = console()
    run = st["run"]
    if run is None:
        c.print(f"{args.dir}: no manifest; {st['done']} part files, {st['rows']:,} rows", markup=False)
    else:
        from archsweep.sweep import run_sampler

        what = {"grid": "full grid", "sample": f"sample (seed {run['seed']}, sampler {run_sampler(run)})", "ids": "explicit ids"}.get(run["mode"], run["mode"])
        c.print(f"[bold]{st['space']}[/]: {what} of {run['positions']:,} positions, {run['chunk_rows']:,} per chunk; "
                f"spec {st['spec_hash'][:12]}" + (f"; where {run['where']}" if run["where"] else ""))
        state = "complete" if not st["pending"] else f"pending: {_ranges(st['pending'])}"
        c.print(f"chunks: {st['done']:,} of {st['chunks']:,} done, {len(st['pending']):,} pending — {state}", markup=False)
        c.print(f"positions done: {st['positions_done']:,} of {run['positions']:,}; rows written: {st['rows']:,}")
        for sh in st["shards"]:
            where_from = sh["manifest"] or "no manifest yet"
            c.print(f"  shard {sh['shard']}: {sh['done']:,} done, {sh['pending']:,} pending ({where_from})", markup=False)
    for f in st["failed"]:
        c.print(f"failed: chunk {f['chunk']} [{f['start']:,}, {f['end']:,}): {f['error']}", markup=False)
    if st["temporary"]:
        c.print(f"temporary files: {len(st['temporary'])} (chunks being written, or left by a killed writer)", markup=False)
    for problem in st["problems"]:
        c.print(f"warning: {problem}", markup=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"analyze": cmd_analyze, "ops": cmd_ops, "zoo": cmd_zoo, "space": cmd_space, "sweep": cmd_sweep}
    handlers["status"] = cmd_status
    handlers["pareto"] = cmd_pareto
    handlers["top"] = cmd_top
    handlers["query"] = cmd_query
    handlers["plot"] = cmd_plot
    handlers["report"] = cmd_report
    try:
        return handlers[args.command](args)
    except _core.ArchsweepError as e:
        print(f"archsweep: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a query polars refuses (unknown column, SQL syntax): say so, no traceback
        import polars as pl

        if not isinstance(e, pl.exceptions.PolarsError):
            raise
        print(f"archsweep: error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archsweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
