"""The `archsweep` command line: one module per command, each registering its own subparser
(``register(sub)``) and running it (``run(args)``)."""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType

from archsweep import _core
from archsweep.cli import analyze, export, importing, ops, pareto, plot, query, report, space, status, sweep, top, verify, zoo

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
  archsweep import timm:convnext_tiny -o convnext_tiny.toml   # a PyTorch model (needs torch)
  archsweep analyze torchvision:resnet50                      # ... or analyzed directly
  archsweep analyze model.onnx                                # an ONNX file (needs onnx)
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
COMMANDS: tuple[ModuleType, ...] = (analyze, importing, ops, zoo, space, export, sweep, pareto, top, query, plot, report, status, verify)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="archsweep", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from archsweep import __version__

    p.add_argument("--version", action="version", version=f"archsweep {__version__}",
                   help="print archsweep's version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


#: Set to 1 to see the traceback of an internal error (a bug) instead of its one-line summary.
TRACEBACK_ENV = "ARCHSWEEP_TRACEBACK"


def _error(message: str, hint: str = "") -> int:
    """Print ``archsweep: error: MESSAGE`` (and a line of hint) to stderr, control characters
    escaped; exit status 2."""
    from archsweep.render import printable

    print(f"archsweep: error: {printable(message)}" + (f"\narchsweep: {hint}" if hint else ""), file=sys.stderr)
    return 2


def _os_error(e: OSError) -> str:
    """A file system error as ``PATH: what went wrong`` (no errno numbers, no traceback)."""
    what = e.strerror or str(e) or type(e).__name__
    if e.filename is not None and e.filename2 is not None:
        return f"{e.filename} -> {e.filename2}: {what}"
    if e.filename is not None:
        return f"{e.filename}: {what}"
    return what


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _broken_pipe() -> int:
    """The reader of stdout went away (``archsweep top ... | head``): stop quietly. stdout is
    pointed at /dev/null so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, replaced)
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command. Whatever goes wrong ends as one line ``archsweep: error: ...`` on stderr
    and exit status 2, never a traceback: a bad model, spec, option or dataset (ArchsweepError), a
    query polars refuses, a file that cannot be read or written; anything else is a bug, reported
    as "internal error" (``ARCHSWEEP_TRACEBACK=1`` shows its traceback). Ctrl-C exits with 130, a
    closed pipe quietly with 0."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # the command as given (sweep prints it back with --resume when interrupted)
    handlers = {command.NAME: command.run for command in COMMANDS}
    try:
        return int(handlers[args.command](args))
    except KeyboardInterrupt:
        print("archsweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _broken_pipe()
    except _core.ArchsweepError as e:
        return _error(str(e))
    except OSError as e:  # a file or directory that cannot be read or written
        return _error(_os_error(e))
    except RecursionError:
        return _error("the input is nested too deeply to be read")
    except MemoryError:
        return _error("out of memory")
    except Exception as e:
        polars = sys.modules.get("polars")
        if polars is not None and isinstance(e, polars.exceptions.PolarsError):
            # a query polars refuses (unknown column, SQL syntax) or a file it cannot decode
            return _error(f"{type(e).__name__}: {_first_line(e)}{_diagnosis(args, e)}")
        if os.environ.get(TRACEBACK_ENV) == "1":
            import traceback

            traceback.print_exc()
        return _error(f"internal error: {type(e).__name__}: {_first_line(e)}",
                      f"this is a bug in archsweep: please report it with the command that caused it "
                      f"({TRACEBACK_ENV}=1 prints where it happened)")


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

    try:
        damaged = inspect_dataset(directory, full=True).damaged
    except Exception:  # the diagnosis is a courtesy: the error itself is reported either way  # noqa: BLE001
        return ""
    if not damaged:
        return ""
    return "; " + "; ".join(f"{c.name}: {c.problem}" for c in damaged[:5]) + " (sweep --resume computes it again)"


if __name__ == "__main__":
    sys.exit(main())
