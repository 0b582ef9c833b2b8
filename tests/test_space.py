"""Search spaces: the documented mixed-radix id bijection, exact sizes, ids beyond 2^64 and
the error messages of malformed specs (docs/spaces.md, rust/core/src/space).

Expected values are computed here by hand from the documented rules, never read back from the
code under test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archsweep
from archsweep import ArchsweepError, Space

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "data" / "spaces" / "vgg.toml"

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def toy_spec() -> dict:
    """Three variables declared a, b, c but first used by the network in the order c, a, b:
    the id digits follow first use (docs/spaces.md, "Variant ids")."""
    return {
        "name": "toy",
        "input": [3, 8, 8],
        "variables": {"a": [4, 8, 12], "b": [1, 2, 3, 4], "c": [True, False]},
        "derived": {"a2": "a * 2"},
        "layers": [
            {"name": "gate", "op": "relu", "when": "=c"},
            {"name": "conv", "op": "conv2d", "out_channels": "=a2", "kernel_size": 1},
            {"name": "flat", "op": "flatten"},
            {"name": "fc", "op": "linear", "out_features": "=b"},
        ],
    }


def staged_spec() -> dict:
    """Per-stage variables (a shared choice list and one list per stage), a range with a step,
    a variable repeat count and a variable used by no layer (it goes last)."""
    return {
        "name": "staged",
        "input": [3, "=res", "=res"],
        "variables": {
            "unused": [0, 1, 2],
            "res": [16, 24, 32],
            "depth": {"per_stage": 3, "choices": [1, 2]},
            "width": {"per_stage": 3, "choices": [[8, 16], [16, 24, 32], [32, 48, 64, 96]]},
            "fc": {"range": [64, 512], "step": 64},
        },
        "layers": [
            {"name": "stage{s}", "repeat": 3, "index": "s", "layers": [
                {"name": "b{i}", "repeat": "=depth[s]", "index": "i", "layers": [
                    {"name": "conv", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 3, "padding": 1},
                    {"name": "relu", "op": "relu"},
                ]},
                {"name": "pool", "op": "maxpool2d", "kernel_size": 2},
            ]},
            {"op": "flatten"},
            {"op": "linear", "out_features": "=fc"},
        ],
    }


def big_spec(n_vars: int = 30, n_choices: int = 10) -> dict:
    return {
        "name": "big",
        "input": [4],
        "variables": {f"v{i}": list(range(1, n_choices + 1)) for i in range(n_vars)},
        "layers": [{"name": f"fc{i}", "op": "linear", "out_features": f"=v{i}"} for i in range(n_vars)],
    }


def mixed_radix_config(space: Space, vid: int) -> dict:
    """config(vid) of the primary variables by the documented rule, computed in Python."""
    out = {}
    items = list(space.variables.items())
    for name, choices in reversed(items):
        vid, digit = divmod(vid, len(choices))
        out[name] = choices[digit]
    assert vid == 0
    return out


# --------------------------------------------------------------------------------------------
# 1. the id bijection


def test_toy_digit_order_follows_first_use_and_sizes_multiply():
    space = Space(toy_spec())
    assert list(space.variables) == ["c", "a", "b"]
    assert space.variables == {"c": [True, False], "a": [4, 8, 12], "b": [1, 2, 3, 4]}
    assert space.derived == ["a2"]
    assert space.size == 2 * 3 * 4


def test_toy_config_is_the_documented_mixed_radix():
    space = Space(toy_spec())
    c, a, b = [True, False], [4, 8, 12], [1, 2, 3, 4]
    seen = set()
    for d0 in range(2):
        for d1 in range(3):
            for d2 in range(4):
                vid = d0 * 3 * 4 + d1 * 4 + d2
                cfg = space.config(vid)
                assert cfg == {"c": c[d0], "a": a[d1], "b": b[d2], "a2": a[d1] * 2}, vid
                assert space.variant_id(cfg) == vid
                seen.add(vid)
    assert seen == set(range(space.size))


def test_toy_model_is_the_configured_network():
    space = Space(toy_spec())
    # id 1: c=True, a=4, b=2 -> every layer on
    m = space.model(1)
    assert [layer["name"] for layer in m.layers] == ["gate", "conv", "flat", "fc"]
    assert m.layers[1]["out_channels"] == 8 and m.layers[3]["out_features"] == 2
    # c=False switches the relu off; conv then reads the input directly
    m = space.model(12 + 4 * 2 + 3)  # c=False, a=12, b=4
    assert [layer["name"] for layer in m.layers] == ["conv", "flat", "fc"]
    assert m.layers[0]["inputs"] == ["x"]
    assert m.layers[0]["out_channels"] == 24 and m.layers[2]["out_features"] == 4


def test_staged_variables_in_first_use_order():
    space = Space(staged_spec())
    assert list(space.variables) == [
        "res", "depth_0", "width_0", "depth_1", "width_1", "depth_2", "width_2", "fc", "unused",
    ]
    assert space.variables["width_0"] == [8, 16]
    assert space.variables["width_2"] == [32, 48, 64, 96]
    assert space.variables["fc"] == list(range(64, 513, 64))
    assert space.size == 3 * 2 * 2 * 2 * 3 * 2 * 4 * 8 * 3


SPECS = {
    "toy": toy_spec,
    "staged": staged_spec,
    "vgg": lambda: VGG,
    "big_below_2_64": lambda: big_spec(19, 10),  # 10^19 < 2^64 ~ 1.8e19
}
_SPACES: dict[str, Space] = {}


def _space(key: str) -> Space:
    if key not in _SPACES:
        src = SPECS[key]()
        _SPACES[key] = Space.load(src) if isinstance(src, Path) else Space(src)
    return _SPACES[key]


@pytest.mark.parametrize("key", list(SPECS))
@SETTINGS
@given(data=st.data())
def test_config_and_variant_id_are_inverse(key, data):
    space = _space(key)
    vid = data.draw(st.integers(min_value=0, max_value=space.size - 1), label="id")
    cfg = space.config(vid)
    assert space.variant_id(cfg) == vid
    primaries = {k: cfg[k] for k in space.variables}
    assert primaries == mixed_radix_config(space, vid)


@pytest.mark.parametrize("key", list(SPECS))
def test_config_at_the_ends_of_the_id_range(key):
    space = _space(key)
    first = space.config(0)
    last = space.config(space.size - 1)
    for name, choices in space.variables.items():
        assert first[name] == choices[0]
        assert last[name] == choices[-1]
    assert space.variant_id(last) == space.size - 1


def test_vgg_size_is_the_documented_product():
    space = Space.load(VGG)
    assert space.size == 7 * (4 * 11 * 4) ** 5 * 4 == 4_728_477_974_528
    assert space.variant_id(space.config(12345)) == 12345


@pytest.mark.parametrize("key", ["toy", "staged"])
def test_ids_at_or_beyond_size_are_refused(key):
    space = _space(key)
    for bad in (space.size, space.size + 7):
        with pytest.raises(ArchsweepError, match="out of range"):
            space.config(bad)
        with pytest.raises(ArchsweepError, match="out of range"):
            space.model(bad)


def test_negative_ids_raise_archsweep_error():
    space = _space("toy")
    with pytest.raises(ArchsweepError):
        space.config(-1)
    with pytest.raises(ArchsweepError):
        space.model(-1)
    with pytest.raises(ArchsweepError):
        archsweep.sweep(space, ids=[0, -1])


def test_variant_id_rejects_unknown_values():
    space = Space(toy_spec())
    with pytest.raises(ArchsweepError, match="no value for variable 'b'"):
        space.variant_id({"c": True, "a": 4})
    with pytest.raises(ArchsweepError, match="not a choice of 'a'"):
        space.variant_id({"c": True, "a": 5, "b": 1})


# --------------------------------------------------------------------------------------------
# 2. exact sizes beyond 2^64


def test_size_is_exact_beyond_2_64():
    space = Space(big_spec(30, 10))
    assert isinstance(space.size, int)
    assert space.size == 10**30
    assert Space(big_spec(20, 10)).size == 10**20
    # 7 * 13^25: not a power of ten, so a float round trip would show
    spec = big_spec(25, 13)
    spec["variables"]["w"] = list(range(7))
    assert Space(spec).size == 7 * 13**25


def test_full_grid_of_a_huge_space_needs_sample():
    space = Space(big_spec(30, 10))
    with pytest.raises(ArchsweepError) as info:
        archsweep.sweep(space)
    msg = str(info.value)
    assert "sample" in msg
    assert "1,000,000,000,000,000,000,000,000,000,000" in msg and "10^30" in msg


def test_sampling_beyond_2_64_ids():
    """A 10^30-variant space is sampled: ids are u128, exact, Decimal(38, 0) in the table, and
    each row is the analysis of the concrete model of its id."""
    space = Space(big_spec(30, 10))
    df = archsweep.sweep(space, sample=300, seed=1)
    assert df.schema["variant_id"] == pl.Decimal(38, 0)
    ids = [int(v) for v in df["variant_id"]]
    assert len(set(ids)) == 300 and all(0 <= i < 10**30 for i in ids)
    assert sum(i >= 2**64 for i in ids) > 290  # spread over the space, not bunched below 2^64
    for row in df.head(8).iter_rows(named=True):
        vid = row["variant_id"]
        cfg = space.config(vid)  # a Decimal id is accepted
        assert cfg == mixed_radix_config(space, int(vid))
        assert space.variant_id(cfg) == int(vid)
        rep = archsweep.analyze(space.model(vid))
        assert row["params"] == rep.totals["params"] and row["macs"] == rep.totals["macs"]
    # the same seed gives the same ids; explicit ids give the same rows
    assert archsweep.sweep(space, sample=300, seed=1)["variant_id"].to_list() == df["variant_id"].to_list()
    again = archsweep.sweep(space, ids=ids[:50])
    assert again.equals(df.head(50))


def test_sampling_beyond_10_38_ids_is_refused():
    space = Space(big_spec(39, 10))
    with pytest.raises(ArchsweepError, match=r"more than 10\^38 ids"):
        archsweep.sweep(space, sample=10)
    with pytest.raises(ArchsweepError, match=r"more than 10\^38 ids"):
        archsweep.sweep(space, ids=[0, 1, 2])


def test_sampling_a_space_just_below_2_64_works():
    space = _space("big_below_2_64")
    df = archsweep.sweep(space, sample=20, seed=1)
    assert df.height == 20
    assert df["variant_id"].n_unique() == 20
    assert df["valid"].all()
    for row in df.head(5).iter_rows(named=True):
        cfg = space.config(row["variant_id"])
        assert all(row[k] == cfg[k] for k in space.variables)


_HUGE_GRID = """
import resource, sys
import archsweep
vars_ = {f"v{i}": list(range(1, 11)) for i in range(30)}
space = archsweep.Space({"name": "big", "input": [4], "variables": vars_,
    "layers": [{"op": "linear", "out_features": f"=v{i}"} for i in range(30)]})
# at most 512 MiB more address space than the imports took
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize:")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 29), vm + (1 << 29)))
try:
    archsweep.sweep(space, max_variants=10**40)
except archsweep.ArchsweepError as e:
    print("ArchsweepError:", e)
    sys.exit(0)
except MemoryError:
    print("MemoryError")
    sys.exit(3)
print("returned")
sys.exit(4)
"""


def test_grid_beyond_2_64_ids_is_refused_even_with_a_large_max_variants():
    # in a subprocess with an address-space limit, so the bug cannot exhaust the machine
    r = subprocess.run([sys.executable, "-c", _HUGE_GRID], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert "2^64 grid positions" in r.stdout and "sample" in r.stdout


def test_config_beyond_2_64_is_exact_or_a_clear_error():
    space = Space(big_spec(30, 10))
    vid = 10**29 + 123456789
    try:
        cfg = space.config(vid)
    except ArchsweepError:
        return
    assert cfg == mixed_radix_config(space, vid)


# --------------------------------------------------------------------------------------------
# 8. malformed specs


def spec_with(**kw) -> dict:
    base = {
        "name": "bad",
        "input": [3, 8, 8],
        "variables": {"w": [4, 8]},
        "layers": [{"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 3}],
    }
    base.update(kw)
    return base


def compile_error(spec: dict) -> str:
    with pytest.raises(ArchsweepError) as info:
        Space(spec)
    return str(info.value)


def test_unknown_variable_in_an_expression():
    msg = compile_error(spec_with(layers=[{"name": "conv", "op": "conv2d", "out_channels": "=wq * 2", "kernel_size": 3}]))
    assert "unknown variable 'wq'" in msg and "conv" in msg and "out_channels" in msg


def test_unknown_variable_in_a_derived_variable_and_a_constraint():
    msg = compile_error(spec_with(derived={"h": "w + nope"}))
    assert "derived variable 'h'" in msg and "unknown variable 'nope'" in msg
    msg = compile_error(spec_with(constraints=["w > zz"]))
    assert "constraint 'w > zz'" in msg and "unknown variable 'zz'" in msg


def test_cyclic_derived_variables_name_the_cycle():
    msg = compile_error(spec_with(derived={"a": "b + 1", "b": "c * 2", "c": "a - w"}))
    assert "cycle" in msg
    assert "a -> b -> c -> a" in msg
    msg = compile_error(spec_with(derived={"selfish": "selfish + 1"}))
    assert "cycle" in msg and "selfish -> selfish" in msg


def test_division_by_zero_for_some_variants_gives_invalid_rows():
    spec = spec_with(
        variables={"w": [0, 2, 4]},
        layers=[{"name": "conv", "op": "conv2d", "out_channels": "=8 // w", "kernel_size": 1}],
    )
    space = Space(spec)  # compiles: only variant 0 divides by zero
    df = archsweep.sweep(space)
    assert df["variant_id"].to_list() == [0, 1, 2]
    assert df["valid"].to_list() == [False, True, True]
    err = df["error"][0]
    assert "division by zero" in err and "conv" in err
    assert df["params"].to_list() == [None, 3 * 4 + 4, 3 * 2 + 2]
    with pytest.raises(ArchsweepError, match="division by zero"):
        space.model(0)


def test_division_by_zero_in_a_derived_variable_gives_invalid_rows():
    spec = spec_with(
        variables={"w": [0, 2]},
        derived={"q": "16 // w"},
        layers=[{"name": "conv", "op": "conv2d", "out_channels": "=q", "kernel_size": 1}],
    )
    df = archsweep.sweep(Space(spec))
    assert df["valid"].to_list() == [False, True]
    assert "derived variable 'q'" in df["error"][0] and "division by zero" in df["error"][0]


@pytest.mark.parametrize("variables", [{"w": []}, {"w": {"choices": []}}])
def test_empty_choice_list(variables):
    msg = compile_error(spec_with(variables=variables))
    assert "variable 'w'" in msg and "empty" in msg


def test_empty_range_and_bad_step():
    msg = compile_error(spec_with(variables={"w": {"range": [8, 4]}}))
    assert "variable 'w'" in msg and "empty" in msg
    msg = compile_error(spec_with(variables={"w": {"range": [4, 8], "step": 0}}))
    assert "step must be a positive integer" in msg


def test_negative_repeat_count_for_some_variant_names_block_and_values():
    spec = spec_with(
        variables={"w": [4, 8], "d": [0, 1, 2]},
        layers=[{"name": "blk", "repeat": "=d - 1", "index": "i", "layers": [
            {"name": "c{i}", "op": "conv2d", "out_channels": "=w", "kernel_size": 1},
        ]}],
    )
    msg = compile_error(spec)
    assert "blk" in msg and "negative" in msg
    assert "d - 1" in msg or "d-1" in msg
    assert "= -1" in msg and "d=0" in msg


def test_fixed_negative_repeat_count():
    msg = compile_error(spec_with(layers=[{"name": "blk", "repeat": -2, "layers": [{"op": "relu"}]}]))
    assert "blk" in msg and "-2" in msg and "non-negative" in msg


def test_duplicate_layer_names_inside_a_repeat_without_index():
    spec = spec_with(layers=[{"name": "blk", "repeat": 2, "layers": [
        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 1},
    ]}])
    msg = compile_error(spec)
    assert "conv" in msg and "already defined" in msg and "{index}" in msg
    # an unnamed repeat block adds no prefix either
    spec = spec_with(layers=[{"repeat": 3, "layers": [{"name": "relu", "op": "relu"}]}])
    assert "already defined" in compile_error(spec)


@pytest.mark.parametrize("out_channels", ["=w", 4])
def test_unknown_op(out_channels):
    msg = compile_error(spec_with(layers=[{"name": "c", "op": "conv9d", "out_channels": out_channels, "kernel_size": 1}]))
    assert "unknown op 'conv9d'" in msg and "c (conv9d)" in msg


@pytest.mark.parametrize("out_channels", ["=w", 4])
def test_unknown_attribute(out_channels):
    msg = compile_error(spec_with(layers=[{"name": "c", "op": "conv2d", "out_channels": out_channels, "kernel_size": 1, "kernal": 3}]))
    assert "unknown attribute 'kernal'" in msg and "conv2d" in msg and "kernel_size" in msg


@pytest.mark.parametrize("where, expr", [
    ("attr", "=(w * 2"),
    ("when", "=(w > 2"),
    ("derived", "(w + 1"),
    ("repeat", "=(w"),
])
def test_unbalanced_paren(where, expr):
    layer = {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 1}
    if where == "attr":
        spec = spec_with(layers=[{**layer, "out_channels": expr}])
    elif where == "when":
        spec = spec_with(layers=[{**layer, "when": expr}])
    elif where == "derived":
        spec = spec_with(derived={"h": expr})
    else:
        spec = spec_with(layers=[{"name": "blk", "repeat": expr, "layers": [{"op": "relu"}]}])
    msg = compile_error(spec)
    assert "unclosed '('" in msg
    assert expr.lstrip("=") in msg


def test_missing_input():
    spec = spec_with(layers=[
        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 1},
        {"name": "sum", "op": "add", "inputs": ["conv", "nope"]},
    ])
    msg = compile_error(spec)
    assert "sum (add)" in msg and "input 'nope'" in msg


def test_a_layer_without_op():
    msg = compile_error(spec_with(layers=[{"name": "conv", "out_channels": "=w"}]))
    assert "missing 'op'" in msg


def test_misc_spec_errors():
    assert "unknown key 'choises'" in compile_error(spec_with(variables={"w": {"choises": [1]}}))
    assert "no layers" in compile_error(spec_with(layers=[]))
    assert "has the name of a variable" in compile_error(spec_with(derived={"w": "1"}))
    assert "unknown block key 'repeats'" in compile_error(spec_with(layers=[{"repeats": 2, "layers": [{"op": "relu"}]}]))


def test_load_names_the_file(tmp_path):
    p = tmp_path / "broken.json"
    import json

    p.write_text(json.dumps(spec_with(variables={"w": []})))
    with pytest.raises(ArchsweepError) as info:
        Space.load(p)
    assert str(p) in str(info.value) and "empty" in str(info.value)
    with pytest.raises(ArchsweepError, match="no such space file"):
        Space.load(tmp_path / "missing.toml")


def test_spec_formats_toml_yaml_json_agree(tmp_path):
    import json

    import yaml

    spec = toy_spec()
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    a, b = Space.load(tmp_path / "s.json"), Space.load(tmp_path / "s.yaml")
    assert a.variables == b.variables and a.size == b.size
    assert a.spec_hash == b.spec_hash == Space(spec).spec_hash
    assert [a.config(i) for i in range(a.size)] == [b.config(i) for i in range(b.size)]


# --------------------------------------------------------------------------------------------
# switched-off layers pass their first input through, whether off statically or per variant


def _shortcut_spec(when: str) -> dict:
    return {
        "name": "shortcut",
        "input": [8, 8, 8],
        "variables": {"w": [8, 16]},
        "layers": [
            {"name": "blk{i}", "repeat": 2, "index": "i", "layers": [
                {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
                {"name": "proj", "op": "conv2d", "inputs": ["block_input"], "out_channels": 8, "kernel_size": 1, "when": when},
                {"name": "sum", "op": "add", "inputs": ["conv", "proj"]},
            ]},
            {"name": "head", "op": "conv2d", "out_channels": "=w", "kernel_size": 1},
        ],
    }


def test_per_variant_when_passes_the_first_input_through():
    # `w < 0` is never true but depends on a variable, so the condition is not constant
    space = Space(_shortcut_spec("=i == 0 or w < 0"))
    m = space.model(0)
    by_name = {layer["name"]: layer for layer in m.layers}
    assert "blk0.proj" in by_name and "blk1.proj" not in by_name
    assert by_name["blk1.sum"]["inputs"] == ["blk1.conv", "blk0.sum"]


def test_statically_off_when_passes_the_first_input_through():
    # docs/spaces.md's projection-shortcut pattern with a condition on the loop index only
    # (compile-time false for i = 1; failed to compile before bea7825)
    space = Space(_shortcut_spec("=i == 0"))
    m = space.model(0)
    by_name = {layer["name"]: layer for layer in m.layers}
    assert "blk0.proj" in by_name and "blk1.proj" not in by_name
    assert by_name["blk1.sum"]["inputs"] == ["blk1.conv", "blk0.sum"]
    df = archsweep.sweep(space)
    assert df["valid"].all()
    assert df["params"].to_list() == [archsweep.analyze(space.model(i)).totals["params"] for i in range(space.size)]


# --------------------------------------------------------------------------------------------
# 9. CLI: archsweep space


def run_cli(*args, cwd=None):
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "TERM": "dumb"}
    import os

    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "archsweep", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_cli_space_prints_size_and_variables():
    r = run_cli("space", VGG)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "4,728,477,974,528 variants" in out
    assert "17 variables" in out
    for name in ["res", "depth_0", "width_0", "kernel_0", "width_4", "kernel_4", "fc"]:
        assert name in out
    assert "example: variant 2364238987264" in out  # size // 2
    assert "params" in out


def test_cli_space_with_id_and_derived(tmp_path):
    import json

    p = tmp_path / "toy.json"
    p.write_text(json.dumps(toy_spec()))
    r = run_cli("space", p, "--id", 5)
    assert r.returncode == 0, r.stderr
    assert "24 variants" in r.stdout
    assert "derived: a2" in r.stdout
    # id 5 = c True (digit 0), a 8 (digit 1), b 2 (digit 1)
    assert "variant 5" in r.stdout and "'a': 8" in r.stdout and "'b': 2" in r.stdout


@pytest.mark.parametrize("case", ["missing", "malformed", "bad_id"])
def test_cli_space_errors_exit_2_without_traceback(tmp_path, case):
    import json

    if case == "missing":
        r = run_cli("space", tmp_path / "nope.toml")
        want = "no such space file"
    elif case == "malformed":
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(spec_with(derived={"a": "b", "b": "a"})))
        r = run_cli("space", p)
        want = "cycle"
    else:
        p = tmp_path / "toy.json"
        p.write_text(json.dumps(toy_spec()))
        r = run_cli("space", p, "--id", 24)
        want = "out of range"
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("archsweep: error:"), r.stderr
    assert want in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
