"""The spec language's NAS additions (issue 17): categorical (string) variables, `op` given by an
expression, sub-graphs chosen per variant, the zeros op and templated inputs. No torch needed;
tests/test_nas_spaces.py compares the shipped NAS spaces with the official code."""

from __future__ import annotations

import polars as pl
import pytest

import archsweep
from archsweep import ArchsweepError, Space


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
