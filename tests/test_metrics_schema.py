"""The metric list exported by the Rust core, the result schema a compiled space gives without
evaluating anything, and the two sweep functions' return types."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import polars as pl
import pytest

import archsweep
from archsweep import ArchsweepError, Space, SweepSummary, _core
from archsweep import metrics as metrics_module

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"

# written out here on purpose: the exported list must keep these names, order, kinds and units
EXPECTED = [
    ("params", "count", "parameters"),
    ("trainable_params", "count", "parameters"),
    ("buffers", "count", "values"),
    ("macs", "count", "MACs"),
    ("flops", "count", "FLOPs"),
    ("other_ops", "count", "ops"),
    ("weight_bytes", "bytes", "bytes"),
    ("buffer_bytes", "bytes", "bytes"),
    ("activation_bytes", "bytes", "bytes"),
    ("peak_activation_bytes", "bytes", "bytes"),
    ("saved_bytes", "bytes", "bytes"),
    ("train_bytes", "bytes", "bytes"),
    ("num_layers", "layers", "layers"),
]

# ints, floats, a mix of both, booleans and a derived variable
SMALL = {
    "name": "small",
    "input": [3, "=side", "=side"],
    "variables": {"scale": [1, 2], "w": [4, 8], "drop": [0.0, 0.5], "z": [True, False], "mult": [1, 1.5]},
    "derived": {"side": "8 * scale"},
    "layers": [
        {"name": "c1", "op": "conv2d", "out_channels": "=w", "kernel_size": 3, "padding": 1},
        {"name": "d", "op": "dropout", "p": "=drop"},
        {"name": "c2", "op": "conv2d", "out_channels": "=w * 2", "kernel_size": 3, "when": "=z"},
        {"op": "flatten"},
        {"op": "linear", "out_features": "=round(4 * mult)"},
    ],
}


def wide_spec() -> dict:
    """10^30 variants: ids beyond 2^64 (Decimal(38, 0) in the table)."""
    return {
        "name": "wide",
        "input": [4],
        "variables": {f"v{i}": list(range(1, 11)) for i in range(30)},
        "layers": [{"name": f"fc{i}", "op": "linear", "out_features": f"=v{i}"} for i in range(30)],
    }


def test_core_metrics_are_the_expected_list():
    exported = _core.metrics()
    assert [(m["name"], m["kind"], m["unit"]) for m in exported] == EXPECTED
    for m in exported:
        assert set(m) == {"name", "kind", "unit", "label", "description"}
        assert m["label"] and m["description"] and "\n" not in m["description"]


def test_python_metric_lists_come_from_the_core():
    names = [name for name, _, _ in EXPECTED]
    assert list(metrics_module.NAMES) == names
    assert archsweep.sweep.__module__ == "archsweep.sweep.run"
    from archsweep.sweep import METRICS

    assert METRICS == names
    assert metrics_module.BYTES_COLUMNS == {n for n, kind, _ in EXPECTED if kind == "bytes"}
    assert metrics_module.COUNT_COLUMNS == {n for n, kind, _ in EXPECTED if kind == "count"}
    assert metrics_module.LABELS["peak_activation_bytes"] == "peak activation"
    assert metrics_module.format_value("weight_bytes", 553430176) == "553,430,176 (527.8 MiB / 553.4 MB)"
    assert metrics_module.format_value("macs", 15470264320) == "15,470,264,320 (15.47 G)"
    assert metrics_module.format_value("num_layers", 1234) == "1234"
    assert metrics_module.metric("macs").unit == "MACs" and metrics_module.metric("res") is None


@pytest.mark.parametrize("make", [lambda: Space(SMALL), lambda: Space.load(VGG), lambda: Space(wide_spec())],
                         ids=["small", "vgg", "wide"])
def test_schema_without_evaluating_equals_a_sweeps_schema(make):
    space = make()
    df = archsweep.sweep(space, sample=20, seed=3)
    assert df.height == 20
    assert space.schema() == df.schema
    assert space.empty_frame().schema == df.schema and space.empty_frame().height == 0
    names = space.arrow_schema().names
    assert names == ["variant_id", *space.variables, "valid", "error", *metrics_module.NAMES, "output_shape"]


def test_empty_sweeps_have_the_schema():
    space = Space(SMALL)
    assert archsweep.sweep(space, where="params < 0").schema == space.schema()
    assert archsweep.sweep(space, ids=[]).schema == space.schema()
    wide = Space(wide_spec())
    assert archsweep.sweep(wide, sample=0).schema["variant_id"] == pl.Decimal(38, 0)


def test_options_are_checked_before_any_chunk():
    space = Space(SMALL)
    for kw, message in [(dict(dtype="fp12"), "unknown dtype 'fp12'"), (dict(optimizer="lion"), "unknown optimizer 'lion'"),
                        (dict(batch=0), "batch must be at least 1"), (dict(where="parms < 5"), "parms")]:
        with pytest.raises(ArchsweepError, match=message):
            space.compiled.check_options(**kw)
        with pytest.raises(ArchsweepError, match=message):
            archsweep.sweep(space, sample=0, **kw)  # no chunk runs: the check comes first
    space.compiled.check_options(where="params < 5e6 and w > 4", batch=2, dtype="float16", optimizer="sgd")


def test_the_two_sweep_functions_and_their_return_types(tmp_path):
    space = Space(SMALL)
    df = archsweep.sweep(space)
    assert isinstance(df, pl.DataFrame) and df.height == space.size
    summary = archsweep.sweep_to_dataset(space, tmp_path / "d", chunk_rows=10)
    assert isinstance(summary, SweepSummary)
    assert summary.kept == df.height and summary.parts_written == 4 and summary.out == str(tmp_path / "d")
    assert archsweep.scan(tmp_path / "d").collect().equals(df)
    with pytest.raises(TypeError):
        archsweep.sweep(space, out=tmp_path / "e")  # type: ignore[call-arg]
    hints = typing.get_type_hints(archsweep.sweep)
    assert hints["return"] is pl.DataFrame
    assert typing.get_type_hints(archsweep.sweep_to_dataset)["return"] is SweepSummary
    assert typing.get_args(hints["engine"]) == ("local", "dask")
    assert typing.get_args(hints["sampler"]) == (1, 2)
    assert set(typing.get_args(hints["optimizer"])) == {"sgd", "momentum", "adam", "adamw"}
    assert {"fp32", "fp16", "bf16", "int8", "fp8", "fp64"} <= set(typing.get_args(hints["dtype"]))
    params = inspect.signature(archsweep.sweep_to_dataset).parameters
    assert list(params)[:2] == ["space", "out"] and "resume" in params
    assert "resume" not in inspect.signature(archsweep.sweep).parameters


def test_space_exposes_its_compiled_form():
    space = Space(SMALL)
    assert isinstance(space.compiled, _core.CompiledSpace)
    assert space.compiled.var_names == list(space.variables)
