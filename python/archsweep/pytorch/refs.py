"""Models people already have, by reference: ``torchvision:resnet50``, ``timm:convnext_tiny``,
``pkg.module:factory`` (a callable returning an ``nn.Module``, an ``nn.Module`` class, or a
module instance) and ``model.onnx`` — what ``archsweep import`` and ``archsweep analyze`` accept.

The module is built without weights (``pretrained=False``, ``weights=None``; on the meta device
where the model allows it, so nothing is allocated) and converted by
:func:`archsweep.from_torch`.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsweep._core import ArchsweepError
from archsweep.model import Model

#: The per-sample input used when neither the reference nor the caller gives one.
DEFAULT_INPUT = (3, 224, 224)

#: torchvision models whose default input is not 3 x 224 x 224.
_TORCHVISION_INPUT = {"inception_v3": (3, 299, 299)}

_REFERENCE = re.compile(r"(torchvision|timm):[A-Za-z0-9_.\-]+|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*")


class ModelReferenceError(ArchsweepError):
    """A model reference that names nothing that can be built (unknown model, module or factory)."""


def is_reference(text: str) -> bool:
    """``text`` names a model to import rather than a model file or zoo name: an ONNX file, or a
    reference that is not an existing file."""
    if text.lower().endswith(".onnx"):
        return True
    return not Path(text).exists() and _REFERENCE.fullmatch(text) is not None


def _require(package: str, install: str) -> Any:
    """torch and then ``package``, or :class:`archsweep.TorchMissingError` saying what to
    install (``install``)."""
    from archsweep.pytorch import TorchMissingError, require_torch

    require_torch()
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise TorchMissingError(f"this needs {package}, which cannot be imported ({e}): {install}") from None


def _unknown(kind: str, name: str, known: Sequence[str]) -> ModelReferenceError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ModelReferenceError(f"unknown {kind} model '{name}' ({len(known)} are known{hint})")


def _on_meta(torch: Any, build: Any) -> Any:
    """``build()`` on the meta device (no memory for weights); on the CPU when the model's
    constructor reads tensor values back (RegNet's widths), which the meta device cannot."""
    try:
        with torch.device("meta"):
            return build()
    except (NotImplementedError, RuntimeError):
        return build()


def torchvision_module(name: str) -> tuple[Any, tuple[int, ...]]:
    """torchvision's classification model ``name`` (no weights) and its default input."""
    torch = _require("torch", "pip install 'archsweep[torch]'")
    tv = _require("torchvision", "pip install 'archsweep[torchvision]'")
    known = tv.models.list_models(module=tv.models)
    if name not in known:
        raise _unknown("torchvision classification", name, known)
    return _on_meta(torch, lambda: tv.models.get_model(name, weights=None)), _TORCHVISION_INPUT.get(name, DEFAULT_INPUT)


def timm_module(name: str) -> tuple[Any, tuple[int, ...]]:
    """timm's model ``name`` (``pretrained=False``: no download) and its default input, from the
    model's pretrained config."""
    torch = _require("torch", "pip install 'archsweep[torch]'")
    timm = _require("timm", "pip install 'archsweep[timm]'")
    if not timm.is_model(name):
        raise _unknown("timm", name, timm.list_models())
    m = _on_meta(torch, lambda: timm.create_model(name, pretrained=False))
    cfg = getattr(m, "pretrained_cfg", None) or {}
    size = cfg.get("input_size") or DEFAULT_INPUT
    return m, tuple(int(d) for d in size)


def factory_module(ref: str) -> tuple[Any, tuple[int, ...]]:
    """``pkg.module:factory``: the module imported, ``factory`` looked up in it (dots walk
    attributes) and, unless it is already an ``nn.Module``, called with no arguments."""
    torch = _require("torch", "pip install 'archsweep[torch]'")
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ModelReferenceError(f"{ref}: cannot import module '{module_name}': {e}") from None
    except Exception as e:  # the module's own code failed  # noqa: BLE001
        raise ModelReferenceError(f"{ref}: importing '{module_name}' raised {type(e).__name__}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelReferenceError(f"{ref}: '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise ModelReferenceError(f"{ref}: '{attr}' is a {type(obj).__name__}, not an nn.Module or a callable returning one")
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001
            raise ModelReferenceError(f"{ref}: calling {attr}() raised {type(e).__name__}: {e}") from None
        if not isinstance(obj, torch.nn.Module):
            raise ModelReferenceError(f"{ref}: {attr}() returned a {type(obj).__name__}, not an nn.Module")
    return obj, DEFAULT_INPUT


def module_of(ref: str) -> tuple[Any, tuple[int, ...], str]:
    """The ``nn.Module`` a reference names, its default per-sample input and a model name."""
    kind, _, rest = ref.partition(":")
    if kind == "torchvision":
        return (*torchvision_module(rest), rest)
    if kind == "timm":
        return (*timm_module(rest), rest)
    if not rest:
        raise ModelReferenceError(f"'{ref}' is not a model reference (torchvision:NAME, timm:NAME or pkg.module:factory)")
    return (*factory_module(ref), rest.rpartition(".")[2])


def import_model(ref: str, input_shape: Sequence[int] | None = None) -> Model:
    """The archsweep :class:`Model` of a reference: ``torchvision:NAME``, ``timm:NAME``,
    ``pkg.module:factory`` or an ONNX file (``x.onnx``, :func:`archsweep.from_onnx`).
    ``input_shape`` (per sample) defaults to the model's own (timm's config, 299 for Inception
    v3, the ONNX file's input) or 3 x 224 x 224.

    Raises :class:`archsweep.TorchMissingError` naming the extra to install,
    :class:`ModelReferenceError` for an unknown model, and :class:`archsweep.FromTorchError`
    naming the module path and call that has no archsweep counterpart."""
    if ref.lower().endswith(".onnx"):
        from archsweep.onnx import from_onnx

        return from_onnx(ref, input_shape)
    from archsweep.pytorch.trace import FromTorchError, from_torch

    module, default, name = module_of(ref)
    shape = tuple(input_shape) if input_shape is not None else default
    try:
        model = from_torch(module, shape, name=name)
    except FromTorchError as e:
        raise FromTorchError(f"{ref}: {e}") from None
    model.source = ref
    return model
