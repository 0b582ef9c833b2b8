"""Model.save / Model.dumps: a model written as TOML, YAML or JSON reads back as the same model.

Truth: the zoo's presets (each held to torchvision's published numbers by tests/test_zoo.py) and
a hand-written model with every kind of value a layer can hold; load(save(m)) must equal m, and
its analysis must give m's counts."""

from __future__ import annotations

import pytest

import archsweep
from archsweep import Model, ModelFileError, zoo


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
@pytest.mark.parametrize("name", ["resnet50", "vit_b_16", "convnext_tiny", "inception_v3"])
def test_zoo_presets_round_trip(tmp_path, name, suffix):
    m = zoo.load(name)
    path = m.save(tmp_path / f"{name}{suffix}")
    back = archsweep.load(path)
    assert back == m
    assert archsweep.analyze(back).totals == archsweep.analyze(m).totals


def test_every_kind_of_value(tmp_path):
    m = Model(name="odd \"name\"\twith tab", input=[3, 8, 8], layers=[
        {"name": "conv.0", "op": "conv2d", "out_channels": 4, "kernel_size": [3, 3], "padding": "same", "bias": False},
        {"name": "bn", "op": "batchnorm2d", "eps": 1e-05, "momentum": 0.1},
        {"name": "odd key", "op": "relu", "inputs": ["bn"], "comment": "ünïcode \\ and \"quotes\""},
        {"op": "flatten", "start_dim": 1},
        {"op": "linear", "out_features": 2},
    ])
    for suffix in (".toml", ".yaml", ".yml", ".json"):
        assert archsweep.load(m.save(tmp_path / f"m{suffix}")) == m
    # hand count: conv 4*3*3*3 = 108 (no bias), bn 2*4 = 8, linear 4*8*8*2 + 2 = 514
    assert archsweep.analyze(archsweep.load(tmp_path / "m.toml")).totals["params"] == 108 + 8 + 514


def test_refuses_unknown_suffix_and_writes_nothing(tmp_path):
    with pytest.raises(ModelFileError, match=r"unknown model file type '\.txt'"):
        zoo.load("resnet18").save(tmp_path / "m.txt")
    assert not (tmp_path / "m.txt").exists()
    m = Model(name="m", layers=[{"op": "dropout", "p": float("nan")}])
    with pytest.raises(ModelFileError, match="nan"):
        m.save(tmp_path / "m.toml")
    assert not (tmp_path / "m.toml").exists()
