"""``holds``: the values a layer's eager forward keeps referenced while it runs without reading
them (Python locals, such as torchvision's DenseNet ``concated_features``), kept live until the
layer returns in ``peak_eager_bytes`` only (docs/memory.md, "Eager peak"); in model files, in
spaces (resolved like ``inputs``), in saved models and in the PyTorch export."""

from __future__ import annotations

import pytest
from test_space_nas import check_every_path

import archsweep
from archsweep import ArchsweepError, Model, Space
from archsweep.model import load


def chain(holds=None) -> dict:
    """x (4) -> a: linear 8 -> b: relu (out of place) -> c: linear 2, c holding ``holds``."""
    c = {"name": "c", "op": "linear", "out_features": 2}
    if holds is not None:
        c["holds"] = holds
    return {"name": "chain", "input": [4], "layers": [{"name": "a", "op": "linear", "out_features": 8}, {"name": "b", "op": "relu"}, c]}


def peaks(model, batch: int = 1) -> tuple[int, int]:
    t = archsweep.analyze(model, batch=batch).totals
    return t["peak_activation_bytes"], t["peak_eager_bytes"]


def test_holds_by_hand():
    # fp32: per sample x 16 B (held by the caller throughout), a 32 B, b 32 B, c 8 B. Without
    # holds a is freed once b has run: both peaks are at b, 16 + 32 + 32 = 80 per sample. With c
    # holding a, a lives through c: 16 + 32 + 32 + 8 = 88 (the eager peak only; the graph's
    # peak frees each value after its last reader).
    assert peaks(chain()) == (80, 80)
    assert peaks(chain("a")) == (80, 88)
    assert peaks(chain(["a", "x"]), batch=3) == (240, 264)
    # what the layer reads anyway, and the caller's input, are held already
    assert peaks(chain(["b", "x"])) == (80, 80)
    # nothing else changes
    plain, held = archsweep.analyze(chain()).totals, archsweep.analyze(chain("a")).totals
    assert {k: v for k, v in plain.items() if k != "peak_eager_bytes"} == {k: v for k, v in held.items() if k != "peak_eager_bytes"}


@pytest.mark.parametrize("holds, message", [
    ("c", "c (linear): holds 'c' is not the model input 'x' or a layer defined before this one"),
    ("later", "c (linear): holds 'later' is not the model input 'x' or a layer defined before this one"),
    ([], "c (linear): holds must be a layer name or a non-empty list of names, got []"),
    ([1], "c (linear): holds must be layer names, got 1"),
    (3, "c (linear): holds must be a layer name or a non-empty list of names, got 3"),
])
def test_bad_holds_name_the_layer(holds, message):
    model = chain(holds)
    model["layers"].append({"name": "later", "op": "relu"})
    with pytest.raises(ArchsweepError) as e:
        archsweep.analyze(model)
    assert message in str(e.value)


def test_holds_survive_saving_and_the_export(tmp_path):
    model = Model.from_dict(chain(["a", "x"]))
    for suffix in (".toml", ".json", ".yaml"):
        again = load(model.save(tmp_path / f"m{suffix}"))
        assert again.layers[-1]["holds"] == ["a", "x"]
        assert peaks(again) == peaks(model) == (80, 88)
    # the export writes the layers (holds is a matter of the eager peak, not of the forward)
    source = archsweep.torch_source(model)
    assert "holds" not in source and "class Chain" in source


def held_spec() -> dict:
    """d blocks of a: linear w -> b: relu -> c: linear 4, c holding a (the block's short name)."""
    return {
        "name": "held",
        "input": [4],
        "variables": {"d": [1, 2, 3], "w": [4, 8]},
        "layers": [{"name": "blk{i}", "repeat": "=d", "index": "i", "layers": [
            {"name": "a", "op": "linear", "out_features": "=w"},
            {"name": "b", "op": "relu"},
            {"name": "c", "op": "linear", "out_features": 4, "holds": "a"},
        ]}],
    }


def test_holds_in_a_space_name_layers_of_the_variant():
    space = Space(held_spec())
    rows = check_every_path(space, list(range(space.size)))  # the sweep's columns equal analyze's
    assert rows["valid"].all()
    for vid in range(space.size):
        config = space.config(vid)
        d, w = config["d"], config["w"]
        layers = space.model(vid).to_dict()["layers"]
        assert [layer.get("holds") for layer in layers] == [h for i in range(d) for h in (None, None, [f"blk{i}.a"])]
        # by hand, fp32, batch 1: x 16 B held. Block i's input (x, or the previous c: 16 B) is
        # held until its c returns (the scope rule), and so is a (4w B, by holds): at c, 16 +
        # (16 unless i = 0) + 4w (a) + 4w (b) + 16 (c). Without holds the peak would be at b or
        # at c with a freed.
        want = 16 + (16 if d > 1 else 0) + 8 * w + 16
        assert archsweep.analyze(space.model(vid)).totals["peak_eager_bytes"] == want, config


@pytest.mark.parametrize("change, message", [
    (lambda s: s["layers"][0]["layers"][2].update(holds="zz"),
     "holds 'zz' is not 'x', 'block_input' or a layer defined before this one"),
    (lambda s: s["layers"][0]["layers"][0].update(holds="c"),
     "holds 'c' is not 'x', 'block_input' or a layer defined before this one"),
    (lambda s: s["layers"][0]["layers"][2].update(holds=7), "holds must be a name or a non-empty list of names, got 7"),
    # a held layer must run wherever its holder does (the concrete model names it)
    (lambda s: (s["layers"][0]["layers"].insert(0, {"name": "p", "op": "relu", "when": "=w == 8"}),
                s["layers"][0]["layers"][3].update(holds="p")),
     "holds 'p' (blk0.p), which is switched off in some variants where this layer runs"),
    (lambda s: s["layers"].append({"name": "after", "op": "relu", "holds": "blk1.a"}),
     "holds 'blk1.a' (blk1.a), which is switched off in some variants where this layer runs"),
    (lambda s: s["layers"][0]["layers"][2].update(op="='linear' if w == 4 else 'linear'"),
     "holds is for a layer of one op"),
])
def test_bad_holds_in_a_space_are_compile_errors(change, message):
    spec = held_spec()
    change(spec)
    with pytest.raises(ArchsweepError) as e:
        Space(spec)
    assert message in str(e.value)
