"""Issue 20, items 2-4: one filter language for every ``where`` (sweep push-down and the
commands reading a dataset), filter errors never silent, Int64 metric columns, and caps where
CPU or memory would blow up. Every expected value is written out here (hand derivations, a
hand-written polars filter), never computed by the code under test."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import archsweep
from archsweep import ArchsweepError, ExpressionError, SpecError
from archsweep.cli import main
from archsweep.filters import FilterRowError

MiB = 2**20

# a small space with the metric spread the filters below need: 2·2·3 = 12 variants
SPEC = {
    "name": "small",
    "input": [3, "=res", "=res"],
    "variables": {"res": [8, 32], "w": [4, 64], "k": [1, 3, 5]},
    "layers": [
        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": "=k", "padding": "=k // 2"},
        {"op": "relu"},
        {"op": "adaptive_avgpool2d", "output_size": 1},
        {"op": "flatten"},
        {"op": "linear", "out_features": 10},
    ],
}


@pytest.fixture(scope="module")
def space() -> archsweep.Space:
    return archsweep.Space(SPEC)


@pytest.fixture(scope="module")
def rows(space) -> pl.DataFrame:
    return archsweep.sweep(space)


@pytest.fixture(scope="module")
def dataset(space, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("integrity") / "d"
    archsweep.sweep_to_dataset(space, out=d, chunk_rows=5)
    return d


# ---------------------------------------------------------------------------------------------
# One language: the same rows from the sweep's push-down, top_k, pareto's filter and the CLI,
# equal to the filter written by hand in polars

c = pl.col
SAME_ROWS = [
    ("peak_activation_bytes < 64 KiB", c("peak_activation_bytes") < 64 * 1024),
    ("activation_bytes >= 0.25 MiB", c("activation_bytes") >= MiB // 4),
    ("params < 5K", c("params") < 5_000),
    ("macs > 1.5 M", c("macs") > 1_500_000),
    ("res < 10**30", pl.lit(True)),  # 10**30 folds to a number: every row
    ("params - macs < 0", (c("params") - c("macs")) < 0),  # Int64: no wrap-around
    ("1 < k < 5", (c("k") > 1) & (c("k") < 5)),  # chained comparison
    ("-7 // 2 == -4 and k % 3 == 2", c("k") == 5),  # floor division and modulo as Python's
    ("w == 64 or res == 8 and k == 1", (c("w") == 64) | ((c("res") == 8) & (c("k") == 1))),
    ("not (w == 4)", c("w") != 4),
    ("[10, 20, 30][k // 2] == 20", c("k") == 3),  # indexing a list by a column
    ("max(w, res) == 32", (c("w") == 4) & (c("res") == 32)),
    ("(macs if w == 4 else params) > 20000", pl.when(c("w") == 4).then(c("macs")).otherwise(c("params")) > 20_000),
    ("res / 3 > 10", c("res") == 32),  # true division gives a float
    ("make_divisible(w * 0.75, 8) == 48", c("w") == 64),  # torchvision: 48 from 64 · 0.75
    ("round(2.5) == 2 and w == 4", c("w") == 4),  # round half to even
    ("true", pl.lit(True)),
]


@pytest.mark.parametrize("where, want", SAME_ROWS, ids=[w for w, _ in SAME_ROWS])
def test_every_where_reads_the_same_language(space, rows, dataset, where, want, capsys):
    expected = sorted(rows.filter(want)["variant_id"].to_list())
    assert sorted(archsweep.sweep(space, where=where)["variant_id"].to_list()) == expected
    assert sorted(archsweep.top_k(rows, by="params", k=100, where=where)["variant_id"].to_list()) == expected
    assert sorted(archsweep.top_k(archsweep.scan(dataset), by="macs", k=100, where=where)["variant_id"].to_list()) == expected
    front = archsweep.pareto(rows, minimize=["params", "macs"], where=where)
    assert set(front["variant_id"].to_list()) <= set(expected)
    assert main(["top", str(dataset), "--by", "params", "-k", "100", "--where", where, "--format", "json"]) == 0
    assert sorted(r["variant_id"] for r in json.loads(capsys.readouterr().out)) == expected


def test_the_reported_units_example_prints_rows(dataset, rows, capsys):
    # issue 20: `top DIR --by macs --where "peak_activation_bytes < 64 MiB"` printed 0 rows (polars
    # SQL read `64 MiB` as a column alias). Every row of this space is below 64 MiB.
    assert main(["top", str(dataset), "--by", "macs", "-k", "100", "--where", "peak_activation_bytes < 64 MiB",
                 "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == rows.height == 12


def test_plot_and_report_read_the_same_language(dataset, tmp_path):
    fig = archsweep.plot_sweep(dataset, x="params", y="macs", where="w == 64 and k >= 3")
    # w == 64 and k in (3, 5), both resolutions: 4 rows
    assert fig.axes[0].get_title().endswith(": 4 valid variants where w == 64 and k >= 3")
    assert main(["plot", str(dataset), "--where", "peak_activation_bytes < 1 MiB and k != 1", "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------
# Filter errors are never silent: constant parts fail when compiled, per-row failures are named

COMPILE_ERRORS = [
    ("params < 1 // 0", "division by zero at '1 // 0' in 'params < 1 // 0'"),
    ("params < 7 % 0", "modulo by zero at '7 % 0'"),
    ("params < 2**10**10", "integer overflow: 2 ** 10000000000 does not fit in 64 bits at '2**10**10'"),
    ("false and 1 // 0 == 1", "division by zero at '1 // 0'"),
    ("res == [8, 32][2]", "index 2 out of range for '[8, 32]' of length 2"),
    ("params < 0 ** -1", "0 cannot be raised to a negative power"),
    ("params < (-8) ** 0.5", "is a complex number"),
    ("params < 'a' + 1", "the string 'a' is not a number"),
    ("params < int(1e300)", "does not fit in 64 bits"),
    ("params < 64 XiB", "'XiB' after a number is not a unit"),
    ("params = 5", "'=' is not a comparison; use '=='"),
    ("params && macs", "use 'and' instead of '&'"),
    ("params || macs", "use 'or' instead of '|'"),
    ("!params", "use 'not' instead of '!'"),
    ("params ^ 2", "use '**' for powers"),
    ("params.real > 1", "attribute access is not supported"),
    ("__import__('os')", "unknown function '__import__'"),
    ("lambda: 1", "'lambda' is not supported in expressions"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("parms < 5", "unknown variable 'parms'"),
    ("params <", "expected an operand at column 9"),
    ("(params < 5", "unclosed '('"),
    ("params < 5)", "unmatched ')'"),
    ("params < 99999999999999999999", "integer 99999999999999999999 does not fit in 64 bits"),
    ("params < 10000000 TiB", "does not fit in a 64-bit integer"),
    ("params < 007", "leading zeros are not allowed"),
    ("params < 1__0", "'_' in a number must sit between two digits"),
    ("min() < 1", "min() takes at least 1 argument, got 0"),
    ("round(1, 2, 3) < 1", "round() takes 1 to 2 arguments, got 3"),
    ("params < 'unterminated", "unterminated string"),
    ("[1, [2]][0] == 1", "nested lists are not supported"),
    ("[1, 2] == 1", "a list can only be indexed"),
    ("(" * 80 + "1" + ")" * 80, "nested more than 64 levels deep"),
]


@pytest.mark.parametrize("where, message", COMPILE_ERRORS, ids=[w[:40] for w, _ in COMPILE_ERRORS])
def test_a_filter_that_cannot_work_is_an_error_before_any_row(space, rows, where, message):
    for run in (lambda: archsweep.sweep(space, sample=5, where=where),
                lambda: archsweep.top_k(rows, by="params", where=where),
                lambda: archsweep.pareto(rows, where=where)):
        with pytest.raises(ExpressionError) as e:
            run()
        assert message in str(e.value), str(e.value)
        assert e.value.kind == "filter"


@pytest.mark.parametrize("where, message", COMPILE_ERRORS[:6], ids=[w[:40] for w, _ in COMPILE_ERRORS[:6]])
def test_the_cli_says_the_same_with_exit_2(dataset, space, tmp_path, where, message, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(SPEC))
    for argv in (["top", str(dataset), "--by", "macs", "--where", where],
                 ["pareto", str(dataset), "--where", where],
                 ["sweep", str(spec), "-o", str(tmp_path / "out"), "--where", where, "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("archsweep: error: ") and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("part-*"))


def test_a_row_the_filter_fails_on_is_an_error_of_the_results_commands(rows, dataset, capsys):
    # res is 8 or 32: [1, 2][res] is out of range for every row. Defined: the failing row is
    # named, with the count of failures in what was read; nothing is returned short.
    with pytest.raises(FilterRowError) as e:
        archsweep.top_k(rows, by="params", where="[1, 2][res] == 1")
    msg = str(e.value)
    assert msg.startswith("where '[1, 2][res] == 1': the filter failed on the row of variant_id ")
    assert "index 8 out of range for '[1, 2]' of length 2" in msg or "index 32 out of range" in msg
    assert "This error occurred" not in msg and e.value.kind == "filter"
    assert isinstance(e.value, ExpressionError) and isinstance(e.value, ArchsweepError)
    assert main(["top", str(dataset), "--by", "macs", "--where", "[1, 2][res] == 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsweep: error: where '[1, 2][res] == 1': the filter failed on the row of variant_id ")
    # only some rows fail: res == 8 indexes [0]*9 + [1]; res == 32 is beyond it
    with pytest.raises(FilterRowError, match=r"index 32 out of range for '\[0, 0, 0, 0, 0, 0, 0, 0, 1\]' of length 9"):
        archsweep.pareto(rows, where="[0, 0, 0, 0, 0, 0, 0, 0, 1][res] == 1")


def test_a_row_the_filter_fails_on_in_a_sweep_is_counted_not_dropped(space, tmp_path, capsys):
    # in memory: no summary to count them in, so an error naming the count (12 of 12 variants)
    with pytest.raises(ExpressionError, match=r"the filter failed on 12 variants \(an index out of range"):
        archsweep.sweep(space, where="[1, 2][params] == 1")
    with pytest.raises(ExpressionError, match=r"the filter failed on 2 variants"):
        archsweep.sweep(space, ids=[0, 1], where="[1, 2][params] == 1")
    # half of them: w == 4 rows index [7][0]; w == 64 rows index [7][1], out of range
    s = archsweep.sweep_to_dataset(space, out=tmp_path / "d", where="[7][w // 64] == 7", chunk_rows=5)
    assert (s.kept, s.filter_errors, s.filtered_out) == (6, 6, 0)
    # the CLI's summary says so
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(SPEC))
    assert main(["sweep", str(spec), "-o", str(tmp_path / "e"), "--where", "[7][w // 64] == 7", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: where '[7][w // 64] == 7': the filter failed on 6 variants" in err and "filtered out 0" in err


# ---------------------------------------------------------------------------------------------
# Int64 metric columns


def test_metric_columns_are_int64_and_subtract_without_wrapping(space, rows):
    metrics = [m["name"] for m in archsweep._core.metrics()]
    assert all(space.schema()[m] == pl.Int64 for m in metrics)
    assert all(rows.schema[m] == pl.Int64 for m in metrics)
    # conv 3->w k×k on res×res (padding keeps res): macs = res² · w · 3 · k² (+ linear w·10)
    r = rows.filter((c("res") == 32) & (c("w") == 64) & (c("k") == 5)).row(0, named=True)
    assert r["macs"] == 32 * 32 * 64 * 3 * 25 + 64 * 10
    assert r["params"] == 64 * 3 * 25 + 64 + 64 * 10 + 10
    got = rows.filter((c("res") == 32) & (c("w") == 64) & (c("k") == 5)).select(c("params") - c("macs")).item()
    assert got == (64 * 3 * 25 + 64 + 650) - (32 * 32 * 64 * 3 * 25 + 640) < 0


def test_a_count_beyond_int64_makes_its_row_invalid(tmp_path):
    # linear 2^20 -> 2^20 on a batch of 2^22: macs = 2^22 · 2^20 · n. With n = 2^20, macs = 2^62
    # and flops = 2·macs = 2^63, one beyond the Int64 maximum 2^63 - 1 (within u64, so not an
    # overflow of the arithmetic); with n = 2^20 - 1 flops = 2^63 - 2^43 fits.
    spec = {"name": "huge", "input": [2**20], "variables": {"n": [2**20 - 1, 2**20]},
            "layers": [{"op": "linear", "out_features": "=n", "bias": False}]}
    kw = dict(batch=2**22, dtype="int8", optimizer="sgd")
    df = archsweep.sweep(archsweep.Space(spec), **kw)
    ok, big = df.row(0, named=True), df.row(1, named=True)
    assert ok["valid"] and ok["macs"] == 2**42 * (2**20 - 1) and ok["flops"] == 2**63 - 2**43
    assert not big["valid"] and big["macs"] is None and big["flops"] is None
    assert big["error"] == f"flops = {2**63} is beyond 2^63 - 1 = {2**63 - 1}, the largest value of the Int64 metric columns"
    # a filter sees the row as invalid (its metrics null): `flops > 0` keeps only the first row,
    # a filter on the variable keeps both (the invalid one with its error)
    assert archsweep.sweep(archsweep.Space(spec), where="flops > 0", **kw)["n"].to_list() == [2**20 - 1]
    both = archsweep.sweep(archsweep.Space(spec), where="n > 0", **kw)
    assert both["valid"].to_list() == [True, False]


def test_analyze_columns_are_int64_and_subtract_without_wrapping():
    # conv 3->8 k3 (padding 1) on 3x16x16, then linear 8*16*16 -> 10, written out by hand:
    # conv params 8·3·9 + 8 = 224, MACs 16·16·8·3·9 = 55,296; linear params 2048·10 + 10 =
    # 20,490, MACs 20,480
    model = {"input": [3, 16, 16], "layers": [{"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
                                              {"op": "flatten"}, {"name": "fc", "op": "linear", "out_features": 10}]}
    r = archsweep.analyze(model)
    counts = [c for c in r.layers.columns if c not in ("name", "op", "inputs", "output_shape", "is_view", "reaches_output", "formula")]
    assert len(counts) == 12 and all(r.layers.schema[c] == pl.Int64 for c in counts)
    assert r.layers.schema["output_shape"] == pl.List(pl.UInt64)  # as a sweep's output_shape
    got = r.layers.select(pl.col("name"), pl.col("params") - pl.col("macs")).rows()
    assert got == [("conv", 224 - 55_296), ("flatten_1", 0), ("fc", 20_490 - 20_480)]
    assert r.grouped(1).schema["layers"] == pl.Int64 and r.grouped(1)["params"].to_list() == [224, 0, 20_490]


# linear 2^20 -> n on a batch of 2^22 in int8: macs = 2^22 · 2^20 · n, flops = 2 · macs
BIG = dict(batch=2**22, dtype="int8", optimizer="sgd")


def test_a_layer_count_beyond_int64_is_an_analyze_error_naming_layer_and_column(capsys, tmp_path):
    # n = 2^20: macs = 2^62 fits Int64; flops = 2^63 does not, though it fits u64 (no overflow)
    model = {"name": "big", "input": [2**20], "layers": [{"name": "huge", "op": "linear", "out_features": 2**20, "bias": False}]}
    with pytest.raises(archsweep.CountOverflowError) as info:
        archsweep.analyze(model, **BIG)
    e = info.value
    assert str(e) == (f"huge (linear): flops = {2**63} is beyond 2^63 - 1 = {2**63 - 1}, the largest value of the Int64 "
                      "count columns")
    assert (e.kind, e.layer, e.op) == ("overflow", "huge", "linear")
    # n = 2^20 - 1: flops = 2^63 - 2^43 fits, and is exact
    fits = archsweep.analyze({**model, "layers": [{**model["layers"][0], "out_features": 2**20 - 1}]}, **BIG)
    assert fits.layers["flops"].to_list() == [2**63 - 2**43] and fits.totals["flops"] == 2**63 - 2**43
    path = tmp_path / "big.json"
    path.write_text(json.dumps(model))
    assert main(["analyze", str(path), "--batch", str(2**22), "--dtype", "int8", "--format", "csv"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"archsweep: error: huge (linear): flops = {2**63} is beyond 2^63 - 1 = {2**63 - 1}, " \
                                 "the largest value of the Int64 count columns\n"


def test_a_total_beyond_int64_is_an_analyze_error_naming_the_total():
    # two linear layers 2^20 -> 3·2^18 on the input, added: each has flops = 2·2^42·3·2^18 =
    # 3·2^61 (fits Int64), together 3·2^62 = 2^63 + 2^62 (does not)
    n = 3 * 2**18
    model = {"input": [2**20], "layers": [{"name": "a", "op": "linear", "out_features": n, "bias": False},
                                          {"name": "b", "op": "linear", "out_features": n, "bias": False, "inputs": ["x"]},
                                          {"name": "sum", "op": "add", "inputs": ["a", "b"]}]}
    with pytest.raises(archsweep.CountOverflowError) as info:
        archsweep.analyze(model, **BIG)
    assert str(info.value) == (f"totals: flops = {3 * 2**62} is beyond 2^63 - 1 = {2**63 - 1}, the largest value of the "
                               "Int64 count columns")
    assert (info.value.layer, info.value.op) == ("totals", None)


# ---------------------------------------------------------------------------------------------
# Caps: each a clear error naming the limit


def block(repeat, layers, name=None, index=None):
    b = {"repeat": repeat, "layers": layers}
    if name is not None:
        b["name"] = name
    if index is not None:
        b["index"] = index
    return b


def spec_of(*items, input=(3, 8, 8)):
    return {"name": "caps", "input": list(input), "variables": {"w": [4, 8]}, "layers": [{"op": "relu"}, *items]}


CAPS = [
    ("empty-block-2e9", spec_of(block(2_000_000_000, [])), "repeat count 2000000000 is above the limit of 100,000 repeats"),
    ("block-100001", spec_of(block(100_001, [{"op": "relu", "name": "r{i}"}], index="i")),
     "repeat count 100001 is above the limit of 100,000 repeats"),
    ("nested-empty-blocks", spec_of(block(100_000, [block(100_000, [])])),
     "the blocks repeat more than 1,000,000 times in all (nested repeats multiply; empty blocks count too)"),
    ("repeat-expression", spec_of(block("=w * 100000", [])), "repeat count 800000 is above the limit of 100,000 repeats"),
    ("long-layer-name", spec_of({"op": "relu", "name": "x" * 2000}), "is 2000 bytes long, above the limit of 1024 bytes"),
    ("long-block-prefix", spec_of(block(1, [block(1, [{"op": "relu", "name": "y" * 600}], name="b" * 600)], name="a")),
     "above the limit of 1024 bytes (block prefixes included)"),
    # the template fits (1024 bytes), what it renders to does not: n0zz…z is 1025 bytes
    ("long-rendered-name", spec_of(block(3, [{"op": "relu", "name": "n{i}" + "z" * 1021}], index="i")),
     "is 1025 bytes long, above the limit of 1024 bytes"),
    ("layers-100001", spec_of(block(100_001, [{"op": "relu", "name": "r{i}"}], index="i")), "100,000 repeats"),
]


@pytest.mark.parametrize("spec, message", [pytest.param(s, m, id=i) for i, s, m in CAPS])
def test_caps_are_clear_errors_naming_the_limit(spec, message):
    with pytest.raises(SpecError) as e:
        archsweep.Space(spec).size  # noqa: B018 (compiling is the point)
    assert message in str(e.value), str(e.value)
    assert e.value.kind == "limit"


def test_names_at_the_limit_are_fine():
    # 1024 bytes exactly: allowed (the cap is on longer names)
    assert archsweep.Space(spec_of({"op": "relu", "name": "x" * 1024})).size == 2


def test_adaptive_pool_of_a_huge_output_size_is_computed_at_once():
    # one input element per channel, 2^32 + 1 bins: every bin reads that element, so the reads
    # are C · (2^32 + 1); the output is [1, 3, 2^32 + 1]. (Computed bin by bin this took 24-65 s.)
    o = 2**32 + 1
    r = archsweep.analyze({"input": [3, 1], "layers": [{"op": "adaptive_avgpool1d", "output_size": o}]})
    assert r.layers["output_shape"][0].to_list() == [1, 3, o]
    assert r.totals["other_ops"] == 3 * o
    # 5 -> 3 bins: [0,2), [1,4), [3,5) read 2 + 3 + 2 = 7 per channel (torch's bin rule)
    r = archsweep.analyze({"input": [2, 5], "layers": [{"op": "adaptive_maxpool1d", "output_size": 3}]})
    assert r.totals["other_ops"] == 2 * 7


def test_analyze_of_a_100000_layer_chain(tmp_path, capsys):
    # linear in layers (a name lookup per input was a list search: 32 s for this chain; the
    # layer table's list columns made one Series per layer). docs/performance.md says how long
    # it takes; here the result is checked: each relu outputs [1, 8], 32 bytes in fp32.
    n = 100_000
    model = {"input": [8], "layers": [{"op": "relu"} for _ in range(n)]}
    r = archsweep.analyze(model)
    assert r.layers.height == n
    assert r.layers["name"][n - 1] == f"relu_{n}"
    assert r.layers["inputs"][n - 1].to_list() == [f"relu_{n - 1}"]
    assert r.layers["output_shape"][n - 1].to_list() == [1, 8]
    assert r.totals["activation_bytes"] == n * 8 * 4
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(model))
    assert main(["analyze", str(path), "--format", "csv", "-o", str(tmp_path / "chain.csv")]) == 0
    assert len((tmp_path / "chain.csv").read_text().splitlines()) == n + 1
    # the terminal table: the first and last 250 layers (rich lays out ~1 ms a row), "…" between
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│ ")]
    layers = rows[:rows.index("params")]  # the totals table follows
    assert layers == [f"relu_{k}" for k in range(1, 251)] + ["…"] + [f"relu_{k}" for k in range(n - 249, n + 1)]
    assert ("99,500 of 100,000 layers not shown (the first 250 and the last 250 are): --rows all shows every one, "
            "--format csv writes them all\n") in out
