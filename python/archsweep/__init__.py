"""archsweep: exact, analytic cost of neural networks — shapes, parameters, MACs/FLOPs, memory.

>>> import archsweep
>>> report = archsweep.analyze("data/models/vgg16.toml")
>>> report.totals["params"]
138357544
"""

from archsweep.analysis import Report, analyze
from archsweep.errors import (
    ArchsweepError,
    ArgumentTypeError,
    AttributeSpecError,
    CountOverflowError,
    ExpressionError,
    InvalidModelError,
    ShapeError,
    SpecError,
    UnknownOpError,
)
from archsweep.model import Model, ModelFileError, load
from archsweep.onnx import FromOnnxError, from_onnx
from archsweep.pytorch import FromTorchError, TorchMissingError, export_torch, from_torch, to_torch, torch_source
from archsweep.space import Space
from archsweep.summary import Summary, summary
from archsweep.sweep import SweepSummary, pareto, query, scan, sweep, sweep_to_dataset, top_k
from archsweep.units import human_bytes, human_count

__all__ = [
    "ArchsweepError",
    "ArgumentTypeError",
    "AttributeSpecError",
    "CountOverflowError",
    "ExpressionError",
    "FromOnnxError",
    "FromTorchError",
    "InvalidModelError",
    "Model",
    "ModelFileError",
    "Report",
    "Space",
    "ShapeError",
    "SpecError",
    "Summary",
    "SweepSummary",
    "TorchMissingError",
    "UnknownOpError",
    "analyze",
    "export_torch",
    "from_onnx",
    "from_torch",
    "human_bytes",
    "human_count",
    "load",
    "ops",
    "pareto",
    "plot_layers",
    "plot_sweep",
    "query",
    "scan",
    "summary",
    "sweep",
    "sweep_report",
    "sweep_to_dataset",
    "to_torch",
    "top_k",
    "torch_source",
    "zoo",
]

__version__ = "0.1.0"


def ops() -> list[str]:
    """The names of every op the core knows (`archsweep ops` prints them)."""
    from archsweep._core import op_names

    return list(op_names())


_LAZY = {"plot_sweep": "archsweep.plot", "plot_layers": "archsweep.plot", "sweep_report": "archsweep.report"}


def __getattr__(name: str) -> object:
    # plotting and reports import matplotlib: only when first used, not on `import archsweep`
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archsweep' has no attribute {name!r}")


from archsweep import zoo  # noqa: E402  (the model zoo: presets of data/families/*.toml)
