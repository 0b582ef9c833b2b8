"""The exception classes: each core error kind raises its ArchsweepError subclass (still a
ValueError), with the message unchanged and the attributes kind, layer and op."""

from __future__ import annotations

import pytest

import archsweep
from archsweep import (
    ArchsweepError,
    AttributeSpecError,
    CountOverflowError,
    InvalidModelError,
    ShapeError,
    UnknownOpError,
)


def model(*layers: dict, input: list[int]) -> dict:
    return {"name": "m", "input": input, "layers": list(layers)}


CASES = [
    # (id, model, class, kind, layer, op, message)
    ("missing-attribute", model({"name": "c", "op": "conv2d", "out_channels": 8}, input=[3, 8, 8]),
     AttributeSpecError, "missing_attribute", "c", "conv2d", "c (conv2d): missing required attribute 'kernel_size'"),
    ("missing-attribute-typo", model({"name": "c", "op": "conv2d", "out_channels": 8, "kernal_size": 3}, input=[3, 8, 8]),
     AttributeSpecError, "missing_attribute", "c", "conv2d",
     "c (conv2d): missing required attribute 'kernel_size' (unknown attribute 'kernal_size' — a typo?)"),
    ("unknown-attribute", model({"name": "c", "op": "linear", "out_features": 4, "bais": False}, input=[8]),
     AttributeSpecError, "unknown_attribute", "c", "linear", "c (linear): unknown attribute 'bais' for op linear (its attributes: bias, in_features, out_features)"),
    ("bad-attribute", model({"name": "c", "op": "conv2d", "out_channels": 0, "kernel_size": 3}, input=[3, 8, 8]),
     AttributeSpecError, "bad_attribute", "c", "conv2d", "c (conv2d): out_channels=0 must be at least 1"),
    ("attribute-rule", model({"name": "up", "op": "upsample", "size": 4, "scale_factor": 2}, input=[3, 8, 8]),
     AttributeSpecError, "bad_attribute", "up", "upsample", "up (upsample): give either size or scale_factor, not both"),
    ("unknown-op", model({"name": "c", "op": "conv2", "out_channels": 8}, input=[3, 8, 8]),
     UnknownOpError, "unknown_op", "c", "conv2", "c (conv2): unknown op 'conv2' (did you mean conv2d?)"),
    ("shape-rule", model({"name": "conv5_3", "op": "conv2d", "out_channels": 8, "kernel_size": 3}, input=[64, 1, 1]),
     ShapeError, "shape", "conv5_3", "conv2d", "conv5_3 (conv2d): kernel 3×3 is larger than the padded input 1×1"),
    ("rank", model({"name": "c", "op": "conv2d", "out_channels": 8, "kernel_size": 3}, input=[3, 8]),
     ShapeError, "shape", "c", "conv2d", "c (conv2d): expects a 4-d input (N, C, H, W), got 3-d (1, 3, 8)"),
    ("overflow", model({"name": "fc", "op": "linear", "out_features": 2**40}, input=[2**30]),
     CountOverflowError, "overflow", "fc", "linear", "fc (linear): integer overflow: 1073741824 × 1099511627776 does not fit in 64 bits"),
    ("arity", model({"name": "a", "op": "add"}, input=[3]),
     InvalidModelError, "arity", "a", "add", "a (add): takes at least 2 input(s), got 1"),
    ("wiring", model({"name": "r", "op": "relu", "inputs": "nowhere"}, input=[3]),
     InvalidModelError, "invalid_model", "r", "relu", "r (relu): input 'nowhere' is not the model input 'x' or a layer defined before this one"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_error_class_kind_and_message(case):
    _, m, cls, kind, layer, op, message = case
    with pytest.raises(cls) as info:
        archsweep.analyze(m)
    e = info.value
    assert str(e) == message
    assert (e.kind, e.layer, e.op) == (kind, layer, op)
    # the base classes still catch it
    assert isinstance(e, ArchsweepError) and isinstance(e, ValueError)
    others = {AttributeSpecError, UnknownOpError, ShapeError, CountOverflowError, InvalidModelError} - {cls}
    assert not isinstance(e, tuple(others))


def test_model_level_errors_have_no_layer():
    with pytest.raises(InvalidModelError) as info:
        archsweep.analyze({"name": "m", "input": [3], "layers": []})
    assert str(info.value) == "the model has no layers"
    assert (info.value.kind, info.value.layer, info.value.op) == ("invalid_model", None, None)


def test_unknown_option_is_the_base_class():
    with pytest.raises(ArchsweepError) as info:
        archsweep.analyze(model({"op": "relu"}, input=[3]), dtype="fp9")
    assert type(info.value) is ArchsweepError
    assert info.value.kind == "unknown_option"
    assert str(info.value) == "unknown dtype 'fp9' (one of fp32, fp16, bf16, int8, fp8, fp64)"


def test_classes_are_exported():
    from archsweep import errors

    for name in errors.__all__:
        assert getattr(archsweep, name) is getattr(errors, name)
        assert name in archsweep.__all__
        assert issubclass(getattr(errors, name), ArchsweepError)


def space(**spec) -> dict:
    return {"name": "s", "input": [3, 8, 8], "variables": {"w": [8, 16]}, "layers": [{"op": "relu"}]} | spec


SPACE_CASES = [
    # (id, spec, class, kind, message)
    ("spec", space(layers=[{"op": "relu", "inputs": "nowhere"}]), archsweep.SpecError, "spec",
     "relu_1 (relu): input 'nowhere' is not 'x', 'block_input' or a layer defined before this one"),
    ("limit", space(variables={"w": {"range": [0, 2_000_000]}}), archsweep.SpecError, "limit",
     "variable 'w': range [0, 2000000] step 1 has 2000001 values; at most 1,000,000 per variable"),
    ("cycle", space(derived={"a": "=b + 1", "b": "=a"}), archsweep.SpecError, "spec", "derived variables form a cycle: a -> b -> a"),
    ("syntax", space(layers=[{"op": "conv2d", "out_channels": "=w *", "kernel_size": 3}]), archsweep.ExpressionError, "expression",
     "layers[0] out_channels: in 'w *': expected an operand at column 4"),
    ("unknown-name", space(constraints=["q > 1"]), archsweep.ExpressionError, "expression",
     "constraint 'q > 1': unknown variable 'q' in 'q > 1'"),
]


@pytest.mark.parametrize("case", SPACE_CASES, ids=[c[0] for c in SPACE_CASES])
def test_space_error_class_kind_and_message(case):
    _, spec, cls, kind, message = case
    with pytest.raises(cls) as info:
        archsweep.Space(spec)
    assert str(info.value) == message
    assert info.value.kind == kind
    others = {archsweep.SpecError, archsweep.ExpressionError} - {cls}
    assert isinstance(info.value, ArchsweepError) and not isinstance(info.value, tuple(others))


def test_expression_error_has_the_expression_and_span():
    with pytest.raises(archsweep.ExpressionError) as info:
        archsweep.Space(space(layers=[{"op": "conv2d", "out_channels": "=w *", "kernel_size": 3}]))
    assert (info.value.expression, info.value.span) == ("w *", (3, 3))
    # a file's name in front keeps the class and the attributes
    with pytest.raises(archsweep.ExpressionError) as info:
        archsweep.Space(space(constraints=["q > 1"]), source="s.toml")
    assert str(info.value).startswith("s.toml: ")
    assert info.value.kind == "expression" and info.value.expression == "q > 1"


def test_a_bad_filter_is_an_expression_error():
    s = archsweep.Space(space())
    with pytest.raises(archsweep.ExpressionError) as info:
        s._c.check_options("w >")
    assert (info.value.kind, str(info.value), info.value.expression, info.value.span) == (
        "filter", "--where: in 'w >': expected an operand at column 4", "w >", (3, 3))
