"""`archsweep pareto` and `archsweep top` over a sweep dataset (the first pieces of the results
tools): they agree with a brute-force front and with sort + head, and fail cleanly."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

import archsweep
from archsweep.cli import main

SPEC = {
    "name": "tiny",
    "input": [3, "=res", "=res"],
    "variables": {"res": [16, 32], "w": [4, 8, 16, 32], "k": [1, 3, 5], "d": [1, 2, 3], "fc": [10, 20, 40]},
    "layers": [
        {"name": "b", "repeat": "=d", "index": "i", "layers": [
            {"name": "conv{i}", "op": "conv2d", "out_channels": "=w", "kernel_size": "=k", "padding": "=k // 2"},
            {"name": "relu{i}", "op": "relu"},
        ]},
        {"op": "adaptive_avgpool2d", "output_size": 1},
        {"op": "flatten"},
        {"op": "linear", "out_features": "=fc"},
    ],
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("ds") / "ds"
    archsweep.sweep_to_dataset(archsweep.Space(SPEC), out=d, chunk_rows=50)
    return d


def brute_front(df: pl.DataFrame, cols: list[str]) -> set[int]:
    rows = df.filter(pl.col("valid")).select(["variant_id", *cols]).rows()
    front = set()
    for r in rows:
        dominated = any(all(o[j] <= r[j] for j in range(1, len(r))) and any(o[j] < r[j] for j in range(1, len(r))) for o in rows)
        if not dominated:
            front.add(r[0])
    return front


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_cli_equals_brute_force(dataset, capsys):
    df = archsweep.scan(dataset).collect()
    for cols in (["params", "macs"], ["params", "macs", "peak_activation_bytes"]):
        code, out, _ = run(capsys, "pareto", dataset, "--minimize", ",".join(cols), "--format", "csv")
        assert code == 0
        got = pl.read_csv(io.StringIO(out))
        assert set(got["variant_id"].to_list()) == brute_front(df, cols)
        # sorted by the objectives
        assert got.select(cols).rows() == sorted(got.select(cols).rows())


def test_pareto_table_shows_units(dataset, capsys):
    code, out, _ = run(capsys, "pareto", dataset, "--minimize", "params,peak_activation_bytes")
    assert code == 0
    # sizes in binary and decimal units side by side (this tiny network's are KiB / kB)
    assert "Pareto front" in out and "KiB" in out and "kB" in out


def test_top_cli_equals_sort_head(dataset, capsys):
    df = archsweep.scan(dataset).collect().filter(pl.col("valid"))
    code, out, _ = run(capsys, "top", dataset, "--by", "macs", "-k", "5", "--format", "json")
    assert code == 0
    got = pl.DataFrame(json.loads(out))
    want = df.sort(["macs", "variant_id"]).head(5)
    assert got["variant_id"].to_list() == want["variant_id"].to_list()
    code, out, _ = run(capsys, "top", dataset, "--by", "params", "-k", "3", "--largest", "--where", "res == 16", "--format", "csv")
    got = pl.read_csv(io.StringIO(out))
    want = df.filter(pl.col("res") == 16).sort(["params", "variant_id"], descending=[True, False]).head(3)
    assert got["variant_id"].to_list() == want["variant_id"].to_list()


def test_results_errors_are_clean(dataset, tmp_path, capsys):
    code, _, err = run(capsys, "top", dataset, "--by", "nope")
    assert code == 2 and err.startswith("archsweep: error:") and "Traceback" not in err
    code, _, err = run(capsys, "pareto", tmp_path / "missing")
    assert code == 2 and "no such sweep directory" in err
    code, _, err = run(capsys, "pareto", dataset, "--format", "parquet")
    assert code == 2 and "needs -o" in err
    out = tmp_path / "front.parquet"
    assert run(capsys, "pareto", dataset, "--format", "parquet", "-o", out)[0] == 0
    assert pl.read_parquet(out).height > 0


def test_query_equals_the_polars_expression(dataset, capsys):
    df = archsweep.scan(dataset).collect()
    sql = "SELECT res, count(*) AS n, min(macs) AS best FROM sweep WHERE valid AND params < 5000 GROUP BY res ORDER BY res"
    from archsweep.sweep import query

    got = query(dataset, sql)
    want = (df.filter(pl.col("valid") & (pl.col("params") < 5000)).group_by("res")
              .agg(pl.len().alias("n"), pl.col("macs").min().alias("best")).sort("res"))
    assert got.rows() == want.rows()
    code, out, _ = run(capsys, "query", dataset, sql, "--format", "csv")
    assert code == 0
    assert pl.read_csv(io.StringIO(out)).rows() == want.rows()
    code, _, err = run(capsys, "query", dataset, "SELECT nope FROM sweep")
    assert code == 2 and err.startswith("archsweep: error:") and "Traceback" not in err
