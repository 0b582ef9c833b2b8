"""Bad arguments of the Python API: an ArchsweepError (a ValueError) naming the argument and its
value, or ArgumentTypeError (both an ArchsweepError and a TypeError) for a wrong type; never a
TypeError, OverflowError or polars error from deep inside."""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest
from error_cases import TINY_SPEC as SPEC
from error_cases import assert_message

import archsweep
from archsweep import ArchsweepError
from archsweep.checks import ArgumentTypeError

LEAKS = ("Traceback", "panicked", "object cannot be interpreted", "not supported between", "can't convert",
         "too big to convert", "is not an instance of", "NoneType", "the NoneType")


def relu(**model) -> dict:
    return {"input": [3, 8, 8], "layers": [{"op": "relu"}]} | model


def conv(**attrs) -> dict:
    return {"input": [3, 8, 8], "layers": [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel_size": 3, **attrs}]}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> list:
    a: list = []
    a.append(a)
    return a


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("api-errors")
    space = archsweep.Space(SPEC)
    ds = d / "ds"
    archsweep.sweep_to_dataset(space, ds, chunk_rows=4)
    latin = d / "latin.toml"
    latin.write_bytes(b'name = "caf\xe9"\n')
    afile = d / "afile"
    afile.write_text("x")
    (d / "d.png").mkdir()
    return {"space": space, "ds": ds, "lf": archsweep.scan(ds), "df": archsweep.scan(ds).collect(), "dir": d,
            "latin": latin, "file": afile}


class Case(NamedTuple):
    call: Callable[[dict[str, Any]], Any]
    exc: type
    fragments: tuple[str, ...]


def case(id: str, call: Callable[[dict[str, Any]], Any], *fragments: str, exc: type = ArchsweepError):
    return pytest.param(Case(call, exc, fragments), id=id)


T = ArgumentTypeError
A = archsweep.analyze


def sweep(**kw) -> Callable[[dict[str, Any]], Any]:
    return lambda e: archsweep.sweep(e["space"], **kw)


def to_dataset(**kw) -> Callable[[dict[str, Any]], Any]:
    return lambda e: archsweep.sweep_to_dataset(e["space"], e["dir"] / "never", **kw)


CASES = [
    # ---------------------------------------------------------------- analyze: the model
    case("input-int", lambda e: A({"input": 5, "layers": [{"op": "relu"}]}), "input must be a list of positive ints", "got 5"),
    case("input-string", lambda e: A(relu(input="3x32x32")), "'3x32x32'", "input = [3, 32, 32]"),
    case("input-string-unparsable", lambda e: A(relu(input="image")), "'image'", "input = [3, 224, 224]"),
    case("input-dict", lambda e: A(relu(input={"c": 3})), "input must be a list of positive ints"),
    case("input-nan", lambda e: A(relu(input=[3, float("nan")])), "input[1]=nan is not a finite number"),
    case("input-beyond-u64", lambda e: A(relu(input=[3, 2**70])), "input[1]=1180591620717411303424", "64 bits"),
    case("attr-nan", lambda e: A(conv(out_channels=float("nan"))), "c (conv2d): out_channels=nan is not a finite number"),
    case("attr-inf", lambda e: A(conv(kernel_size=float("inf"))), "c (conv2d): kernel_size=inf"),
    case("attr-neg-inf-in-list", lambda e: A(conv(kernel_size=[3, float("-inf")])), "c (conv2d): kernel_size[1]=-inf"),
    case("attr-10**30", lambda e: A(conv(out_channels=10**30)), "c (conv2d): out_channels=1000000000000000000000000000000",
         "64 bits"),
    case("attr-minus-10**30", lambda e: A(conv(padding=-(10**30))), "c (conv2d): padding=-1000000000000000000000000000000"),
    case("attr-10**5000", lambda e: A(conv(out_channels=10**5000)), "c (conv2d): out_channels=1.00 × 10^5000", "64 bits"),
    case("attr-date", lambda e: A(conv(out_channels=datetime.date(2020, 1, 1))), "c (conv2d): out_channels is a date"),
    case("attr-set", lambda e: A(conv(out_channels={4, 8})), "c (conv2d): out_channels is a set"),
    case("attr-bytes", lambda e: A(conv(out_channels=b"4")), "c (conv2d): out_channels is a bytes"),
    case("attr-decimal", lambda e: A(conv(out_channels=decimal.Decimal(4))), "c (conv2d): out_channels is a Decimal"),
    case("attr-object", lambda e: A(conv(out_channels=object())), "c (conv2d): out_channels is a object"),
    case("attr-nested-100k", lambda e: A(conv(kernel_size=nested(100_000))), "c (conv2d): kernel_size", "nested more than 64"),
    case("attr-cyclic", lambda e: A(conv(kernel_size=cyclic())), "c (conv2d): kernel_size", "nested more than 64"),
    case("attr-int-key", lambda e: A(conv(extra={1: 2})), "c (conv2d): extra: key 1 is not a string"),
    case("layer-int-key", lambda e: A({"input": [4], "layers": [{"op": "relu", 3: 4}]}), "relu_1 (relu): key 3 is not a string"),
    case("unnamed-layer-named", lambda e: A({"input": [4], "layers": [{"op": "relu"}, {"op": "relu", "x": float("nan")}]}),
         "relu_2 (relu): x=nan"),
    case("layer-without-op-named", lambda e: A({"input": [4], "layers": [{"name": "q", "x": float("inf")}]}), "q: x=inf"),
    case("attr-nan-in-table", lambda e: A(conv(extra={"a": [1, float("nan")]})), "c (conv2d): extra.a[1]=nan"),
    case("model-unknown-key", lambda e: A(relu(inptu=[3])), "unknown model key", "inptu"),
    case("model-not-a-model", lambda e: A(5), "analyze() takes a Model, a path, a zoo model name or a dict, not int", exc=T),
    case("model-list", lambda e: A([{"op": "relu"}]), "not list", exc=T),
    case("model-layers-not-list", lambda e: A({"input": [3], "layers": 5}), "a model needs a 'layers' list"),
    case("model-file-not-utf8", lambda e: A(e["latin"]), "latin.toml", "not UTF-8", "0xe9"),
    case("model-file-directory", lambda e: A(e["dir"]), "is a directory, not a model file"),
    case("model-nul-in-name", lambda e: A("a\0b"), "unknown model"),
    case("model-Model-string-input", lambda e: A(archsweep.Model("m", [{"op": "relu"}], input="3x8x8")),  # type: ignore[arg-type]
         "input = [3, 8, 8]"),
    # ---------------------------------------------------------------- analyze: the options
    case("input_shape-string", lambda e: A(relu(), input_shape="3x8x8"), "input_shape", "'3x8x8'", "input_shape=(3, 8, 8)", exc=T),
    case("input_shape-int", lambda e: A(relu(), input_shape=3), "input_shape", "got 3", exc=T),
    case("input_shape-float", lambda e: A(relu(), input_shape=[3, 8.0]), "input_shape[1] must be an integer, got the float 8.0",
         exc=T),
    case("input_shape-bool", lambda e: A(relu(), input_shape=[3, True]), "input_shape[1] must be an integer, got True", exc=T),
    case("input_shape-2**64", lambda e: A(relu(), input_shape=[3, 2**64]), "input_shape[1] must be at most 2**64 - 1"),
    case("input_shape-zero", lambda e: A(relu(), input_shape=[3, 0]), "input shape (3, 0) must have positive dims"),
    case("batch-string", lambda e: A(relu(), batch="2"), "batch must be an integer, got the str '2'", exc=T),
    case("batch-float", lambda e: A(relu(), batch=2.0), "batch must be an integer, got the float 2.0", exc=T),
    case("batch-none", lambda e: A(relu(), batch=None), "batch must be an integer, got None", exc=T),
    case("batch-zero", lambda e: A(relu(), batch=0), "batch must be at least 1, got 0"),
    case("batch-2**64", lambda e: A(relu(), batch=2**64), "batch must be at most 2**64 - 1", "18446744073709551616"),
    case("dtype-int", lambda e: A(relu(), dtype=16), "dtype must be a string, got the int 16", exc=T),
    case("dtype-unknown", lambda e: A(relu(), dtype="fp7"), "unknown dtype 'fp7'"),
    case("optimizer-none", lambda e: A(relu(), optimizer=None), "optimizer must be a string", exc=T),
    case("optimizer-unknown", lambda e: A(relu(), optimizer="lion"), "unknown optimizer 'lion'"),
    # ---------------------------------------------------------------- sweep
    case("sample-float", sweep(sample=1.5), "sample must be an integer, got the float 1.5 (--sample)", exc=T),
    case("sample-string", sweep(sample="10"), "sample must be an integer, got the str '10' (--sample)", exc=T),
    case("sample-bool", sweep(sample=True), "sample must be an integer, got True", exc=T),
    case("sample-negative", sweep(sample=-1), "sample=-1 must not be negative"),
    case("sample-too-many", sweep(sample=9), "cannot sample 9 distinct variants from a space of 8"),
    case("where-int", sweep(where=123), "where must be a string, got the int 123 (--where)", exc=T),
    case("where-syntax", sweep(where="params <"), "'params <'", "expected an operand"),
    case("where-unknown", sweep(where="parms < 5"), "parms"),
    case("seed-negative", sweep(sample=2, seed=-1), "seed must be at least 0, got -1 (--seed)"),
    case("seed-2**64", sweep(sample=2, seed=2**64), "seed must be at most 2**64 - 1", "18446744073709551616"),
    case("seed-float", sweep(sample=2, seed=1.0), "seed must be an integer, got the float 1.0", exc=T),
    case("seed-none", sweep(sample=2, seed=None), "seed must be an integer", exc=T),
    case("sampler-3", sweep(sample=2, sampler=3), "unknown sampler 3 (1 or 2)"),
    case("sampler-bool", sweep(sample=2, sampler=True), "sampler must be an integer, got True", exc=T),
    case("sampler-string", sweep(sample=2, sampler="2"), "sampler must be an integer, got the str '2'", exc=T),
    case("threads-negative", sweep(threads=-1), "threads must be at least 0 (0: all cores), got -1 (--threads)"),
    case("threads-float", sweep(threads=1.5), "threads must be an integer, got the float 1.5", exc=T),
    case("threads-huge", sweep(threads=10**6), "threads must be at most 4,096"),
    case("batch-sweep-zero", sweep(batch=0), "batch must be at least 1, got 0"),
    case("batch-sweep-10**30", sweep(batch=10**30), "batch must be at most 2**64 - 1", str(10**30)),
    case("batch-sweep-string", sweep(batch="1"), "batch must be an integer", exc=T),
    case("chunk-rows-zero", sweep(chunk_rows=0), "chunk_rows must be at least 1, got 0"),
    case("chunk-rows-float", sweep(chunk_rows=1e3), "chunk_rows must be an integer, got the float 1000.0", exc=T),
    case("max-variants-negative", sweep(max_variants=-1), "max_variants must be at least 0, got -1"),
    case("max-variants-small", sweep(max_variants=2), "refused above 2"),
    case("ids-string", sweep(ids="12"), "ids must be a sequence of variant ids", exc=T),
    case("ids-int", sweep(ids=5), "ids must be a sequence of variant ids", exc=T),
    case("ids-float", sweep(ids=[1, 2.5]), "ids[1] must be an integer, got the float 2.5", exc=T),
    case("ids-negative", sweep(ids=[-1]), "variant id -1 is out of range [0, 8)"),
    case("ids-too-big", sweep(ids=[10**9]), "variant id 1000000000 is out of range [0, 8)"),
    case("ids-and-sample", sweep(ids=[1], sample=1), "give sample or ids, not both"),
    case("grid-range-one", sweep(grid_range=(0,)), "grid_range must be a pair of integers", exc=T),
    case("grid-range-string", sweep(grid_range="0:5"), "grid_range must be a pair of integers", "'0:5'", exc=T),
    case("grid-range-float", sweep(grid_range=(0, 2.5)), "grid_range[1] must be an integer, got the float 2.5", exc=T),
    case("grid-range-reversed", sweep(grid_range=(5, 2)), "grid_range [5, 2)", "not be empty"),
    case("grid-range-beyond", sweep(grid_range=(0, 10**30)), "grid_range [0, 1,000,000,000,000,000,000,000,000,000,000)"),
    case("shard-zero", sweep(shard=(0, 0)), "shard 0/0: need 0 <= I < N"),
    case("shard-string", sweep(shard="0/2"), "shard must be a pair of integers", exc=T),
    case("shard-out-of-range", sweep(shard=(2, 2)), "shard 2/2"),
    case("engine-unknown", sweep(engine="spark"), "unknown engine 'spark' (local, dask)"),
    case("engine-int", sweep(engine=5), "engine must be a string, got the int 5", exc=T),
    case("dtype-sweep-unknown", sweep(dtype="fp7"), "unknown dtype 'fp7'"),
    case("dtype-sweep-int", sweep(dtype=32), "dtype must be a string", exc=T),
    case("optimizer-sweep-none", sweep(optimizer=None), "optimizer must be a string", exc=T),
    case("workers-local", sweep(workers=2), "need engine='dask'"),
    case("workers-zero", sweep(engine="dask", workers=0), "workers must be at least 1, got 0"),
    case("scheduler-int", sweep(scheduler=5), "scheduler must be a string", exc=T),
    case("space-int", lambda e: archsweep.sweep(5), "space must be a Space or the path of a spec file", exc=T),
    case("space-missing", lambda e: archsweep.sweep(e["dir"] / "missing.toml"), "missing.toml", "no such space file"),
    case("space-dict", lambda e: archsweep.sweep(SPEC), "space must be a Space or the path", exc=T),
    case("out-int", lambda e: archsweep.sweep_to_dataset(e["space"], 5), "out must be the path of a directory", exc=T),
    case("out-file", lambda e: archsweep.sweep_to_dataset(e["space"], e["file"]), "afile is a file"),
    case("out-under-file", lambda e: archsweep.sweep_to_dataset(e["space"], e["file"] / "x"), "afile is a file"),
    case("to-dataset-seed", to_dataset(sample=2, seed=-1), "seed must be at least 0, got -1"),
    case("to-dataset-threads", to_dataset(threads=-1), "threads must be at least 0"),
    # ---------------------------------------------------------------- scan, top_k, pareto, query
    case("scan-int", lambda e: archsweep.scan(5), "directory must be the path of a sweep dataset", exc=T),
    case("scan-missing", lambda e: archsweep.scan(e["dir"] / "missing"), "missing"),
    case("top-k-negative", lambda e: archsweep.top_k(e["lf"], "macs", k=-1), "k must be at least 0, got -1"),
    case("top-k-float", lambda e: archsweep.top_k(e["lf"], "macs", k=2.5), "k must be an integer, got the float 2.5", exc=T),
    case("top-k-string", lambda e: archsweep.top_k(e["lf"], "macs", k="3"), "k must be an integer", exc=T),
    case("top-by-unknown", lambda e: archsweep.top_k(e["lf"], "nope"), "by='nope' is not a column of the dataset", "macs"),
    case("top-by-int", lambda e: archsweep.top_k(e["lf"], 5), "by must be a string, got the int 5", exc=T),
    case("top-where-int", lambda e: archsweep.top_k(e["lf"], "macs", where=123), "where must be a string, got the int 123 (--where)", exc=T),
    case("top-where-syntax", lambda e: archsweep.top_k(e["lf"], "macs", where="params <"), "--where: in 'params <': expected an operand at column 9"),
    case("top-where-unknown", lambda e: archsweep.top_k(e["lf"], "macs", where="nope > 1"), "--where: unknown variable 'nope' in 'nope > 1'"),
    case("top-where-expr-unknown", lambda e: archsweep.top_k(e["lf"], "macs", where=pl.col("nope") > 1), "where", "nope"),
    case("top-data-path", lambda e: archsweep.top_k(str(e["ds"]), "macs"), "top_k() reads a polars DataFrame or LazyFrame",
         exc=T),
    case("top-data-not-a-sweep", lambda e: archsweep.top_k(pl.DataFrame({"a": [1]}), "a"), "no variant_id or valid column"),
    case("pareto-unknown", lambda e: archsweep.pareto(e["lf"], minimize=["nope"]), "minimize='nope' is not a column"),
    case("pareto-string", lambda e: archsweep.pareto(e["lf"], minimize="params"), "got the string 'params'",
         "minimize=['params']", exc=T),
    case("pareto-empty", lambda e: archsweep.pareto(e["lf"], minimize=[]), "at least one column to minimize"),
    case("pareto-int-name", lambda e: archsweep.pareto(e["lf"], minimize=[5]), "minimize[0] must be a column name", exc=T),
    case("pareto-none", lambda e: archsweep.pareto(e["lf"], minimize=None), "minimize must be a list of column names", exc=T),
    case("pareto-string-column", lambda e: archsweep.pareto(e["lf"], minimize=["error"]), "minimize='error'",
         "integer columns", "String"),
    case("pareto-twice", lambda e: archsweep.pareto(e["lf"], minimize=["macs", "macs"]), "names a column twice"),
    case("pareto-negative-values", lambda e: archsweep.pareto(e["df"].with_columns(neg=-pl.col("macs").cast(pl.Int64)),
                                                              minimize=["neg"]),
         "minimize='neg'", "negative values"),
    case("pareto-where-syntax", lambda e: archsweep.pareto(e["lf"], where="macs >"), "--where: in 'macs >': expected an operand at column 7"),
    case("pareto-data-int", lambda e: archsweep.pareto(5), "pareto() reads a polars DataFrame or LazyFrame", exc=T),
    case("query-syntax", lambda e: archsweep.query(e["ds"], "SELEC 1"), "sql 'SELEC 1'"),
    case("query-unknown-column", lambda e: archsweep.query(e["ds"], "SELECT nope FROM sweep"), "nope"),
    case("query-int", lambda e: archsweep.query(e["ds"], 5), "sql must be a string", exc=T),
    # ---------------------------------------------------------------- plots and reports
    case("plot-x-unknown", lambda e: archsweep.plot_sweep(e["lf"], x="nope"), "x='nope' is not a column"),
    case("plot-y-int", lambda e: archsweep.plot_sweep(e["lf"], y=5), "y must be a string", exc=T),
    case("plot-color-string-column", lambda e: archsweep.plot_sweep(e["lf"], color="error"), "color='error'", "numeric"),
    case("plot-bins-zero", lambda e: archsweep.plot_sweep(e["lf"], bins=0), "bins must be at least 1, got 0"),
    case("plot-bins-float", lambda e: archsweep.plot_sweep(e["lf"], bins=2.5), "bins must be an integer", exc=T),
    case("plot-bins-huge", lambda e: archsweep.plot_sweep(e["lf"], bins=10**6), "bins must be at most 2,000"),
    case("plot-agg", lambda e: archsweep.plot_sweep(e["lf"], color="macs", agg="mode"), "unknown colour aggregation 'mode'"),
    case("plot-out-suffix", lambda e: archsweep.plot_sweep(e["lf"], out=e["dir"] / "p.txt"), "unknown plot format '.txt'"),
    case("plot-out-directory", lambda e: archsweep.plot_sweep(e["lf"], out=e["dir"] / "d.png"), "d.png", "is a directory",
         exc=IsADirectoryError),
    case("plot-source-int", lambda e: archsweep.plot_sweep(5), "source must be a sweep directory", exc=T),
    case("plot-where", lambda e: archsweep.plot_sweep(e["lf"], where="params <"), "--where: in 'params <': expected an operand at column 9"),
    case("report-front-rows", lambda e: archsweep.sweep_report(e["ds"], front_rows=-1), "front_rows must be at least 0"),
    case("report-source-int", lambda e: archsweep.sweep_report(5), "source must be the path of a sweep dataset", exc=T),
    case("report-out-under-file", lambda e: archsweep.sweep_report(e["ds"], e["file"] / "r.html"), "afile is a file",
         exc=NotADirectoryError),
    case("plot-layers-out", lambda e: archsweep.plot_layers(A(relu()), e["dir"] / "l.bmp"), "unknown plot format '.bmp'"),
    # ---------------------------------------------------------------- Space
    case("space-nan", lambda e: archsweep.Space({**SPEC, "layers": [{"op": "dropout", "p": float("nan")}]}),
         "layers[0].p=nan is not a finite number"),
    case("space-big-choice", lambda e: archsweep.Space({**SPEC, "variables": {"w": [4, 10**30]}}), "variables.w[1]=10000"),
    case("space-date", lambda e: archsweep.Space({**SPEC, "when": datetime.date(2020, 1, 1)}), "when is a date"),
    case("space-int-key", lambda e: archsweep.Space({**SPEC, 5: 1}), "the spec: key 5 is not a string"),
    case("space-nested", lambda e: archsweep.Space({**SPEC, "x": nested(100_000)}), "x", "nested more than 64"),
    case("space-not-a-table", lambda e: archsweep.Space([1]), "a space spec must be a table"),
    case("space-file-not-utf8", lambda e: archsweep.Space.load(e["latin"]), "latin.toml", "not UTF-8"),
    case("space-config-negative", lambda e: e["space"].config(-1), "variant id -1 is out of range [0, 8)"),
    case("space-config-string", lambda e: e["space"].config("1"), "a variant id is an integer, not '1'", exc=T),
    case("space-config-float", lambda e: e["space"].config(1.5), "a variant id is an integer, not 1.5", exc=T),
    case("space-model-huge", lambda e: e["space"].model(10**5000), "variant id 1.00 × 10^5000 is out of range [0, 8)"),
    case("space-variant-id", lambda e: e["space"].variant_id({"res": 8}), "no value for variable 'w'"),
    case("load-directory", lambda e: archsweep.load(e["dir"]), "is a directory, not a model file"),
]


@pytest.mark.parametrize("c", CASES)
def test_api_error(c: Case, env):
    with pytest.raises(c.exc) as info:
        c.call(env)
    e = info.value
    if c.exc is T:
        assert isinstance(e, ArchsweepError) and isinstance(e, TypeError) and isinstance(e, ValueError)
    assert_message(str(e), c.fragments, LEAKS)


def test_at_least_150_api_cases():
    assert len(CASES) >= 150


def test_a_refused_sweep_creates_no_directory(env):
    for kw in (dict(seed=-1, sample=2), dict(threads=-1), dict(batch=0), dict(where=5), dict(dtype="fp7"), dict(where="q <")):
        with pytest.raises(ArchsweepError):
            archsweep.sweep_to_dataset(env["space"], env["dir"] / "refused", **kw)
        assert not (env["dir"] / "refused").exists(), kw


def test_attribute_errors_carry_layer_and_op():
    with pytest.raises(archsweep.AttributeSpecError) as info:
        A(conv(out_channels=float("nan")))
    assert (info.value.kind, info.value.layer, info.value.op) == ("bad_attribute", "c", "conv2d")
    with pytest.raises(archsweep.SpecError) as spec_info:
        archsweep.Space({**SPEC, "layers": [{"op": "dropout", "p": float("inf")}]}, source="s.toml")
    assert str(spec_info.value) == "s.toml: layers[0].p=inf is not a finite number"
    assert spec_info.value.kind == "spec"


def test_numpy_values_are_numbers():
    """numpy scalars (from a DataFrame row, an array) are read as the numbers they are."""
    model = conv(out_channels=np.int64(8), kernel_size=[np.int32(3), 3], bias=np.bool_(False))
    report = A(model, input_shape=np.array([3, 8, 8]), batch=np.int64(2))
    assert report.totals["params"] == 8 * 3 * 3 * 3
    with pytest.raises(archsweep.AttributeSpecError, match=r"c \(conv2d\): out_channels=nan"):
        A(conv(out_channels=np.float64("nan")))
    sweep_ids = archsweep.sweep(archsweep.Space(SPEC), ids=np.array([1, 3]), seed=np.uint64(1))
    assert sweep_ids["variant_id"].to_list() == [1, 3]


def test_a_model_round_trips_unchanged():
    """The check changes nothing a valid model holds (tuples become lists, as JSON has them)."""
    m = archsweep.Model("m", [{"op": "conv2d", "out_channels": 4, "kernel_size": (3, 3), "padding": "same"}], input=(3, 8, 8))
    assert json.loads(m.to_json()) == {"name": "m", "input": [3, 8, 8],
                                       "layers": [{"op": "conv2d", "out_channels": 4, "kernel_size": [3, 3], "padding": "same"}]}


def test_spec_hash_is_unchanged_by_the_check():
    import hashlib

    from archsweep.space import canonical_json

    assert archsweep.Space(SPEC).spec_hash == hashlib.sha256(canonical_json(SPEC).encode()).hexdigest()


def test_argument_type_error_is_exported():
    assert archsweep.ArgumentTypeError is ArgumentTypeError
    assert issubclass(ArgumentTypeError, ArchsweepError) and issubclass(ArgumentTypeError, TypeError)


def test_directory_argument_may_be_a_path(env):
    assert archsweep.scan(Path(env["ds"])).collect().height == 8


@pytest.mark.parametrize("kernel, message", [
    ("=w * 1e300 * 1e300", "c (conv2d): kernel_size=inf is not a finite number in 'w * 1e300 * 1e300'"),
    ("=1e300 * 1e300", "c (conv2d): kernel_size=inf is not a finite number in '1e300 * 1e300'"),
    ([1, "=w * 1e300 * -1e300"], "c (conv2d): kernel_size[1]=-inf is not a finite number in 'w * 1e300 * -1e300'"),
    ("=w * 1e300 * 1e300 - w * 1e300 * 1e300", "c (conv2d): kernel_size=NaN is not a finite number"),
], ids=["inf", "constant-inf", "in-a-list", "nan"])
def test_an_expression_that_is_not_finite_is_named(kernel, message):
    """JSON has no NaN or infinity: such an expression's value used to become null, which the op
    read as "missing required attribute 'kernel_size'"."""
    space = archsweep.Space({"name": "s", "input": [3, 8, 8], "variables": {"w": [4, 8]},
                             "layers": [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel_size": kernel}]})
    rows = archsweep.sweep(space)
    fresh = pl.concat([pl.from_arrow(b) for b in space.compiled.evaluate("grid", 0, 2, reuse=False)[0]])  # type: ignore[misc]
    for frame in (rows, fresh):
        assert frame["valid"].to_list() == [False, False]
        assert all(e.startswith(message) for e in frame["error"].to_list()), frame["error"].to_list()
    with pytest.raises(archsweep.AttributeSpecError) as info:
        space.model(0)
    assert str(info.value).startswith(message)
    assert (info.value.layer, info.value.op) == ("c", "conv2d")
