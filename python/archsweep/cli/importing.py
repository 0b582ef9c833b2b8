"""archsweep import: a PyTorch model (torchvision, timm, a factory) or an ONNX file as a model file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archsweep.cli.common import shape

NAME = "import"

REFERENCES = """\
references:
  torchvision:NAME       a torchvision classification model (torchvision:resnet50)
  timm:NAME              a timm model, pretrained=False (timm:convnext_tiny)
  pkg.module:factory     a callable returning an nn.Module (or an nn.Module class or instance)
  FILE.onnx              an ONNX file (pip install 'archsweep[onnx]'; archsweep.from_onnx)
The module is built without weights (on the meta device where it allows) and traced with
torch.fx on a fake input; the result is checked against torch (params, buffers and
FlopCounterMode's FLOPs) before it is written. Layer names are the module's qualified names.
"""


def register(sub: Any) -> None:
    a = sub.add_parser(
        "import", help="a PyTorch model (torchvision:, timm:, pkg.module:factory) or ONNX file as a model file",
        description="Convert a PyTorch model or an ONNX file to an archsweep model file (TOML, YAML or JSON by "
        "the suffix of -o), which archsweep analyze reads. Needs pip install 'archsweep[torch]' (or [onnx]).",
        epilog=REFERENCES + "\nexamples:\n  archsweep import torchvision:resnet50 -o resnet50.toml\n"
        "  archsweep import timm:convnext_tiny --input 3x224x224 -o convnext_tiny.toml\n"
        "  archsweep import mypkg.models:build_net -o net.yaml\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("ref", metavar="REF", help="torchvision:NAME, timm:NAME, pkg.module:factory or FILE.onnx")
    a.add_argument("-o", "--output", type=Path, required=True, help="the model file to write (.toml, .yaml, .yml or .json)")
    a.add_argument("--input", type=shape, metavar="CxHxW",
                   help="per-sample input shape (default: the model's own: timm's config, 299 for inception_v3, the ONNX file's; else 3x224x224)")


def run(args: argparse.Namespace) -> int:
    from archsweep.analysis import analyze
    from archsweep.io import output_file
    from archsweep.model import ModelFileError
    from archsweep.pytorch.refs import import_model, is_reference

    if args.output.suffix.lower() not in (".toml", ".yaml", ".yml", ".json"):
        raise ModelFileError(f"{args.output}: unknown model file type '{args.output.suffix}' (use .toml, .yaml, .yml or .json)")
    output_file(args.output, create=False)  # a bad output path is reported before the (slow) import
    if not is_reference(args.ref):
        from archsweep.pytorch.refs import ModelReferenceError

        raise ModelReferenceError(f"'{args.ref}' is not a model reference (torchvision:NAME, timm:NAME, "
                                  "pkg.module:factory or FILE.onnx)")
    model = import_model(args.ref, args.input)
    model.save(args.output)
    totals = analyze(model).totals
    print(f"wrote {args.output}: {len(model.layers)} layers, input {'x'.join(map(str, model.input or []))}, "
          f"{totals['params']:,} params, {totals['macs']:,} MACs", file=sys.stderr)
    return 0
