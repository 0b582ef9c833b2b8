"""The spec language's NAS additions (issue 17): categorical (string) variables, `op` given by an
expression, sub-graphs chosen per variant, the zeros op and templated inputs. No torch needed;
tests/test_nas_spaces.py compares the shipped NAS spaces with the official code."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import archsweep
from archsweep import ArchsweepError, Space

SPACES = Path(__file__).resolve().parents[1] / "data" / "spaces"


def evaluate(space: Space, mode: str, start: int, end: int, **kw) -> pl.DataFrame:
    batches, _ = space.compiled.evaluate(mode, start, end, **kw)
    frame = pl.from_arrow(pa.Table.from_batches(batches, schema=space.arrow_schema()))
    assert isinstance(frame, pl.DataFrame)
    return frame


def categorical_spec() -> dict:
    return {
        "name": "cat",
        "input": [8, 4, 4],
        "variables": {"act": ["relu", "hardswish", "none"], "k": [1, 3], "mixed": [1, "two", 3.5]},
        "layers": [
            {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": "=k", "padding": "=k // 2"},
            {"name": "act", "op": "relu", "when": "=act == 'relu'"},
            {"name": "hsw", "op": "hardswish", "when": "=act == \"hardswish\""},
            {"name": "big", "op": "conv2d", "out_channels": 16, "kernel_size": 1, "when": "=mixed == 'two'"},
        ],
    }


def test_string_choices_in_config_ids_and_when():
    space = Space(categorical_spec())
    assert space.size == 3 * 2 * 3
    assert space.variables["act"] == ["relu", "hardswish", "none"]
    assert space.variables["mixed"] == [1, "two", 3.5]
    for variant_id in range(space.size):
        config = space.config(variant_id)
        assert space.variant_id(config) == variant_id
        ops = [layer["op"] for layer in space.model(variant_id).to_dict()["layers"]]
        assert ("relu" in ops) == (config["act"] == "relu")
        assert ("hardswish" in ops) == (config["act"] == "hardswish")
        assert ops.count("conv2d") == (2 if config["mixed"] == "two" else 1)


def test_string_columns_are_categorical():
    space = Space(categorical_spec())
    frame = archsweep.sweep(space)
    assert frame.schema["act"] == pl.Categorical
    assert frame.schema["mixed"] == pl.Categorical
    assert frame.schema["k"] == pl.Int64
    assert space.schema()["act"] == pl.Categorical
    for row in frame.iter_rows(named=True):
        config = space.config(row["variant_id"])
        assert row["act"] == config["act"] and row["mixed"] == str(config["mixed"])
    assert frame.filter(pl.col("act") == "none").height == space.size // 3


def test_strings_as_attribute_values_and_errors():
    spec = {
        "input": [4, 8, 8],
        "variables": {"mode": ["nearest", "bilinear"]},
        "layers": [{"name": "up", "op": "upsample", "scale_factor": 2, "mode": "=mode"}],
    }
    space = Space(spec)
    assert [space.model(i).to_dict()["layers"][0]["mode"] for i in range(2)] == ["nearest", "bilinear"]
    bad = {"input": [4], "variables": {"act": ["a", "b"]}, "layers": [{"op": "linear", "out_features": "=act * 2"}]}
    rows = archsweep.sweep(Space(bad))
    assert not rows["valid"].any()
    assert "the string 'a' is not a number" in rows["error"][0]


# --------------------------------------------------------------------------------------------
# `op` by expression, sub-graphs, templated inputs, arity at compile time


def edge_spec() -> dict:
    """A two-edge cell: each edge is one entry whose op (an op or a sub-graph) is a variable."""
    return {
        "name": "edges",
        "input": [8, 6, 6],
        "variables": {"a": ["none", "skip", "conv", "pool", "relu"], "b": ["conv", "skip"]},
        "subgraphs": {
            "none": [{"op": "zeros"}],
            "skip": [{"op": "identity"}],
            "conv": [{"name": "relu", "op": "relu"},
                     {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
                     {"name": "bn", "op": "batchnorm2d"}],
            "pool": [{"op": "avgpool2d", "kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False}],
        },
        "layers": [
            {"name": "n0", "op": "identity"},
            {"repeat": 2, "index": "i", "layers": [
                {"name": "e{i}", "op": "=a if i == 0 else b", "inputs": "n0"},
            ]},
            {"name": "sum", "op": "add", "inputs": ["e{0}", "e{2 - 1}"]},
        ],
    }


def test_op_expressions_choose_ops_and_subgraphs():
    space = Space(edge_spec())
    assert space.size == 10
    expected_params = {"conv": 8 * 8 * 9 + 16}
    rows = archsweep.sweep(space)
    assert_frame_equal(rows, evaluate(space, "grid", 0, space.size, reuse=False))
    for row in rows.iter_rows(named=True):
        config = space.config(row["variant_id"])
        model = space.model(row["variant_id"])
        layers = model.to_dict()["layers"]
        assert row["params"] == sum(expected_params.get(config[v], 0) for v in ("a", "b"))
        assert archsweep.analyze(model).totals["params"] == row["params"]
        names = [layer["name"] for layer in layers]
        if config["a"] == "conv":
            assert "e0.conv.conv" in names and "e0.conv.bn" in names
        if config["a"] == "relu":
            assert [layer["op"] for layer in layers if layer["name"] == "e0"] == ["relu"]
        assert layers[-1]["inputs"][0].startswith("e0")


def test_a_sub_graph_by_name_and_templated_inputs():
    spec = {
        "input": [4, 8, 8],
        "variables": {"w": [8, 16]},
        "subgraphs": {"conv_bn": [{"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 1},
                                  {"name": "bn", "op": "batchnorm2d"}]},
        "layers": [
            {"name": "n0", "op": "conv_bn"},
            {"repeat": 3, "index": "j", "layers": [
                {"name": "n{j+1}", "op": "conv_bn", "inputs": "n{j}"},
            ]},
            {"name": "out", "op": "add", "inputs": ["n{1+2}", "n0"]},
        ],
    }
    space = Space(spec)
    model = space.model(1).to_dict()["layers"]
    assert [layer["name"] for layer in model][:4] == ["n0.conv_bn.conv", "n0.conv_bn.bn", "n1.conv_bn.conv", "n1.conv_bn.bn"]
    assert model[-1]["inputs"] == ["n3.conv_bn.bn", "n0.conv_bn.bn"]


@pytest.mark.parametrize(("layers", "variables", "message"), [
    ([{"name": "e", "op": "=act"}], {"act": ["relu", "frobnicate"]},
     "e (=act): op '=act' is 'frobnicate' for act=frobnicate, which is neither an op nor a subgraph"),
    ([{"name": "e", "op": "=k"}], {"k": [1, 3]}, "e (=k): op '=k' is 1 for k=1, not the name of an op or a subgraph"),
    ([{"name": "e", "op": "=nope"}], {"k": [1, 3]}, "e (=nope) op: unknown variable 'nope'"),
    ([{"name": "a", "op": "relu"}, {"name": "b", "op": "relu", "inputs": ["a{1+1}"]}], {},
     "b (relu): input 'a2' is not 'x', 'block_input' or a layer defined before this one"),
    ([{"name": "s", "op": "add", "inputs": ["x"]}], {}, "s (add): takes at least 2 input(s), got 1"),
    ([{"name": "s", "op": "add", "inputs": ["x"], "when": "=k > 1"}], {"k": [1, 3]}, "s (add): takes at least 2 input(s), got 1"),
])
def test_errors_name_the_evaluated_text(layers, variables, message):
    with pytest.raises(ArchsweepError) as e:
        Space({"input": [4, 8, 8], "variables": variables, "layers": layers})
    assert message in str(e.value)


def test_a_sub_graph_that_contains_itself_is_an_error():
    spec = {"input": [4], "subgraphs": {"loop": [{"op": "loop"}]}, "layers": [{"name": "l", "op": "loop"}]}
    with pytest.raises(ArchsweepError, match="subgraph 'loop' contains itself"):
        Space(spec)


@pytest.mark.parametrize(("name", "start", "end"), [("nb201", 0, 4_000), ("nb201", 11_000, 15_625), ("nats_sss", 0, 3_000)])
def test_shipped_nas_spaces_fast_paths_equal_fresh_evaluation(name, start, end):
    """Grid replay and sampling (segment memos, suffix tables) give the rows of evaluating each
    variant from scratch; the models are the configured networks."""
    space = Space.load(SPACES / f"{name}.toml")
    kw = dict(batch=2, threads=2)
    fresh = evaluate(space, "grid", start, end, reuse=False, **kw)
    assert fresh["valid"].all()
    assert_frame_equal(evaluate(space, "grid", start, end, **kw), fresh)
    assert_frame_equal(evaluate(space, "sample", 0, 500, seed=3, **kw),
                       evaluate(space, "sample", 0, 500, seed=3, reuse=False, **kw))
    for variant_id in (start, (start + end) // 2, end - 1):
        totals = archsweep.analyze(space.model(variant_id), batch=2).totals
        row = fresh.row(variant_id - start, named=True)
        assert (row["params"], row["flops"], row["activation_bytes"]) == (totals["params"], totals["flops"], totals["activation_bytes"])


def test_nas_space_sizes():
    assert Space.load(SPACES / "nb201.toml").size == 5**6 == 15_625
    assert Space.load(SPACES / "nats_sss.toml").size == 8**5 == 32_768


def test_fresh_evaluation_keeps_a_variable_free_prefix():
    """A fixed input shape and a first layer no variable reaches: evaluating every variant from
    scratch (reuse=False, one thread) counts that layer in every row (it once restored totals that
    were never saved there and dropped it from all but the first row of a run)."""
    space = Space({"input": [3, 8, 8], "variables": {"w": list(range(1, 30))}, "layers": [
        {"name": "stem", "op": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"name": "c", "op": "conv2d", "out_channels": "=w", "kernel_size": 1}]})
    expected = [112 + 5 * w for w in range(1, 30)]
    for reuse in (True, False):
        for mode in ("grid", "sample"):
            rows = evaluate(space, mode, 0, space.size, reuse=reuse, threads=1)
            assert sorted(rows["params"].to_list()) == expected


def doc_examples() -> list[str]:
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "nas-spaces.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("example", doc_examples())
def test_documented_examples_compile_with_their_sizes(example):
    import tomllib

    size = int(example.split("\n", 1)[0].removeprefix("# size: "))
    space = Space(tomllib.loads(example))
    assert space.size == size
    rows = archsweep.sweep(space)
    assert rows["valid"].all() and rows.height == size
    for variant_id in range(size):
        assert archsweep.analyze(space.model(variant_id)).totals["params"] == rows["params"][variant_id]


def test_documented_error_and_config():
    import tomllib

    space = Space(tomllib.loads(doc_examples()[0]))
    assert space.config(0) == {"act": "relu", "mode": "nearest", "k": 1}
    assert archsweep.sweep(space, where="act == 'relu'").height == 4
    for variant_id in range(space.size):
        ops = {layer["name"]: layer["op"] for layer in space.model(variant_id).to_dict()["layers"]}
        act = space.config(variant_id)["act"]
        assert ops.get("act") == (None if act == "none" else act)


def test_block_lets_are_constants_or_derived_variables():
    import tomllib

    space = Space(tomllib.loads(doc_examples()[3]))
    assert space.derived == ["stage0.mid", "stage1.mid"]
    for variant_id in range(space.size):
        config = space.config(variant_id)
        for s in range(2):
            width = 16 * (s + 1)
            assert config[f"stage{s}.mid"] == make_divisible(width * config[f"expand_{s}"])
        layers = {layer["name"]: layer for layer in space.model(variant_id).to_dict()["layers"]}
        assert layers["stage1.expand"]["out_channels"] == config["stage1.mid"]
        assert layers["stage1.project"]["out_channels"] == 32
    bad = {"input": [4], "variables": {"w": [1, 2]},
           "layers": [{"name": "b", "let": {"w": "=2"}, "layers": [{"op": "relu"}]}]}
    with pytest.raises(ArchsweepError, match="let 'w' has the name of a variable"):
        Space(bad)


def make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def test_a_conditional_string_variable_is_a_null_categorical_where_absent():
    spec = {
        "input": [8, 4, 4],
        "variables": {"deep": [False, True], "act": {"choices": ["relu", "hardswish"], "when": "deep"}},
        "layers": [
            {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": 1},
            {"name": "act", "op": "=act", "when": "=deep"},
        ],
    }
    space = Space(spec)
    assert space.size == 3
    rows = archsweep.sweep(space)
    assert rows.schema["act"] == pl.Categorical
    assert set(rows["act"].to_list()) == {"hardswish", "relu", None}
    for row in rows.iter_rows(named=True):
        ops = [layer["op"] for layer in space.model(row["variant_id"]).to_dict()["layers"]]
        assert ops[1:] == ([] if row["act"] is None else [row["act"]])
