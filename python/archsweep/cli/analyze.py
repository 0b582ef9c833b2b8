"""archsweep analyze: the cost of one model, per layer and in total."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.cli.common import rows_arg, shape, write

NAME = "analyze"


def register(sub: Any) -> None:
    a = sub.add_parser(
        "analyze", help="cost of one model, per layer and in total",
        description="Print the cost of one model: per-layer output shape, params, MACs, other ops and "
        "activation memory, then totals (weights, peak activations, saved for backward, a training step).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="memory model: weights = params × dtype bytes (buffers keep their own dtype); activations = "
        "sum of layer outputs for the batch; peak = live tensors walking the layers in order; training = "
        "weights + buffers + grads + optimizer state + saved activations (see README).",
    )
    a.add_argument("model", help="a model file (.toml, .yaml, .json), the name of a zoo model (archsweep zoo lists them), "
                   "or a model to import: torchvision:NAME, timm:NAME, pkg.module:factory, FILE.onnx (see archsweep import)")
    a.add_argument("--input", type=shape, metavar="CxHxW", help="per-sample input shape, overrides the file's (e.g. 3x160x160)")
    a.add_argument("--batch", type=int, default=1, help="batch size for activations and MACs (default 1)")
    a.add_argument("--dtype", default="fp32", help="fp32 (default), fp16, bf16, int8, fp8, fp64: bytes per weight and activation")
    a.add_argument("--optimizer", default="adam", help="sgd, momentum, adam (default), adamw: optimizer state in the training memory (train_bytes)")
    a.add_argument("--format", choices=["table", "json", "csv", "parquet"], default="table", help="output format (default: table)")
    a.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout (required for parquet)")
    a.add_argument("--explain", action="store_true", help="print each layer's formula with its numbers")
    a.add_argument("--depth", type=int, metavar="N",
                   help="group layers by the first N parts of their dotted names (layer1.0.conv1 is in layer1.0 at "
                        "depth 2): one row per group with its layers' counts summed (torchinfo's depth, fvcore's max_depth)")
    rows_arg(a, "layers (or groups)")
    a.add_argument("--plot", type=Path, metavar="FILE",
                   help="also draw each layer's share of params, MACs and activation memory (.png, .svg or .html)")


def run(args: argparse.Namespace) -> int:
    from archsweep.analysis import run_analysis
    from archsweep.io import atomic_write, output_file
    from archsweep.render import print_report

    # where the output goes is checked first: a bad path is reported before any output is written
    if args.output:
        output_file(args.output, create=False)
    if args.format == "parquet" and not args.output:
        raise _core.ArchsweepError("--format parquet needs -o FILE")
    if args.plot:
        from archsweep.plot import _check_format

        _check_format(args.plot)
        output_file(args.plot, create=False)
    if args.depth is not None and args.depth < 1:
        raise _core.ArchsweepError(f"--depth {args.depth}: need at least 1 (1 groups by the first part of the layer names)")
    if args.depth is not None and args.explain:
        raise _core.ArchsweepError("--explain prints every layer's formula: it takes no --depth")
    model: Any = args.model
    from archsweep.pytorch.refs import import_model, is_reference

    if is_reference(args.model):  # a PyTorch model or ONNX file, converted first
        model = import_model(args.model, args.input)
    report = run_analysis(model, args.input, args.batch, args.dtype, args.optimizer, flags=True)
    if args.depth is not None:
        _grouped(args, report)
    elif args.format == "table":
        if args.output:  # plain text, no colours; written whole or not at all
            buf = io.StringIO()
            print_report(report, explain=args.explain, stream=buf, max_rows=args.rows)
            write(args, buf.getvalue())
        else:
            print_report(report, explain=args.explain, max_rows=args.rows)
    elif args.format == "json":
        write(args, json.dumps(report.to_dict(), indent=2) + "\n")
    elif args.format == "csv":
        write(args, report.flat_layers().write_csv())
    elif args.format == "parquet":
        if not args.output:
            raise _core.ArchsweepError("--format parquet needs -o FILE")
        atomic_write(args.output, lambda p: report.layers.write_parquet(p))
        print(f"wrote {len(report.layers)} layers to {args.output}", file=sys.stderr)
    if args.plot:
        from archsweep.plot import plot_layers

        plot_layers(report, args.plot, depth=args.depth)
        print(f"wrote per-layer shares to {args.plot}", file=sys.stderr)
    return 0


def _grouped(args: argparse.Namespace, report: Any) -> None:
    """--depth N: the groups' rows in the chosen format."""
    import polars as pl

    from archsweep.io import atomic_write
    from archsweep.render import print_grouped

    groups = report.grouped(args.depth)
    if args.format == "table":
        if args.output:
            buf = io.StringIO()
            print_grouped(report, groups, args.depth, stream=buf, max_rows=args.rows)
            write(args, buf.getvalue())
        else:
            print_grouped(report, groups, args.depth, max_rows=args.rows)
    elif args.format == "json":
        out = report.to_dict()
        out["depth"] = args.depth
        out["layers"] = groups.to_dicts()
        write(args, json.dumps(out, indent=2) + "\n")
    elif args.format == "csv":
        write(args, groups.with_columns(pl.col("output_shape").cast(pl.List(pl.String)).list.join("x")).write_csv())
    else:
        atomic_write(args.output, lambda p: groups.write_parquet(p))
        print(f"wrote {len(groups)} groups to {args.output}", file=sys.stderr)
