"""archsweep export: a model, a zoo model or one variant of a space as standalone PyTorch source."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.cli.common import shape

NAME = "export"

#: Keys that make a file a search space rather than a plain model.
SPACE_KEYS = ("variables", "derived", "constraints", "subgraphs", "presets")

EPILOG = """\
The file defines one nn.Module class (named after the model or space; --class-name to choose)
and imports only torch. Its submodules are named after the layers, so state_dict keys are the
layer names (features.0.0.weight): names that are not identifiers live in nn.ModuleDicts
(self.features["0"]["0"]); forward is written out in the model's order. Its docstring records
where it came from (the spec, the variant id and its configuration) and archsweep's counts.
`python net.py` builds the model and runs it on zeros; `from net import Vgg` to train it.
Writing the file does not need torch; running it does (pip install 'archsweep[torch]').

examples:
  archsweep export data/models/vgg16.toml -o vgg16.py
  archsweep export data/spaces/vgg.toml --id 12345 -o net.py && python -c "import net"
  archsweep export resnet50 -o resnet50.py                   # a zoo model, by name
  archsweep export data/families/resnet.toml --preset resnet18 --input 3x64x64 -o r18.py
"""


def register(sub: Any) -> None:
    e = sub.add_parser(
        "export", help="write a model or one variant of a space as standalone PyTorch source",
        description="Write standalone PyTorch source (an nn.Module class) for a model file, a zoo model, "
        "or one variant of a search space chosen by --id or --preset. archsweep.to_torch(model) builds "
        "the same module in Python.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("source", help="a model file, a space spec (.toml, .yaml, .json; with --id or --preset) "
                   "or the name of a zoo model (archsweep zoo lists them)")
    e.add_argument("--id", type=int, default=None, help="the variant id, for a space spec (archsweep space SPEC shows its variables)")
    e.add_argument("--preset", default=None, help="a named configuration ([presets.NAME]) of the spec, instead of --id")
    e.add_argument("--input", type=shape, metavar="CxHxW", help="per-sample input shape, overrides the model's (e.g. 3x160x160)")
    e.add_argument("--class-name", default=None, help="name of the generated class (default: from the model's or space's name)")
    e.add_argument("-o", "--output", type=Path, help="write to this file (default: stdout)")


def _is_space(path: Path) -> bool:
    from archsweep.model import parse_text

    data = parse_text(path.read_text(encoding="utf-8"), path.suffix.lower(), str(path))
    if not isinstance(data, dict):
        return False
    layers = data.get("layers")
    blocks = isinstance(layers, list) and any(isinstance(layer, dict) and "layers" in layer for layer in layers)
    return blocks or any(k in data for k in SPACE_KEYS)


def run(args: argparse.Namespace) -> int:
    from archsweep.analysis import _is_zoo_name
    from archsweep.io import atomic_write_text
    from archsweep.pytorch import Generated, generated

    source = Path(args.source)
    if args.id is not None and args.preset is not None:
        raise _core.ArchsweepError("give --id or --preset, not both")
    g: Generated
    if args.id is not None or args.preset is not None or (source.is_file() and _is_space(source)):
        from archsweep.space import Space

        if not source.is_file():
            raise _core.ArchsweepError(f"{source}: no such space file")
        space = Space.load(source)
        if args.id is None and args.preset is None:
            raise _core.ArchsweepError(
                f"{source} is a search space of {space.size:,} variants: choose one with --id N (0 <= N < {space.size:,}) "
                f"or --preset NAME{' (' + ', '.join(sorted(space.presets)) + ')' if space.presets else ''}"
            )
        vid = args.id if args.id is not None else space.preset_id(args.preset)
        g = space.generated(vid, class_name=args.class_name, input_shape=args.input, preset=args.preset)
    else:
        if not source.exists() and not _is_zoo_name(args.source):
            raise _core.ArchsweepError(f"{source}: no such model file")
        g = generated(args.source, args.input, class_name=args.class_name)
    if args.output:
        atomic_write_text(args.output, g.source)
        print(f"wrote class {g.class_name} ({len(g.paths)} submodules and parameters) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(g.source)
    return 0
