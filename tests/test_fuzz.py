"""Fuzzing specs and filter expressions (issue 20, item 7): whatever the input, archsweep gives a
result or an ArchsweepError with a message — never another exception, a panic or a traceback —
and a filter keeps the same rows whether a sweep pushes it down or a results helper applies it
to the table afterwards.

Bounded for CI (about a minute on the CI machine): ``ARCHSWEEP_FUZZ_EXAMPLES`` scales the number
of examples (``scripts/fuzz`` runs many more by hand, with hypothesis's database kept).
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archsweep
from archsweep import ArchsweepError

SCALE = float(os.environ.get("ARCHSWEEP_FUZZ_EXAMPLES", "1"))
LEAKS = ("Traceback", "panicked", "RUST_BACKTRACE", "This error occurred in the following expression")


def examples(n: int) -> Any:
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize="ARCHSWEEP_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


def clean_error(e: BaseException) -> None:
    """The only acceptable failure: an ArchsweepError whose message is text for a person."""
    assert isinstance(e, ArchsweepError), f"{type(e).__name__}: {e}"
    msg = str(e)
    assert msg and not any(leak in msg for leak in LEAKS), msg


# ---------------------------------------------------------------------------------------------
# expressions

SPACE = archsweep.Space({
    "name": "fuzz",
    "input": [3, "=res", "=res"],
    "variables": {"res": [8, 16], "w": [4, 8, 16], "k": [1, 3], "act": ["relu", "gelu"]},
    "layers": [
        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": "=k", "padding": "=k // 2"},
        {"op": "=act"},
        {"op": "adaptive_avgpool2d", "output_size": 1},
        {"op": "flatten"},
        {"op": "linear", "out_features": 10},
    ],
})
ROWS = archsweep.sweep(SPACE)
NAMES = ["res", "w", "k", "act", "params", "macs", "flops", "peak_activation_bytes", "num_layers", "train_bytes"]
UNITS = ["", "", "", " KiB", " MiB", " GiB", " K", " M", " G", " kB", " MB", " TiB", " T"]

numbers = st.one_of(
    st.integers(-10, 300).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(abs(f))),
    st.tuples(st.integers(0, 99), st.sampled_from(UNITS)).map(lambda t: f"{t[0]}{t[1]}"),
    st.sampled_from(["True", "False", "true", "false", "'relu'", "'gelu'", "'x'", "1e30", "2**63", "10**30", "1_000"]),
)


def expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(numbers, st.sampled_from(NAMES))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binop = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!=", "and", "or"])
        return st.one_of(
            st.tuples(inner, binop, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            st.tuples(st.sampled_from(["-", "not ", "+"]), inner).map(lambda t: f"{t[0]}{t[1]}"),
            inner.map(lambda x: f"({x})"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
            st.tuples(st.sampled_from(["min", "max", "abs", "round", "ceil", "floor", "int", "float", "make_divisible"]),
                      st.lists(inner, min_size=1, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(st.lists(inner, min_size=0, max_size=4), inner).map(lambda t: f"[{', '.join(t[0])}][{t[1]}]"),
        )

    return st.recursive(leaf, extend, max_leaves=8)


# (a table has columns a sweep's filter has not: variant_id, valid, error, output_shape)
garbage = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30).filter(
    lambda s: not any(c in s for c in ("variant_id", "valid", "error", "output_shape")))


def ids_or_error(run: Any) -> tuple[str, Any]:
    try:
        return "rows", sorted(run()["variant_id"].to_list())
    except Exception as e:  # noqa: BLE001 (the point: what came out must be an ArchsweepError)
        clean_error(e)
        return "error", type(e).__name__


@examples(600)
@given(st.one_of(expressions(), garbage))
def test_a_filter_gives_rows_or_a_clean_error_and_the_same_rows_everywhere(where):
    pushed = ids_or_error(lambda: archsweep.sweep(SPACE, where=where))
    table = ids_or_error(lambda: archsweep.top_k(ROWS, by="params", k=10**6, where=where))
    # a filter the sweep accepts keeps the same rows from the table; one it refuses is refused
    # there too (a compile error in both, or failing rows in both)
    assert pushed[0] == table[0], (where, pushed, table)
    if pushed[0] == "rows":
        assert pushed == table, where


# ---------------------------------------------------------------------------------------------
# specs

OPS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "conv2d": {"out_channels": st.integers(-2, 20), "kernel_size": st.integers(-1, 9), "stride": st.integers(0, 3),
               "padding": st.integers(-1, 4), "groups": st.integers(0, 4), "dilation": st.integers(0, 3)},
    "linear": {"out_features": st.integers(-1, 50), "bias": st.booleans()},
    "relu": {},
    "batchnorm2d": {},
    "maxpool2d": {"kernel_size": st.integers(0, 5), "stride": st.integers(0, 3)},
    "adaptive_avgpool2d": {"output_size": st.integers(0, 2**33)},
    "flatten": {},
    "dropout": {"p": st.floats(-0.5, 1.5, allow_nan=False)},
    "layernorm": {"normalized_shape": st.integers(0, 40)},
    "no_such_op": {"x": st.integers()},
}

attr_value = st.one_of(
    st.integers(-5, 64),
    st.sampled_from(["=w", "=w * 2", "=k", "=k // 2", "=w // 0", "=res", "=[1, 2][k]", "=10**30", "=nope", "=w +"]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none(), st.lists(st.integers(-1, 9), max_size=3),
)


@st.composite
def layer(draw: Any) -> dict[str, Any]:
    op = draw(st.sampled_from(list(OPS)))
    attrs = {k: draw(st.one_of(v, attr_value)) for k, v in OPS[op].items() if draw(st.booleans())}
    out: dict[str, Any] = {"op": op, **attrs}
    if draw(st.integers(0, 5)) == 0:
        out["name"] = draw(st.sampled_from(["a", "b{i}", "{i}", "x" * 1100, "conv", "{i // 0}", "é"]))
    if draw(st.integers(0, 6)) == 0:
        out["when"] = draw(st.sampled_from(["k == 3", "w > 4", "nope", "1 // 0", "true"]))
    return out


@st.composite
def items(draw: Any, depth: int = 0) -> list[Any]:
    out: list[Any] = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 4))):
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            repeat = draw(st.one_of(st.integers(-1, 4), st.sampled_from(["=k", "=w // 4", "=k - 5", 2_000_000_000, 100_001, "=x"])))
            block: dict[str, Any] = {"repeat": repeat, "index": "i", "layers": draw(items(depth + 1))}
            if draw(st.booleans()):
                block["name"] = draw(st.sampled_from(["blk{i}", "s", "{i}"]))
            out.append(block)
        else:
            out.append(draw(layer()))
    return out


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    variables = {"res": draw(st.sampled_from([[8, 16], [4], [0], [32, 8]])), "w": draw(st.sampled_from([[4, 8], [1], [4, "a"]])),
                 "k": draw(st.sampled_from([[1, 3], [3], [], [1.5]]))}
    spec: dict[str, Any] = {"name": "fuzz", "input": draw(st.sampled_from([[3, "=res", "=res"], [3, 8, 8], [8], [3, 0, 0]])),
                            "variables": variables, "layers": draw(items())}
    if draw(st.integers(0, 4)) == 0:
        spec["constraints"] = [draw(st.sampled_from(["w >= 4", "params < 10**30", "1 // 0 == 0", "nope"]))]
    return spec


@examples(250)
@given(specs(), st.integers(0, 3))
def test_a_spec_gives_a_space_or_a_clean_error(spec, batch):
    try:
        space = archsweep.Space(spec)
        size = space.size
    except Exception as e:  # noqa: BLE001
        clean_error(e)
        return
    assert size >= 0
    try:
        df = archsweep.sweep(space, sample=min(size, 20), seed=1, batch=batch) if size else space.empty_frame()
    except Exception as e:  # noqa: BLE001 (batch=0, or a variant id beyond a sample's reach)
        clean_error(e)
        return
    assert df.schema == space.schema()
    valid = df.filter(pl.col("valid"))
    assert valid.select(pl.col("params").is_null().sum()).item() == 0
    invalid = df.filter(~pl.col("valid"))
    assert invalid.select(pl.col("error").is_null().sum()).item() == 0
    assert not any(leak in e for e in invalid["error"].to_list() for leak in LEAKS)


@pytest.mark.parametrize("where", ["[1, 2][res] == 1", "params * 10**17 > 0", "w // (k - 1) > 1"])
def test_row_errors_are_refused_by_both(where):
    # examples hypothesis may not reach: per-row failures in some rows, refused in both places
    assert ids_or_error(lambda: archsweep.sweep(SPACE, where=where))[0] == "error"
    assert ids_or_error(lambda: archsweep.top_k(ROWS, by="params", k=100, where=where))[0] == "error"
