"""The `archsweep` command line: one module per command, each registering its own subparser
(``register(sub)``) and running it (``run(args)``)."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from archsweep import _core
from archsweep.cli import analyze, export, ops, pareto, plot, query, report, space, status, sweep, top, verify, zoo

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
  archsweep export data/spaces/vgg.toml --id 12345 -o net.py  # one variant as PyTorch source
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --seed 0
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --where "params < 5e6 and macs < 3e8"
  archsweep sweep data/spaces/vgg.toml -o out/ --sample 1000000 --engine dask --workers 4
  archsweep status out/
  archsweep verify out/ --full
  archsweep pareto out/ --minimize params,macs,peak_activation_bytes
  archsweep plot out/ --x params --y peak_activation_bytes --color macs -o front.png
  archsweep report out/ -o report.html
  archsweep analyze data/models/vgg16.toml --plot layers.png
"""


#: The commands, in the order `archsweep --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (analyze, ops, zoo, space, export, sweep, pareto, top, query, plot, report, status, verify)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="archsweep", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {command.NAME: command.run for command in COMMANDS}
    try:
        return int(handlers[args.command](args))
    except _core.ArchsweepError as e:
        print(f"archsweep: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a query polars refuses (unknown column, SQL syntax): say so, no traceback
        import polars as pl

        if not isinstance(e, pl.exceptions.PolarsError):
            raise
        print(f"archsweep: error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}{_diagnosis(args, e)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archsweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


#: Words of polars' errors about a file it could not decode (not about a query).
_UNREADABLE = ("out of specification", "out-of-spec", "decode", "zstd", "thrift")


def _diagnosis(args: argparse.Namespace, e: Exception) -> str:
    """When reading a dataset failed on a file polars could not decode, which part it is: the
    footer checks before the read passed, so each part is read whole (archsweep verify --full)."""
    directory = getattr(args, "dir", None)
    if directory is None or args.command not in ("top", "pareto", "query", "plot", "report"):
        return ""
    if not any(w in str(e).lower() for w in _UNREADABLE):
        return ""
    from archsweep.sweep.verify import inspect_dataset

    damaged = inspect_dataset(directory, full=True).damaged
    if not damaged:
        return ""
    return "; " + "; ".join(f"{c.name}: {c.problem}" for c in damaged[:5]) + " (sweep --resume computes it again)"


if __name__ == "__main__":
    sys.exit(main())
