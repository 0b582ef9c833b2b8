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


def doc_example(name: str) -> str:
    """The documented example whose spec is named `name`."""
    (example,) = [e for e in doc_examples() if f'\nname = "{name}"\n' in e]
    return example


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

    space = Space(tomllib.loads(doc_example("lets")))
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


# --------------------------------------------------------------------------------------------
# sums whose switched-off inputs drop out (`drop_off_inputs = true`)

METRIC_COLUMNS = ["params", "trainable_params", "buffers", "macs", "flops", "other_ops", "weight_bytes", "buffer_bytes",
                  "activation_bytes", "peak_activation_bytes", "saved_bytes", "train_bytes"]


def check_every_path(space: Space, ids: list[int], **kw) -> pl.DataFrame:
    """Grid rows with and without reuse (segment replay, grid blocks), a sample's with and without
    reuse (dense tables or sorted evaluation), and the rows of `ids` against `analyze` of their
    concrete models (every metric, the layer count and the output shape). Returns the grid rows."""
    fresh = evaluate(space, "grid", 0, space.size, reuse=False, **kw)
    assert fresh["valid"].all(), fresh.filter(~pl.col("valid"))["error"].to_list()[:3]
    assert_frame_equal(evaluate(space, "grid", 0, space.size, **kw), fresh)
    n = min(space.size, 2_000)
    for seed in (1, 2):
        assert_frame_equal(evaluate(space, "sample", 0, n, seed=seed, **kw),
                           evaluate(space, "sample", 0, n, seed=seed, reuse=False, **kw))
    batch = kw.get("batch", 1)
    for variant_id in ids:
        report = archsweep.analyze(space.model(variant_id), batch=batch)
        row = fresh.row(by_predicate=pl.col("variant_id") == variant_id, named=True)
        assert {m: row[m] for m in METRIC_COLUMNS} == {m: report.totals[m] for m in METRIC_COLUMNS}, variant_id
        assert row["num_layers"] == report.layers.height
        assert row["output_shape"] == report.layers["output_shape"][-1].to_list()
    return fresh


def two_edge_spec() -> dict:
    """Two edges from the input, each switched off ('none'), the identity or a 3x3 conv, summed
    with drop_off_inputs. Small enough for numbers derived by hand."""
    return {
        "name": "two_edges_drop",
        "input": [2, 4, 4],
        "variables": {"a": ["none", "skip", "conv"], "b": ["none", "skip", "conv"]},
        "subgraphs": {"skip": [{"op": "identity"}],
                      "conv": [{"name": "conv", "op": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1, "bias": False}]},
        "layers": [
            {"name": "ea", "op": "=a", "when": "=a != 'none'", "inputs": "x"},
            {"name": "eb", "op": "=b", "when": "=b != 'none'", "inputs": "x"},
            {"name": "sum", "op": "add", "inputs": ["ea", "eb"], "drop_off_inputs": True},
        ],
    }


def test_dropped_inputs_numbers_derived_by_hand():
    space = Space(two_edge_spec())
    assert space.size == 9  # id = 3 * digit(a) + digit(b): none 0, skip 1, conv 2
    rows = check_every_path(space, list(range(9)))
    # By hand, batch 1, fp32. The input x is [1, 2, 4, 4]: 32 elements, 128 bytes.
    # conv (2 -> 2 channels, 3x3, no bias): params 2*2*3*3 = 36; MACs = 32 output elements
    # x (2 input channels x 9) = 576; output 128 bytes. identity: a view, 0 of everything.
    # add of two [1, 2, 4, 4]: 32 other ops (one per output element per extra operand), 128 bytes.
    want = {
        # (none, none): sum is zeros of x's shape: no params, no ops; 1 layer; its output (128 B)
        # is allocated while x (128 B) is live: peak 256
        0: dict(params=0, macs=0, other_ops=0, num_layers=1, activation_bytes=128, peak_activation_bytes=256),
        # (none, skip): eb = identity(x), sum = identity(eb): views only; the peak is x alone
        1: dict(params=0, macs=0, other_ops=0, num_layers=2, activation_bytes=0, peak_activation_bytes=128),
        # (none, conv): eb = conv, sum = identity(eb): x + conv output live at once: 256
        2: dict(params=36, macs=576, other_ops=0, num_layers=2, activation_bytes=128, peak_activation_bytes=256),
        # (skip, conv): sum = add(ea = x, eb): x, conv out and the sum live at once: 384
        5: dict(params=36, macs=576, other_ops=32, num_layers=3, activation_bytes=256, peak_activation_bytes=384),
        # (conv, conv): two convs and the add: x (held by the caller throughout) + ea + eb + sum
        # live: 512
        8: dict(params=72, macs=1152, other_ops=32, num_layers=3, activation_bytes=384, peak_activation_bytes=512),
    }
    for variant_id, numbers in want.items():
        row = rows.row(variant_id, named=True)
        assert {k: row[k] for k in numbers} == numbers, variant_id
        assert row["output_shape"] == [1, 2, 4, 4]
    ops = {i: {layer["name"]: layer["op"] for layer in space.model(i).to_dict()["layers"]}["sum"] for i in range(9)}
    assert ops == {0: "zeros", 1: "identity", 2: "identity", 3: "identity", 4: "add", 5: "add", 6: "identity", 7: "add", 8: "add"}
    assert space.model(0).to_dict()["layers"] == [{"name": "sum", "op": "zeros", "inputs": ["x"]}]


def nb201_drop_spec() -> dict:
    """data/spaces/nb201.toml with its 'none' edges switched off and dropped from the node sums
    (instead of the zeros op), and node 1 a sum of its one edge."""
    import tomllib

    spec = tomllib.loads((SPACES / "nb201.toml").read_text(encoding="utf-8"))
    spec["name"] = "nb201_drop"
    del spec["subgraphs"]["none"]
    cell = spec["layers"][2]["layers"][1]
    for layer in (layer for layer in cell["layers"] if layer["name"].startswith("e")):
        layer["when"] = f"={layer['op'][1:]} != 'none'"
        if layer["inputs"] == "e1_0":
            layer["inputs"] = "node1"
    cell["layers"].insert(1, {"name": "node1", "op": "add", "inputs": ["e1_0"], "drop_off_inputs": True})
    for layer in cell["layers"]:
        if layer["name"] in ("node2", "node3"):
            layer["drop_off_inputs"] = True
    return spec


def test_a_nas_bench_201_cell_whose_none_edges_drop_out():
    """The NB201 space with 'none' edges dropped: every path agrees and equals analyze; params
    and buffers equal those of nb201.toml (a zeros edge has neither), the layers and other ops do
    not (no zeros layers; sums of fewer inputs). MACs are at most nb201.toml's: where every edge
    leaving a node is dropped, the node's edges no longer reach the output and count no MACs
    (docs/inference-only.md), while a zeros edge still reads its input."""
    space = Space(nb201_drop_spec())
    assert space.size == 15_625
    zeros = Space.load(SPACES / "nb201.toml")
    rows = check_every_path(space, [0, 1, 5**5, 7_000, 15_624], batch=2, threads=2)
    reference = evaluate(zeros, "grid", 0, zeros.size, batch=2, threads=2)
    assert_frame_equal(rows.select("variant_id", "params", "buffers"), reference.select("variant_id", "params", "buffers"))
    assert (rows["macs"] <= reference["macs"]).all() and (rows["macs"] < reference["macs"]).any()
    edges = [name for name in space.variables if name.startswith("edge_")]
    no_none = rows.with_row_index().filter(pl.all_horizontal(pl.col(e) != "none" for e in edges))["index"].to_list()
    assert len(no_none) == 4**6
    # without 'none' edges the networks differ by node 1's identity only (a view: no cost)
    same = ["params", "macs", "other_ops", "activation_bytes", "peak_activation_bytes"]
    assert_frame_equal(rows[no_none].select(same), reference[no_none].select(same))
    assert (rows[no_none]["num_layers"] == reference[no_none]["num_layers"] + 15).all()
    # all edges 'none': every node is zeros; the cells add nothing
    assert rows["other_ops"][0] < reference["other_ops"][0] and rows["num_layers"][0] < reference["num_layers"][0]


def test_the_documented_drop_example_on_every_path():
    import tomllib

    space = Space(tomllib.loads(doc_example("cell_drop")))
    check_every_path(space, list(range(space.size)))
    layers = space.model(space.variant_id({"edge_1_0": "none", "edge_2_0": "nor_conv_3x3", "edge_2_1": "skip_connect"}))
    ops = {layer["name"]: (layer["op"], layer["inputs"]) for layer in layers.to_dict()["layers"]}
    assert ops["cell.node1"] == ("zeros", ["x"])
    assert ops["cell.node2"] == ("add", ["cell.e2_0.nor_conv_3x3.batchnorm2d_1", "cell.e2_1.skip_connect.identity_1"])


def test_documented_drop_errors():
    """The errors docs/nas-spaces.md quotes, found when the spec is compiled."""
    def cat(constraints: list[str]) -> dict:
        return {"input": [4, 4, 4], "variables": {"a": [0, 1], "b": [0, 1], "c": [0, 1]}, "constraints": constraints,
                "layers": [{"name": "p", "op": "relu", "inputs": "x", "when": "=a == 1"},
                           {"name": "q", "op": "relu", "inputs": "x", "when": "=b == 1"},
                           {"name": "cat", "op": "concat", "inputs": ["p", "q"], "drop_off_inputs": True, "when": "=c == 1"}]}

    with pytest.raises(archsweep.SpecError) as e:
        Space(cat([]))
    assert (e.value.kind, e.value.layer, e.value.op) == ("spec", "cat", "concat")
    assert str(e.value).startswith("cat (concat): every input is switched off for a=0, b=0, c=1 (drop_off_inputs = true), "
                                   "and concat of 0 input(s) is undefined (an add of none is zeros)")
    space = Space(cat(["a + b > 0"]))
    check_every_path(space, [i for i in range(space.size) if space.config(i)["a"] + space.config(i)["b"] > 0])
    conv = {"input": [4, 4, 4], "layers": [{"name": "conv", "op": "conv2d", "out_channels": 4, "kernel_size": 1,
                                            "drop_off_inputs": True}]}
    with pytest.raises(archsweep.SpecError, match=r"conv \(conv2d\): drop_off_inputs = true is for add, mul and concat .*not conv2d"):
        Space(conv)
