"""The command line never shows a traceback: every bad option, file, directory or dataset ends in
one line ``archsweep: error: ...`` naming the argument and its value (exit status 2), or in
argparse's usage error (also 2). Run in-process (``main([...])``), a few through a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest
from error_cases import TINY_SPEC as SPEC

import archsweep
from archsweep.cli import main
from archsweep.sweep.layout import MANIFEST_KEY, read_manifest

ROOT = Path(__file__).resolve().parents[1]
VGG = str(ROOT / "data" / "models" / "vgg16.toml")



def conv_model(**attrs) -> str:
    layer = {"name": "c", "op": "conv2d", "out_channels": 4, "kernel_size": 3, **attrs}
    return json.dumps({"name": "m", "input": [3, 8, 8], "layers": [layer]})


def _with_manifest(text: str):
    def mutate(path: Path) -> None:
        frame = pl.read_parquet(path)
        frame.write_parquet(path, metadata={MANIFEST_KEY.decode(): text})

    return mutate


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("cli-errors")
    p: dict[str, Path] = {}
    p["spec"] = d / "tiny.json"
    p["spec"].write_text(json.dumps(SPEC), encoding="utf-8")
    p["ds"] = d / "ds"
    archsweep.sweep_to_dataset(archsweep.Space(SPEC), p["ds"], chunk_rows=4)
    p["file"] = d / "afile"
    p["file"].write_text("not a directory\n")
    p["dir"] = d / "adir"
    p["dir"].mkdir()
    p["pngdir"] = d / "dir.png"
    p["pngdir"].mkdir()
    p["foreign"] = d / "foreign"
    p["foreign"].mkdir()
    (p["foreign"] / "notes.txt").write_text("mine\n")
    files = {
        "latin": ("latin.toml", 'name = "caf\xe9"\ninput = [3]\n[[layers]]\nop = "relu"\n'.encode("latin-1")),
        "latin_spec": ("latin_spec.toml", b'name = "\xff"\n'),
        "deep": ("deep.json", "[" * 100_000 + "]" * 100_000),
        "deep_yaml": ("deep.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
        "deep_spec": ("deep_spec.json", '{"name": "s", "layers": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "nan": ("nan.json", conv_model().replace('"out_channels": 4', '"out_channels": NaN')),
        "inf_yaml": ("inf.yaml", "input: [3, 8, 8]\nlayers:\n  - {name: c, op: conv2d, out_channels: 4, kernel_size: .inf}\n"),
        "neginf": ("neginf.json", conv_model().replace('"kernel_size": 3', '"kernel_size": [3, -Infinity]')),
        "input_inf": ("input_inf.json", '{"input": [3, 1e400], "layers": [{"op": "relu"}]}'),
        "big": ("big.json", conv_model(out_channels=10**30)),
        "negbig": ("negbig.json", conv_model(padding=-(10**25))),
        "hugeint": ("hugeint.json", conv_model().replace('"out_channels": 4', '"out_channels": ' + "9" * 5000)),
        "hugeint_toml": ("hugeint.toml", 'input = [3]\n[[layers]]\nop = "relu"\nx = ' + "9" * 5000 + "\n"),
        "strinput": ("strinput.toml", 'input = "3x32x32"\n[[layers]]\nop = "relu"\n'),
        "strinput_bad": ("strinput_bad.toml", 'input = "RGB"\n[[layers]]\nop = "relu"\n'),
        "date": ("date.toml", 'input = [3, 8, 8]\n[[layers]]\nname = "c"\nop = "conv2d"\nkernel_size = 3\n'
                              "out_channels = 2020-01-01\n"),
        "set_yaml": ("set.yaml", "input: [3, 8, 8]\nlayers:\n  - name: c\n    op: conv2d\n    kernel_size: 3\n"
                                 "    out_channels: !!set {4, 8}\n"),
        "pyobj": ("pyobj.yaml", "input: !!python/object/apply:os.system ['true']\nlayers: []\n"),
        "intkey": ("intkey.yaml", "input: [4]\nlayers:\n  - {op: relu, 1: 2}\n"),
        "badsuffix": ("model.txt", "{}"),
        "evil": ("evil.toml", 'input = [3, 4, 4]\n[[layers]]\nname = "evil\\u001b[31mRED\\nfake"\nop = "conv2d"\n'
                              "out_channels = 4\nkernel_size = 9\n"),
        "nan_spec": ("nan_spec.json", json.dumps({**SPEC, "layers": [{"op": "dropout", "p": float("nan")}]})),
        "big_spec": ("big_spec.json", json.dumps({**SPEC, "variables": {"w": [4, 10**30]}})),
        "date_spec": ("date_spec.toml", 'name = "s"\ninput = [3]\nwhen = 1979-05-27\n[[layers]]\nop = "relu"\n'),
        "bad_spec": ("bad_spec.json", json.dumps({**SPEC, "layers": [{"op": "conv2d", "out_channels": "=w *", "kernel_size": 1}]})),
    }
    for key, (name, content) in files.items():
        p[key] = d / name
        if isinstance(content, bytes):
            p[key].write_bytes(content)
        else:
            p[key].write_text(content, encoding="utf-8")
    manifest = read_manifest(p["ds"] / "_manifest.parquet")
    damaged = {
        "garbage": lambda m: m.write_bytes(b"garbage" * 10),
        "truncated": _truncate,
        "empty_manifest": lambda m: m.write_bytes(b""),
        "notjson": _with_manifest("{not json"),
        "listmanifest": _with_manifest("[1, 2]"),
        "norun": _with_manifest(json.dumps({k: v for k, v in manifest.items() if k != "run"})),
        "runint": _with_manifest(json.dumps({**manifest, "run": 5})),
        "posstr": _with_manifest(json.dumps({**manifest, "run": {**manifest["run"], "positions": "many"}})),
        "partsstr": _with_manifest(json.dumps({**manifest, "parts": "x"})),
    }
    for key, mutate in damaged.items():
        p[key] = d / key
        shutil.copytree(p["ds"], p[key])
        mutate(p[key] / "_manifest.parquet")
    p["missing"] = d / "missing"
    p["vgg"] = Path(VGG)
    return {k: str(v) for k, v in p.items()}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


class Case(NamedTuple):
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    usage: bool  # an argparse usage error ("archsweep sweep: error: argument --x: ...")


def case(id: str, args: str | list[str], *fragments: str, usage: bool = False):
    argv = args.split() if isinstance(args, str) else args
    return pytest.param(Case(tuple(argv), fragments, usage), id=id)


S = "sweep {spec} -o {new}"  # a sweep into a directory that must not be created when refused

CASES = [
    # ---------------------------------------------------------------- analyze: files
    case("analyze-not-utf8", "analyze {latin}", "latin.toml", "not UTF-8", "0xe9"),
    case("analyze-nested-100k-json", "analyze {deep}", "deep.json", "nested too deeply"),
    case("analyze-nested-100k-yaml", "analyze {deep_yaml}", "deep.yaml", "nested too deeply"),
    case("analyze-nan", "analyze {nan}", "c (conv2d): out_channels=nan is not a finite number"),
    case("analyze-inf-yaml", "analyze {inf_yaml}", "c (conv2d): kernel_size=inf is not a finite number"),
    case("analyze-neginf-in-list", "analyze {neginf}", "c (conv2d): kernel_size[1]=-inf is not a finite number"),
    case("analyze-input-inf", "analyze {input_inf}", "input[1]=inf is not a finite number"),
    case("analyze-big-int", "analyze {big}", "c (conv2d): out_channels=1000000000000000000000000000000", "64 bits"),
    case("analyze-negative-big-int", "analyze {negbig}", "c (conv2d): padding=-10000000000000000000000000", "64 bits"),
    case("analyze-5000-digit-int-json", "analyze {hugeint}", "hugeint.json", "cannot parse JSON", "4300"),
    case("analyze-5000-digit-int-toml", "analyze {hugeint_toml}", "hugeint.toml", "cannot parse TOML"),
    case("analyze-string-input", "analyze {strinput}", "'3x32x32'", "input = [3, 32, 32]"),
    case("analyze-string-input-no-shape", "analyze {strinput_bad}", "'RGB'", "input = [3, 224, 224]"),
    case("analyze-date-value", "analyze {date}", "c (conv2d): out_channels", "date"),
    case("analyze-yaml-set", "analyze {set_yaml}", "c (conv2d): out_channels", "set"),
    case("analyze-yaml-python-object", "analyze {pyobj}", "pyobj.yaml", "cannot parse YAML"),
    case("analyze-yaml-int-key", "analyze {intkey}", "relu_1 (relu)", "key 1 is not a string"),
    case("analyze-directory", "analyze {dir}", "adir", "is a directory"),
    case("analyze-missing-file", "analyze {missing}.toml", "missing.toml", "no such model file"),
    case("analyze-unknown-suffix", "analyze {badsuffix}", "model.txt", "unknown model file type '.txt'"),
    case("analyze-unknown-zoo-model", "analyze resnet9000", "resnet9000"),
    case("analyze-escape-in-error", "analyze {evil}", "evil\\x1b[31mRED\\nfake (conv2d)"),
    # ---------------------------------------------------------------- analyze: options
    case("analyze-batch-0", "analyze {vgg} --batch 0", "batch must be at least 1, got 0"),
    case("analyze-batch-negative", "analyze {vgg} --batch -1", "batch", "-1"),
    case("analyze-batch-10**30", f"analyze {{vgg}} --batch {10**30}", "batch", str(10**30)),
    case("analyze-batch-2**64", f"analyze {{vgg}} --batch {2**64}", "batch", str(2**64)),
    case("analyze-batch-word", "analyze {vgg} --batch two", "--batch", "'two'", usage=True),
    case("analyze-dtype", "analyze {vgg} --dtype fp7", "unknown dtype 'fp7'"),
    case("analyze-optimizer", "analyze {vgg} --optimizer lion", "unknown optimizer 'lion'"),
    case("analyze-input-zero", "analyze {vgg} --input 3x0x4", "--input", "'3x0x4'", usage=True),
    case("analyze-input-word", "analyze {vgg} --input big", "--input", "'big'", usage=True),
    case("analyze-input-too-small", "analyze {vgg} --input 3x8x8", "pool4 (maxpool2d)", "on input 1×1"),
    case("analyze-format", "analyze {vgg} --format xml", "--format", "'xml'", usage=True),
    case("analyze-parquet-without-o", "analyze {vgg} --format parquet", "--format parquet needs -o"),
    case("analyze-o-under-a-file", "analyze {vgg} --format csv -o {file}/x.csv", "x.csv", "afile is a file"),
    case("analyze-o-directory", "analyze {vgg} --format csv -o {dir}", "adir", "is a directory"),
    case("analyze-o-json-directory", "analyze {vgg} --format json -o {dir}", "adir", "is a directory"),
    case("analyze-o-parquet-directory", "analyze {vgg} --format parquet -o {dir}", "adir", "is a directory"),
    case("analyze-o-table-directory", "analyze {vgg} -o {dir}", "adir", "is a directory"),
    case("analyze-o-table-under-a-file", "analyze {vgg} -o {file}/t.txt", "t.txt", "afile is a file"),
    case("analyze-plot-suffix", "analyze {vgg} --plot {dir}/x.txt", "x.txt", "unknown plot format '.txt'"),
    case("analyze-plot-under-a-file", "analyze {vgg} --plot {file}/x.png", "x.png", "afile is a file"),
    case("analyze-plot-directory", "analyze {vgg} --plot {pngdir}", "dir.png", "is a directory"),
    # ---------------------------------------------------------------- space
    case("space-missing", "space {missing}.toml", "missing.toml", "no such space file"),
    case("space-not-utf8", "space {latin_spec}", "latin_spec.toml", "not UTF-8", "0xff"),
    case("space-nested-100k", "space {deep_spec}", "deep_spec.json", "nested too deeply"),
    case("space-nan", "space {nan_spec}", "nan_spec.json", "layers[0].p=nan is not a finite number"),
    case("space-big-int", "space {big_spec}", "big_spec.json", "variables.w[1]=1000000000000000000000000000000", "64 bits"),
    case("space-date", "space {date_spec}", "date_spec.toml", "when", "date"),
    case("space-expression", "space {bad_spec}", "bad_spec.json", "'w *'", "expected an operand"),
    case("space-directory", "space {dir}", "adir", "is a directory"),
    case("space-id-negative", "space {spec} --id -1", "variant id -1 is out of range [0, 8)"),
    case("space-id-too-big", f"space {{spec}} --id {10**40}", f"variant id {10**40} is out of range [0, 8)"),
    case("space-id-word", "space {spec} --id one", "--id", "'one'", usage=True),
    # ---------------------------------------------------------------- sweep: options
    case("sweep-seed-negative", S + " --sample 3 --seed -1", "seed must be at least 0, got -1 (--seed)"),
    case("sweep-seed-2**70", S + f" --sample 3 --seed {2**70}", "seed must be at most 2**64 - 1", str(2**70), "--seed"),
    case("sweep-seed-word", S + " --seed x", "--seed", "'x'", usage=True),
    case("sweep-threads-negative", S + " --threads -1", "threads must be at least 0", "got -1 (--threads)"),
    case("sweep-threads-million", S + " --threads 1000000", "threads must be at most 4,096", "1000000", "--threads"),
    case("sweep-batch-0", S + " --batch 0", "batch must be at least 1, got 0 (--batch)"),
    case("sweep-batch-negative", S + " --batch -3", "batch must be at least 1, got -3 (--batch)"),
    case("sweep-batch-10**30", S + f" --batch {10**30}", "batch must be at most 2**64 - 1", str(10**30), "--batch"),
    case("sweep-sample-negative", S + " --sample -1", "sample=-1 must not be negative"),
    case("sweep-sample-too-many", S + " --sample 9", "cannot sample 9 distinct variants from a space of 8"),
    case("sweep-sample-10**50", S + f" --sample {10**50}", "cannot sample", "from a space of 8"),
    case("sweep-sample-float", S + " --sample 1.5", "--sample", "'1.5'", usage=True),
    case("sweep-sampler-3", S + " --sample 2 --sampler 3", "--sampler", "3", usage=True),
    case("sweep-chunk-rows-0", S + " --chunk-rows 0", "chunk_rows must be at least 1, got 0 (--chunk-rows)"),
    case("sweep-chunk-rows-negative", S + " --chunk-rows -5", "chunk_rows must be at least 1, got -5 (--chunk-rows)"),
    case("sweep-max-variants-negative", S + " --max-variants -1", "max_variants must be at least 0, got -1 (--max-variants)"),
    case("sweep-max-variants-small", S + " --max-variants 2", "8 variants", "refused above 2"),
    case("sweep-where-syntax", S.split() + ["--where", "params <"], "--where", "'params <'", "expected an operand"),
    case("sweep-where-unknown-name", S.split() + ["--where", "parms < 5"], "parms"),
    case("sweep-where-empty-and", S.split() + ["--where", "and"], "--where", "'and'"),
    case("sweep-shard-zero", S + " --shard 1/0", "shard 1/0", "0 <= I < N"),
    case("sweep-shard-words", S + " --shard a/b", "--shard 'a/b'", "I/N"),
    case("sweep-shard-out-of-range", S + " --shard 3/2", "shard 3/2", "0 <= I < N"),
    case("sweep-shard-three", S + " --shard 1/2/3", "--shard '1/2/3'"),
    case("sweep-shard-negative", S + " --shard=-1/2", "shard -1/2"),
    case("sweep-range-reversed", S + " --range 5:2", "grid_range [5, 2)", "not be empty"),
    case("sweep-range-words", S + " --range a:b", "--range 'a:b'", "START:END"),
    case("sweep-range-negative", S + " --range=-1:3", "grid_range [-1, 3)"),
    case("sweep-range-beyond", S + f" --range 0:{10**30}", "grid_range", "[0, 8)"),
    case("sweep-range-and-sample", S + " --range 0:4 --sample 2", "give one of sample, ids and grid_range"),
    case("sweep-dtype", S + " --dtype fp7", "unknown dtype 'fp7'"),
    case("sweep-optimizer", S + " --optimizer lion", "unknown optimizer 'lion'"),
    case("sweep-engine", S + " --engine spark", "--engine", "'spark'", usage=True),
    case("sweep-workers-local", S + " --workers 2", "workers (--workers) need engine='dask'"),
    case("sweep-workers-zero", S + " --engine dask --workers 0", "workers must be at least 1, got 0 (--workers)"),
    case("sweep-scheduler-local", S + " --scheduler tcp://localhost:1", "scheduler (--scheduler)", "engine='dask'"),
    case("sweep-verify-full-alone", S + " --verify-full", "--verify-full", "needs --resume"),
    # ---------------------------------------------------------------- sweep: files and directories
    case("sweep-spec-missing", "sweep {missing}.toml -o {new}", "missing.toml", "no such space file"),
    case("sweep-spec-not-utf8", "sweep {latin_spec} -o {new}", "latin_spec.toml", "not UTF-8"),
    case("sweep-spec-nested", "sweep {deep_spec} -o {new}", "deep_spec.json", "nested too deeply"),
    case("sweep-spec-nan", "sweep {nan_spec} -o {new}", "nan_spec.json", "p=nan"),
    case("sweep-o-file", "sweep {spec} -o {file}", "afile is a file", "directory"),
    case("sweep-o-under-a-file", "sweep {spec} -o {file}/sub", "sub cannot be created", "afile is a file"),
    case("sweep-o-foreign", "sweep {spec} -o {foreign}", "foreign", "notes.txt", "--force"),
    case("sweep-o-existing-dataset", "sweep {spec} -o {ds}", "already holds a sweep", "--resume"),
    case("sweep-resume-other-seed", "sweep {spec} -o {ds} --resume --sample 2 --seed 3", "cannot resume"),
    case("sweep-resume-garbage-manifest", "sweep {spec} -o {garbage} --resume --chunk-rows 4",
         "_manifest.parquet: the manifest cannot be read", "--resume"),
    case("sweep-resume-truncated-manifest", "sweep {spec} -o {truncated} --resume --chunk-rows 4",
         "_manifest.parquet: the manifest cannot be read"),
    case("sweep-resume-malformed-manifest", "sweep {spec} -o {runint} --resume --chunk-rows 4",
         "_manifest.parquet: the manifest is malformed (run is 5, not a table)"),
    case("sweep-resume-manifest-list", "sweep {spec} -o {listmanifest} --resume --chunk-rows 4",
         "the manifest is malformed (a table expected, got list)"),
    # ---------------------------------------------------------------- top
    case("top-k-negative", "top {ds} --by macs -k -1", "k must be at least 0, got -1 (-k)"),
    case("top-k-word", "top {ds} --by macs -k many", "-k", "'many'", usage=True),
    case("top-rows-0", "top {ds} --by macs --rows 0", "--rows: 0: need at least 1 row (or all)", usage=True),
    case("analyze-rows-word", "analyze {vgg} --rows many", "--rows: 'many' is not a number of rows or 'all'", usage=True),
    case("query-rows-negative", "query {ds} 'SELECT 1' --rows -5", "--rows: -5: need at least 1 row", usage=True),
    case("top-by-unknown", "top {ds} --by nope", "by='nope' is not a column of the dataset", "macs"),
    case("top-by-missing", "top {ds}", "--by", usage=True),
    case("top-where-syntax", ["top", "{ds}", "--by", "macs", "--where", "params <"], "--where: in 'params <': expected an operand at column 9"),
    case("top-where-unknown-column", ["top", "{ds}", "--by", "macs", "--where", "nope > 1"], "--where: unknown variable 'nope' in 'nope > 1'"),
    case("top-parquet-without-o", "top {ds} --by macs --format parquet", "--format parquet needs -o"),
    case("top-o-directory", "top {ds} --by macs --format csv -o {dir}", "adir", "is a directory"),
    case("top-o-under-a-file", "top {ds} --by macs --format json -o {file}/t.json", "t.json", "afile is a file"),
    case("top-dir-missing", "top {missing} --by macs", "missing"),
    case("top-dir-a-file", "top {file} --by macs", "afile"),
    case("top-dir-empty", "top {dir} --by macs", "adir", "no finished part files"),
    case("top-garbage-manifest", "top {garbage} --by macs", "the manifest cannot be read"),
    case("top-malformed-manifest", "top {posstr} --by macs", "run.positions is 'many'"),
    # ---------------------------------------------------------------- pareto
    case("pareto-unknown-column", "pareto {ds} --minimize nope", "minimize='nope' is not a column of the dataset"),
    case("pareto-second-unknown", "pareto {ds} --minimize params,nope", "minimize='nope'"),
    case("pareto-empty", ["pareto", "{ds}", "--minimize", ""], "at least one column to minimize"),
    case("pareto-string-column", "pareto {ds} --minimize error", "minimize='error'", "integer columns"),
    case("pareto-twice", "pareto {ds} --minimize params,params", "names a column twice"),
    case("pareto-where", ["pareto", "{ds}", "--where", "macs >"], "--where: in 'macs >': expected an operand at column 7"),
    case("pareto-dir-missing", "pareto {missing}", "missing"),
    case("pareto-o-under-a-file", "pareto {ds} --format csv -o {file}/p.csv", "p.csv", "afile is a file"),
    case("pareto-format", "pareto {ds} --format xml", "--format", usage=True),
    # ---------------------------------------------------------------- plot
    case("plot-x-unknown", "plot {ds} --x nope -o {dir}/p.png", "x='nope' is not a column of the dataset"),
    case("plot-y-unknown", "plot {ds} --y nope -o {dir}/p.png", "y='nope' is not a column of the dataset"),
    case("plot-color-unknown", "plot {ds} --color nope -o {dir}/p.png", "color='nope' is not a column"),
    case("plot-x-string", "plot {ds} --x error -o {dir}/p.png", "x='error'", "numeric column"),
    case("plot-same-axes", "plot {ds} --x params --y params -o {dir}/p.png", "x and y are both 'params'"),
    case("plot-bins-0", "plot {ds} --bins 0 -o {dir}/p.png", "bins must be at least 1, got 0 (--bins)"),
    case("plot-bins-million", "plot {ds} --bins 1000000 -o {dir}/p.png", "bins must be at most 2,000", "1000000"),
    case("plot-suffix", "plot {ds} -o {dir}/p.txt", "p.txt", "unknown plot format '.txt'"),
    case("plot-o-under-a-file", "plot {ds} -o {file}/p.png", "p.png", "afile is a file"),
    case("plot-o-directory", "plot {ds} -o {pngdir}", "dir.png", "is a directory"),
    case("plot-o-missing", "plot {ds}", "-o", usage=True),
    case("plot-where-syntax", ["plot", "{ds}", "--where", "params <", "-o", "{dir}/p.png"], "--where: in 'params <': expected an operand at column 9"),
    case("plot-where-nothing", ["plot", "{ds}", "--where", "params < 0", "-o", "{dir}/p.png"], "no valid rows to plot"),
    case("plot-log-of-zero", "plot {ds} --x buffers --logx -o {dir}/p.png", "buffers has values <= 0", "log axis"),
    case("plot-color-agg", "plot {ds} --color macs --color-agg mode -o {dir}/p.png", "--color-agg", usage=True),
    case("plot-dir-missing", "plot {missing} -o {dir}/p.png", "missing"),
    # ---------------------------------------------------------------- report
    case("report-dir-missing", "report {missing} -o {dir}/r.html", "missing"),
    case("report-o-directory", "report {ds} -o {dir}", "adir", "is a directory"),
    case("report-o-under-a-file", "report {ds} -o {file}/r.html", "r.html", "afile is a file"),
    case("report-front-rows-negative", "report {ds} -o {dir}/r.html --front-rows -1", "front_rows must be at least 0, got -1"),
    case("report-garbage-manifest", "report {garbage} -o {dir}/r.html", "the manifest cannot be read"),
    case("report-malformed-manifest", "report {partsstr} -o {dir}/r.html", "parts is 'x', not a table"),
    # ---------------------------------------------------------------- status and verify
    case("status-dir-missing", "status {missing}", "missing"),
    case("status-garbage-manifest", "status {garbage}", "garbage/_manifest.parquet: the manifest cannot be read"),
    case("status-truncated-manifest", "status {truncated}", "truncated/_manifest.parquet: the manifest cannot be read"),
    case("status-empty-manifest", "status {empty_manifest}", "the manifest cannot be read", "0 bytes"),
    case("status-manifest-not-json", "status {notjson}", "the manifest cannot be read", "JSONDecodeError"),
    case("status-manifest-a-list", "status {listmanifest}", "the manifest is malformed (a table expected, got list)"),
    case("status-manifest-without-run", "status {norun}", "the manifest is malformed (no run table)"),
    case("status-manifest-run-int", "status {runint}", "the manifest is malformed (run is 5, not a table)"),
    case("status-manifest-positions", "status {posstr}", "run.positions is 'many', not an integer"),
    case("status-manifest-parts", "status {partsstr}", "parts is 'x', not a table"),
    case("status-format", "status {ds} --format xml", "--format", usage=True),
    case("verify-dir-missing", "verify {missing}", "missing"),
    case("verify-garbage-manifest", "verify {garbage}", "the manifest cannot be read"),
    case("verify-manifest-run-int", "verify {runint}", "run is 5, not a table"),
    # ---------------------------------------------------------------- query and zoo
    case("query-syntax", ["query", "{ds}", "SELEC 1"], "sql 'SELEC 1'"),
    case("query-unknown-column", ["query", "{ds}", "SELECT nope FROM sweep"], "nope"),
    case("query-unknown-table", ["query", "{ds}", "SELECT * FROM other"], "other"),
    case("query-dir-missing", ["query", "{missing}", "SELECT 1"], "missing"),
    case("query-o-directory", ["query", "{ds}", "SELECT params FROM sweep", "--format", "csv", "-o", "{dir}"], "is a directory"),
    case("zoo-o-directory", "zoo -o {dir}", "adir", "is a directory"),
    case("zoo-o-under-a-file", "zoo --format csv -o {file}/z.csv", "z.csv", "afile is a file"),
    case("unknown-command", "frobnicate", "frobnicate", usage=True),
]


@pytest.mark.parametrize("c", CASES)
def test_cli_error(c: Case, paths, tmp_path, capsys):
    new = tmp_path / "new-out"
    args = [a.format(**paths, new=new) for a in c.args]
    code, out, err = run_cli(args, capsys)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    if c.usage:
        assert "usage: archsweep" in err and "error:" in err, err
    else:
        assert err.startswith("archsweep: error: "), err
        assert "internal error" not in err, err
        assert err.count("\n") == 1, err  # one line
    for fragment in c.fragments:
        assert fragment.format(**paths) in err, f"{fragment!r} not in {err!r}"
    if c.args[0] == "sweep":
        assert not new.exists(), "a refused sweep left its directory behind"


def test_at_least_150_cli_cases():
    assert len(CASES) >= 150


def test_the_damaged_datasets_are_left_as_they_were(paths, capsys):
    """The cases above only read the damaged datasets: status still reports them (nothing was
    repaired or removed by a refused --resume)."""
    for name in ("garbage", "runint"):
        code, _, err = run_cli(["status", paths[name]], capsys)
        assert code == 2 and "manifest" in err


# --------------------------------------------------------------------------------------------
# what is not an error


def test_space_of_a_huge_size_is_printed(tmp_path, capsys):
    """15,000 binary variables: 2^15000 has 4,516 digits, more than Python turns into text."""
    spec = {"name": "big", "input": [3], "variables": {f"v{i}": [1, 2] for i in range(15_000)}, "layers": [{"op": "relu"}]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    code, out, err = run_cli(["space", str(path)], capsys)
    assert code == 0, err
    assert "big: 2.81 × 10^4515 variants (~10^4515), 15,000 variables" in out
    assert "14,500 of 15,000 variables not shown (the first 500 are): --rows all shows every one\n" in out
    assert "│ v499 " in out and "│ v500 " not in out
    assert "example: none (the space has more than 10^38 variants" in out
    assert archsweep.Space(spec).size == 2**15_000
    code, _, err = run_cli(["sweep", str(path), "-o", str(tmp_path / "o"), "--sample", "3"], capsys)
    assert code == 2 and "the space has 2.81 × 10^4515 variants, more than 10^38 ids" in err


def test_top_k_beyond_the_rows_is_every_row(paths, capsys):
    code, out, err = run_cli(["top", paths["ds"], "--by", "macs", "-k", str(10**30), "--format", "csv"], capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 + 8


def test_variant_id_may_be_an_objective(paths, capsys, tmp_path):
    code, out, err = run_cli(["pareto", paths["ds"], "--minimize", "variant_id,macs", "--format", "csv"], capsys)
    assert code == 0, err
    assert out.splitlines()[1].startswith("0,")  # variant 0 has the smallest id: on the front
    code, _, err = run_cli(["plot", paths["ds"], "--x", "variant_id", "--y", "macs", "-o", str(tmp_path / "p.png")], capsys)
    assert code == 0, err


def test_report_front_rows_beyond_the_rows(paths, capsys, tmp_path):
    code, _, err = run_cli(["report", paths["ds"], "-o", str(tmp_path / "r.html"), "--front-rows", str(10**30)], capsys)
    assert code == 0, err


def test_a_model_file_with_a_bom_is_read(tmp_path, capsys):
    p = tmp_path / "bom.toml"
    p.write_bytes(b'\xef\xbb\xbfinput = [4]\n[[layers]]\nop = "relu"\n')
    code, out, err = run_cli(["analyze", str(p)], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------------------------
# the handler itself


def _raise(exc: BaseException):
    def run(args):
        raise exc

    return run


@pytest.fixture
def ops_raises(monkeypatch):
    """Make `archsweep ops` raise the given exception."""
    from archsweep.cli import ops

    def install(exc: BaseException) -> None:
        monkeypatch.setattr(ops, "run", _raise(exc))

    return install


def test_an_unexpected_exception_is_an_internal_error(ops_raises, capsys, monkeypatch):
    monkeypatch.delenv("ARCHSWEEP_TRACEBACK", raising=False)
    ops_raises(ZeroDivisionError("division by zero"))
    code, out, err = run_cli(["ops"], capsys)
    assert code == 2
    assert err.splitlines() == [
        "archsweep: error: internal error: ZeroDivisionError: division by zero",
        "archsweep: this is a bug in archsweep: please report it with the command that caused it "
        "(ARCHSWEEP_TRACEBACK=1 prints where it happened)",
    ]
    assert "Traceback" not in err


def test_archsweep_traceback_shows_where(ops_raises, capsys, monkeypatch):
    monkeypatch.setenv("ARCHSWEEP_TRACEBACK", "1")
    ops_raises(KeyError("x"))
    code, _, err = run_cli(["ops"], capsys)
    assert code == 2
    assert "Traceback (most recent call last)" in err and "KeyError" in err
    assert err.rstrip().splitlines()[-2] == "archsweep: error: internal error: KeyError: 'x'"


@pytest.mark.parametrize("exc, line", [
    (PermissionError(13, "Permission denied", "/some/file.csv"), "archsweep: error: /some/file.csv: Permission denied"),
    (FileNotFoundError(2, "No such file or directory"), "archsweep: error: No such file or directory"),
    (OSError(28, "No space left on device", "out/part.parquet"), "archsweep: error: out/part.parquet: No space left on device"),
    (OSError(18, "Invalid cross-device link", "a", None, "b"), "archsweep: error: a -> b: Invalid cross-device link"),
    (RecursionError("maximum recursion depth exceeded"), "archsweep: error: the input is nested too deeply to be read"),
    (MemoryError(), "archsweep: error: out of memory"),
    (archsweep.ArchsweepError("bad \x1b[2J thing\nnext"), "archsweep: error: bad \\x1b[2J thing\\nnext"),
    (pl.exceptions.ColumnNotFoundError("unable to find column \"q\"\n\nmore"),
     'archsweep: error: ColumnNotFoundError: unable to find column "q"'),
], ids=["permission", "no-filename", "no-space", "two-filenames", "recursion", "memory", "escapes", "polars"])
def test_exceptions_become_one_line(ops_raises, capsys, exc, line):
    ops_raises(exc)
    code, _, err = run_cli(["ops"], capsys)
    assert (code, err) == (2, line + "\n")


def test_keyboard_interrupt_exits_130(ops_raises, capsys):
    ops_raises(KeyboardInterrupt())
    code, _, err = run_cli(["ops"], capsys)
    assert (code, err) == (130, "archsweep: interrupted\n")


def test_broken_pipe_is_quiet(ops_raises, capsys):
    ops_raises(BrokenPipeError(32, "Broken pipe"))
    code, _, err = run_cli(["ops"], capsys)
    assert (code, err) == (0, "")


def test_system_exit_of_argparse_is_left_alone(capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep"])
    assert e.value.code == 2


# --------------------------------------------------------------------------------------------
# through a real process


def archsweep_process(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("ARCHSWEEP_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "archsweep", *args], capture_output=True, text=True, env=env, timeout=300, **kw)


@pytest.mark.parametrize("args, fragment", [
    (["sweep", "{spec}", "-o", "{new}", "--seed", "-1"], "seed must be at least 0, got -1 (--seed)"),
    (["analyze", "{deep}"], "nested too deeply"),
    (["status", "{garbage}"], "the manifest cannot be read"),
    (["analyze", "{vgg}", "--format", "csv", "-o", "/sys/archsweep-test.csv"], "/sys/archsweep-test.csv: "),
], ids=["seed", "nested", "manifest", "unwritable"])
def test_subprocess_exit_2_one_line(paths, tmp_path, args, fragment):
    if "/sys/" in " ".join(args) and not Path("/sys").is_dir():
        pytest.skip("needs a directory nobody may write (/sys)")
    p = archsweep_process(*[a.format(**paths, new=tmp_path / "new") for a in args])
    assert p.returncode == 2, p
    assert p.stderr.startswith("archsweep: error: ") and fragment in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_subprocess_unwritable_sweep_directory(paths):
    if not Path("/sys").is_dir():
        pytest.skip("no /sys")
    p = archsweep_process("sweep", paths["spec"], "-o", "/sys/archsweep-test")
    assert p.returncode == 2 and p.stderr.startswith("archsweep: error: /sys/archsweep-test"), p.stderr
    assert "Traceback" not in p.stderr


def test_subprocess_closed_stdout_is_quiet():
    """The reader of stdout goes away before archsweep writes: exit 0, nothing on stderr (no
    BrokenPipeError traceback, no 'Exception ignored' at shutdown)."""
    env = {**os.environ}
    with subprocess.Popen([sys.executable, "-m", "archsweep", "analyze", VGG, "--explain"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env) as p:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        err = p.stderr.read().decode()
        code = p.wait(timeout=300)
    assert code == 0 and err == "", err


def test_o_to_a_pipe_writes_into_it(tmp_path, capsys):
    """-o /dev/stdout or a named pipe is written, not replaced by a regular file (renaming the
    temporary file over it would, and as root over /dev/null too)."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run_cli(["analyze", VGG, "--format", "json", "-o", str(fifo)], capsys)
    reader.join(timeout=60)
    if reader.is_alive() and fifo.is_fifo():  # nothing was written into the pipe: let the reader go
        os.close(os.open(fifo, os.O_WRONLY))
    assert code == 0, err
    assert json.loads(received[0])["totals"]["params"] == 138_357_544
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
