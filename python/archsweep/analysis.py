"""`analyze`: one model's shapes, counts and memory, computed by the Rust core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from archsweep import _core, checks
from archsweep.model import Model, input_hint, load

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Per-layer columns, in order (stable names; see README "Columns").
LAYER_COLUMNS = [
    "name", "op", "inputs", "output_shape", "params", "weight_params", "bias_params",
    "trainable_params", "buffers", "buffer_bytes", "macs", "flops", "other_ops",
    "weight_bytes", "activation_bytes", "saved_bytes", "is_view", "reaches_output", "formula",
]

#: Totals keys (stable names).
TOTAL_KEYS = [
    "params", "weight_params", "bias_params", "trainable_params", "buffers", "buffer_bytes",
    "macs", "flops", "other_ops", "weight_bytes", "input_bytes", "activation_bytes",
    "peak_activation_bytes", "saved_bytes", "grad_bytes", "optimizer_bytes", "train_bytes",
    "peak_eager_bytes",
]

#: The count and byte columns of the layer table: Int64, as a sweep's metric columns are (a count
#: beyond 2**63 - 1 is a CountOverflowError naming the layer and the column).
COUNT_COLUMNS = [c for c in LAYER_COLUMNS if c not in ("name", "op", "inputs", "output_shape", "is_view", "reaches_output", "formula")]


def _layers_frame(rows: _core.ArrowRows) -> pl.DataFrame:
    """The layer table from the core's Arrow record batch (one struct array, imported without
    a copy; a Python list per column made 1.5 million ints for a 100,000-layer chain)."""
    from archsweep.sweep.chunk import frame_of_rows

    return frame_of_rows(rows)


@dataclass
class Report:
    """The cost of one model: ``totals`` (a dict of ints) and ``layers`` (a polars DataFrame,
    one row per layer). All counts are exact integers; bytes are raw bytes."""

    name: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    optimizer: str
    totals: dict[str, int]
    layers: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` object (stable keys)."""
        rows = self.layers.to_dicts()
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "totals": dict(self.totals),
            "layers": rows,
        }

    def grouped(self, depth: int) -> pl.DataFrame:
        """The layers grouped by the first ``depth`` parts of their dotted names (``layer1.0.conv1``
        is in group ``layer1.0`` at depth 2), in order of first appearance: ``layers`` (how many),
        ``op`` (the layer's op for a group of one layer named as the group, else ``block``), the
        group's last ``output_shape``, and every count and byte column summed (exact: each group
        total is the sum of its layers, and the groups' sums are the model's totals)."""
        depth = checks.integer(depth, "depth", low=1, high=1 << 16)
        key = pl.col("name").str.split(".").list.head(depth).list.join(".")
        return (
            self.layers.with_columns(key.alias("_group"))
            .group_by("_group", maintain_order=True)
            .agg(
                pl.len().cast(pl.Int64).alias("layers"),
                pl.when((pl.len() == 1) & (pl.col("name").first() == pl.col("_group").first()))
                .then(pl.col("op").first()).otherwise(pl.lit("block")).alias("op"),
                pl.col("output_shape").last(),
                *(pl.col(c).sum() for c in COUNT_COLUMNS),
            )
            .rename({"_group": "name"})
        )

    def explain(self) -> list[str]:
        """One line per layer: its formula with its numbers."""
        width = max(len(n) for n in self.layers["name"])
        return [f"{n:<{width}}  {f}" for n, f in zip(self.layers["name"], self.layers["formula"])]

    def flat_layers(self) -> pl.DataFrame:
        """``layers`` with list columns turned into text (for CSV)."""
        return self.layers.with_columns(
            pl.col("inputs").list.join(","),
            pl.col("output_shape").cast(pl.List(pl.String)).list.join("x"),
        )

    def plot(self, path: str | Path | None = None, *, depth: int | None = None) -> Figure:
        """Each layer's share of params, MACs and activation memory as three bar panels (a
        matplotlib Figure; written to ``path`` if given: .png, .svg or .html); a deep network by
        block, or grouped to ``depth`` parts of the layer names. See
        :func:`archsweep.plot.plot_layers`."""
        from archsweep.plot import plot_layers

        return plot_layers(self, path, depth=depth)

    def __repr__(self) -> str:
        from archsweep.units import human_bytes, human_count

        t = self.totals
        return (
            f"<Report {self.name} input={self.input_shape} dtype={self.dtype}: "
            f"{t['params']:,} params ({human_count(t['params'])}), {t['macs']:,} MACs "
            f"({human_count(t['macs'])}), weights {human_bytes(t['weight_bytes'])}>"
        )


def _as_model(model: Model | str | Path | dict) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, dict):
        return Model.from_dict(model)
    if isinstance(model, str) and _is_zoo_name(model):
        from archsweep import zoo

        return zoo.load(model)
    if isinstance(model, (str, Path)):
        return load(model)
    raise checks.ArgumentTypeError(f"analyze() takes a Model, a path, a zoo model name or a dict, not {type(model).__name__}")


def _is_zoo_name(text: str) -> bool:
    """A str that is not an existing file, has no model-file suffix and no directory part is
    the name of a zoo model (``"resnet50"``); anything else is read as a model file."""
    p = Path(text)
    return (
        not p.exists()
        and p.suffix.lower() not in (".toml", ".yaml", ".yml", ".json")
        and "/" not in text and "\\" not in text
    )


def _count(value: Any, what: str) -> int:
    """``value`` as an exact integer in 0..2**64 - 1 (a Python int or anything with ``__index__``,
    such as a numpy integer; never a bool, a float or a string)."""
    return checks.integer(value, what, high=checks.U64_MAX)


def _input_shape(input_shape: Any) -> list[int]:
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Iterable):
        hint = input_hint(input_shape, "input_shape").replace(" = [", "=(").replace("]", ")") if isinstance(input_shape, str) else ""
        raise checks.ArgumentTypeError(
            f"input_shape must be a sequence of positive ints (the per-sample shape, e.g. (3, 224, 224)), "
            f"got {checks.show(input_shape)}" + (f": write {hint}" if hint else "")
        )
    shape = [_count(d, f"input_shape[{i}]") for i, d in enumerate(input_shape)]
    if any(d < 1 for d in shape):
        raise _core.ArchsweepError(f"input shape {tuple(shape)} must have positive dims")
    return shape


def batch_hint(model: Model, shape: list[int] | None, batch: int, dtype: str, optimizer: str, flags: bool = False) -> str:
    """For an input shape that fails, if it is a batch-included shape (torchinfo's
    ``(1, 3, 224, 224)``) whose per-sample part works: how to say it (``flags``: on the command
    line), else ''."""
    if shape is None or len(shape) < 2:
        return ""
    try:
        _core.analyze_json(model.to_json(), shape[1:], shape[0], dtype, optimizer)
    except _core.ArchsweepError:
        return ""
    sample = "x".join(map(str, shape[1:])) if flags else str(tuple(shape[1:]))
    if flags:
        return f"the input shape is per sample, batch excluded: for a batch of {shape[0]}, write --input {sample} --batch {shape[0]}"
    return f"input_shape is per sample, batch excluded: for a batch of {shape[0]}, write input_shape={sample}, batch={shape[0]}"


def analyze(
    model: Model | str | Path | dict,
    input_shape: Sequence[int] | None = None,
    batch: int = 1,
    dtype: str = "fp32",
    optimizer: str = "adam",
) -> Report:
    """Shapes, params, MACs/FLOPs and memory of every layer of ``model`` and in total.

    ``model`` is a :class:`Model`, a dict, a model file's path, or the name of a zoo model
    (``"resnet50"``; :mod:`archsweep.zoo`).

    ``input_shape`` is the per-sample shape (batch excluded), e.g. ``(3, 224, 224)``; it
    overrides the model file's ``input``. ``dtype`` (fp32, fp16, bf16, int8, fp8, fp64) sets
    weight and activation bytes; ``optimizer`` (sgd, momentum, adam, adamw) the training
    estimate. ``input_shape`` entries and ``batch`` must be integers in 1..2**64 - 1 (floats,
    bools and strings are refused, never truncated). Raises :class:`archsweep.ArchsweepError`
    naming the layer (or the argument), rule and numbers; for a batch-included ``input_shape``
    (``(1, 3, 224, 224)``) whose per-sample part works, the error says how to write it.
    """
    return run_analysis(model, input_shape, batch, dtype, optimizer)


def run_analysis(model: Model | str | Path | dict, input_shape: Sequence[int] | None, batch: int, dtype: str, optimizer: str,
                 flags: bool = False) -> Report:
    """:func:`analyze`; ``flags``: a hint in an error names command-line flags (``--input``)."""
    m = _as_model(model)
    shape = None if input_shape is None else _input_shape(input_shape)
    batch = _count(batch, "batch")
    if batch < 1:
        raise _core.ArchsweepError(f"batch must be at least 1, got {batch}")
    dtype = checks.text(dtype, "dtype")
    optimizer = checks.text(optimizer, "optimizer")
    try:
        raw = _core.analyze_json(m.to_json(), shape, batch, dtype, optimizer)
    except _core.ArchsweepError as e:
        hint = batch_hint(m, shape, batch, dtype, optimizer, flags)
        if hint:
            raise type(e)(f"{e}; {hint}") from None
        raise
    layers = _layers_frame(raw["layers"])
    return Report(
        name=raw["name"],
        input_shape=tuple(raw["input_shape"]),
        batch=raw["batch"],
        dtype=raw["dtype"],
        optimizer=raw["optimizer"],
        totals={k: raw["totals"][k] for k in TOTAL_KEYS},
        layers=layers,
    )
