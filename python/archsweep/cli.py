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
  archsweep ops
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
    a.add_argument("model", help="a model file (.toml, .yaml, .json)")
    a.add_argument("--input", type=_shape, metavar="CxHxW", help="per-sample input shape, overrides the file's (e.g. 3x160x160)")
    a.add_argument("--batch", type=int, default=1, help="batch size for activations and MACs (default 1)")
    a.add_argument("--dtype", default="fp32", help="fp32 (default), fp16, bf16, int8, fp8, fp64: bytes per weight and activation")
    a.add_argument("--optimizer", default="adam", help="sgd, momentum, adam (default), adamw: optimizer state in the training estimate")
    a.add_argument("--format", choices=["table", "json", "csv", "parquet"], default="table", help="output format (default: table)")
    a.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout (required for parquet)")
    a.add_argument("--explain", action="store_true", help="print each layer's formula with its numbers")

    sub.add_parser("ops", help="list the ops the core knows", description="List every op name usable in model files.")
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
    return 0


def cmd_ops(args) -> int:
    for name in _core.op_names():
        print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"analyze": cmd_analyze, "ops": cmd_ops}
    try:
        return handlers[args.command](args)
    except _core.ArchsweepError as e:
        print(f"archsweep: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archsweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
