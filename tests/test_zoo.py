"""The model zoo: every ``[presets.NAME]`` of ``data/families/*.toml`` is a torchvision model and
reproduces torchvision's published figures exactly; the zoo is reachable by name from Python and
the command line; the zoo table of docs/zoo.md is current.

Truth: ``torchvision_models.csv`` (published ``num_params`` and ``_ops`` = GMACs of the default
weights, and the weights' evaluation resolution; torchvision 0.29), read at test time from
``tests/data/reference/`` in the repository (or ``$ARCHSWEEP_REFERENCE``: the CSV itself or the
folder holding it); the comparisons never skip.

Asserted for EVERY preset (whatever family files exist): params exactly equal ``num_params``,
``round(macs / 1e9, 3)`` equal ``gmacs`` (torchvision's precision), and the input resolution (the
preset's ``res`` and the model's H = W) equal the weights' ``resolution``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from reference import reference  # tests/data/reference/torchvision_models.csv

import archsweep
from archsweep import zoo
from archsweep.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = (ROOT / "data" / "families").resolve()  # a link to python/archsweep/families

#: torchvision models of the reference CSV that no preset reproduces yet (as of this commit).
#: Adding a family file with presets shrinks this list: remove the models it now covers.
NOT_YET_PRESETS: set[str] = set()  # every model of the reference CSV has a preset

# torchvision measures ``_ops`` in eval mode; Inception v3's AuxLogits head is in the weights
# (so in the published params) but does not run in eval (so not in the published GMACs):
# archsweep counts it the same way (a layer whose output never reaches the model's output counts
# params and buffers only), so every preset's own GMACs are the published ones.

#: the presets this work added (vgg.toml, resnet.toml, mobilenet.toml); other families add more
OWN_PRESETS = {
    "vgg.toml": ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
    "resnet.toml": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                    "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"],
    "mobilenet.toml": ["mobilenet_v2"] + [f"efficientnet_b{i}" for i in range(8)]
                      + ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
}




def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# Every preset reproduces torchvision
# ---------------------------------------------------------------------------------------------

PRESETS = zoo.names()


def test_zoo_has_the_presets_of_these_families():
    for file, models in OWN_PRESETS.items():
        space, _ = zoo.family(models[0])
        # the installed package's copy (CI installs a wheel) or the repository's, same content
        assert Path(space.source).name == file
        assert Path(space.source).read_bytes() == (FAMILIES / file).read_bytes()
        assert sorted(space.presets) == sorted(models), file
        assert set(models) <= set(PRESETS)
    assert PRESETS == sorted(PRESETS) and len(set(PRESETS)) == len(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_matches_torchvision(name):
    ref = reference()
    assert name in ref, f"preset '{name}' is not a torchvision model of the reference CSV (presets are named as torchvision's models)"
    space, vid = zoo.family(name)
    model = zoo.load(name)
    assert model.name == name
    totals = archsweep.analyze(model).totals
    assert totals["params"] == ref[name]["num_params"]
    macs = totals["macs"]
    assert round(macs / 1e9, 3) == ref[name]["gmacs"]
    # torchvision's evaluation resolution for these weights (e.g. efficientnet_b7: 600)
    assert model.input[-2:] == [ref[name]["resolution"]] * 2
    if "res" in space.presets[name]["values"]:
        assert space.presets[name]["values"]["res"] == ref[name]["resolution"]
        assert space.config(vid)["res"] == ref[name]["resolution"]


def test_torchvision_models_without_a_preset_are_exactly_the_documented_list():
    missing = set(reference()) - set(PRESETS)
    assert missing - NOT_YET_PRESETS == set(), "torchvision models with no preset and not in NOT_YET_PRESETS"
    assert NOT_YET_PRESETS - missing == set(), "these now have presets: remove them from NOT_YET_PRESETS"


def test_table_agrees_with_analyze():
    df = zoo.table()
    assert df["model"].to_list() == PRESETS
    assert df.columns[:9] == ["model", "family", "resolution", "params", "macs", "gmacs", "weight_bytes",
                              "weights_mib", "weights_mb"]
    # counts are Int64, as analyze's and a sweep's count columns
    assert [df.schema[c] for c in ("params", "macs", "weight_bytes")] == [pl.Int64] * 3
    row = df.filter(pl.col("model") == "resnet50").row(0, named=True)
    assert row["family"] == "resnet" and row["resolution"] == 224
    assert row["params"] == 25_557_032 and row["gmacs"] == 4.089
    assert row["weight_bytes"] == 4 * 25_557_032 == 102_228_128
    assert row["weights_mib"] == round(102_228_128 / 2**20, 3) == 97.492
    assert row["weights_mb"] == 102.228
    b7 = df.filter(pl.col("model") == "efficientnet_b7").row(0, named=True)
    assert (b7["family"], b7["resolution"], b7["params"]) == ("mobilenet", 600, 66_347_960)


# ---------------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------------


def test_load_family_and_analyze_by_name():
    model = zoo.load("resnet50")
    assert isinstance(model, archsweep.Model) and model.name == "resnet50"
    assert model.input == [3, 224, 224]
    by_name = archsweep.analyze("resnet50")
    assert by_name.name == "resnet50"
    assert by_name.totals == archsweep.analyze(model).totals
    assert by_name.totals["params"] == 25_557_032 and by_name.totals["macs"] == 4_089_184_256

    space, vid = zoo.family("resnet50")
    assert space.name == "resnet_family"
    config = space.config(vid)
    assert [config[f"depth_{s}"] for s in range(4)] == [3, 4, 6, 3]
    assert (config["block"], config["groups"], config["width_per_group"]) == (1, 1, 64)
    assert space.model(vid).layers == model.layers
    assert vid == space.preset_id("resnet50") == space.variant_id(space.preset_config("resnet50"))


def test_analyze_by_name_overrides_input_and_dtype():
    report = archsweep.analyze("vgg16", input_shape=(3, 160, 160), dtype="fp16")
    assert report.input_shape == (1, 3, 160, 160)
    assert report.totals["params"] == 138_357_544  # adaptive pooling: same params at any resolution
    assert report.totals["weight_bytes"] == 2 * 138_357_544


def test_unknown_preset_suggests_close_names(capsys):
    with pytest.raises(archsweep.ArchsweepError, match=r"unknown model 'resnet5'.*did you mean resnet50"):
        zoo.load("resnet5")
    with pytest.raises(archsweep.ArchsweepError, match="did you mean vgg16_bn"):
        zoo.family("vgg16bn")
    with pytest.raises(archsweep.ArchsweepError, match="unknown model 'resnet5'"):
        archsweep.analyze("resnet5")
    code, _, err = run(capsys, "analyze", "resnet5")
    assert code == 2 and "unknown model 'resnet5'" in err and "resnet50" in err


def test_missing_files_are_still_reported_as_files():
    # a model-file suffix or a directory part means a file, never a zoo name
    with pytest.raises(archsweep.ModelFileError, match="no such model file"):
        archsweep.analyze("resnet50.toml")
    with pytest.raises(archsweep.ModelFileError, match="no such model file"):
        archsweep.analyze("data/models/resnet50")


def test_an_existing_file_wins_over_a_zoo_name(tmp_path, monkeypatch):
    shutil.copy(ROOT / "data" / "models" / "vgg16.toml", tmp_path / "resnet50")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(archsweep.ModelFileError, match="unknown model file type"):
        archsweep.analyze("resnet50")  # the file named resnet50 is read (and has no suffix)


# ---------------------------------------------------------------------------------------------
# Presets in a space spec
# ---------------------------------------------------------------------------------------------

SPEC = {
    "name": "tiny",
    "input": [3, "=res", "=res"],
    "variables": {"res": [16, 32], "width": {"per_stage": 2, "choices": [8, 16]}, "bn": [False, True]},
    "layers": [
        {"name": "s{s}", "repeat": 2, "index": "s", "layers": [
            {"name": "conv", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 3, "padding": 1},
            {"name": "bn", "op": "batchnorm2d", "when": "=bn"},
        ]},
    ],
}


def test_presets_are_kept_apart_from_the_compiled_spec():
    presets = {"small": {"description": "d", "values": {"res": 16, "width": [8, 16], "bn": True}}}
    plain, with_presets = archsweep.Space(SPEC), archsweep.Space(SPEC | {"presets": presets})
    assert "presets" not in with_presets.spec
    assert with_presets.spec_hash == plain.spec_hash  # adding presets does not invalidate datasets
    assert with_presets.presets == presets and plain.presets == {}
    vid = with_presets.preset_id("small")
    assert with_presets.config(vid) == {"res": 16, "width_0": 8, "width_1": 16, "bn": True}
    assert archsweep.analyze(with_presets.model(vid)).totals["params"] == (3 * 9 * 8 + 8) + 16 + (8 * 9 * 16 + 16) + 32


@pytest.mark.parametrize("values, messages", [
    ({"res": 16, "width": [8, 16]}, ["missing variable(s) bn"]),
    ({"res": 16, "bn": True}, ["missing variable(s) width"]),
    ({"res": 16, "width": [8, 16], "bn": True, "depth": 3}, ["unknown variable(s) depth", "variables: res, width, bn"]),
    ({"res": 16, "width": [8, 16, 32], "bn": True}, ["'width' has 2 stages, got 3 values"]),
    ({"res": 16, "width": 8, "bn": True}, ["'width' is per-stage: give a list of 2 values"]),
    ({"res": [16], "width": [8, 16], "bn": True}, ["'res' is not a per-stage variable"]),
    ({"res": 24, "width": [8, 12], "bn": 1}, ["res = 24 is not a choice of 'res' (16, 32)",
                                              "width_1 = 12 is not a choice", "bn = 1 is not a choice of 'bn' (False, True)"]),
])
def test_preset_errors_name_the_preset_and_the_variables(values, messages):
    space = archsweep.Space(SPEC | {"presets": {"p": {"values": values}}}, source="tiny.toml")
    with pytest.raises(archsweep.ArchsweepError) as e:
        space.preset_id("p")
    assert str(e.value).startswith("tiny.toml: preset 'p': ")
    for m in messages:
        assert m in str(e.value)


def test_malformed_presets_are_refused():
    with pytest.raises(archsweep.ArchsweepError, match="preset 'p' needs a 'values' table"):
        archsweep.Space(SPEC | {"presets": {"p": {"res": 16}}})
    with pytest.raises(archsweep.ArchsweepError, match=r"preset 'p': unknown key\(s\) valeus"):
        archsweep.Space(SPEC | {"presets": {"p": {"values": {}, "valeus": {}}}})
    with pytest.raises(archsweep.ArchsweepError, match="no preset 'q' \\(presets: p\\)"):
        archsweep.Space(SPEC | {"presets": {"p": {"values": {}}}}).preset_id("q")


def test_the_zoo_is_whatever_family_files_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSWEEP_FAMILIES", str(tmp_path))
    shutil.copy(FAMILIES / "vgg.toml", tmp_path / "vgg.toml")
    assert zoo.names() == sorted(OWN_PRESETS["vgg.toml"])
    # a new family file (any model-file type) is picked up; its presets are in the zoo
    tiny = SPEC | {"presets": {"tiny_small": {"description": "a tiny preset", "values": {"res": 16, "width": [8, 16], "bn": False}}}}
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    assert zoo.names() == sorted(OWN_PRESETS["vgg.toml"] + ["tiny_small"])
    assert zoo.describe("tiny_small") == "a tiny preset"
    assert archsweep.analyze("tiny_small").totals["params"] == (3 * 9 * 8 + 8) + (8 * 9 * 16 + 16)
    assert zoo.table().filter(pl.col("model") == "tiny_small")["family"].item() == "tiny"
    # the same name in two files is an error naming both
    (tmp_path / "tiny_copy.json").write_text(json.dumps(tiny))
    with pytest.raises(archsweep.ArchsweepError, match=r"preset 'tiny_small' is defined twice: in .*tiny.json and in .*tiny_copy.json"):
        zoo.names()


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def test_cli_analyze_by_name(capsys):
    code, out, _ = run(capsys, "analyze", "resnet50", "--input", "3x160x160", "--dtype", "fp16", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["name"] == "resnet50" and doc["input_shape"] == [1, 3, 160, 160] and doc["dtype"] == "fp16"
    assert doc["totals"]["params"] == 25_557_032
    assert doc["totals"]["weight_bytes"] == 2 * 25_557_032
    code, out, _ = run(capsys, "analyze", "resnet50")
    assert code == 0
    assert "resnet50" in out and "25,557,032" in out and "4,089,184,256" in out
    assert "97.5 MiB" in out and "102.2 MB" in out


def test_cli_zoo_table(capsys):
    code, out, _ = run(capsys, "zoo")
    assert code == 0
    for name in PRESETS:
        assert name in out
    assert "MiB" in out and "MB" in out and "GMACs" in out
    assert "25,557,032" in out and "4.089" in out and "97.5" in out and "102.2" in out


def test_cli_zoo_csv_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "zoo", "--format", "csv")
    assert code == 0
    df = pl.read_csv(out.encode())
    assert df["model"].to_list() == PRESETS
    assert df.filter(pl.col("model") == "vgg16")["params"].item() == 138_357_544
    code, out, _ = run(capsys, "zoo", "--format", "json")
    assert code == 0
    rows = {r["model"]: r for r in json.loads(out)}
    assert set(rows) == set(PRESETS)
    assert rows["vgg16"]["weights_mib"] == 527.792 and rows["vgg16"]["weights_mb"] == 553.43
    code, _, _ = run(capsys, "zoo", "--format", "csv", "-o", str(tmp_path / "zoo.csv"))
    assert code == 0 and pl.read_csv(tmp_path / "zoo.csv").height == len(PRESETS)


def test_cli_sweeps_a_family_file(capsys, tmp_path):
    code, _, _ = run(capsys, "sweep", str(FAMILIES / "resnet.toml"), "-o", str(tmp_path / "out"), "--sample", "500")
    assert code == 0
    df = archsweep.scan(tmp_path / "out").collect()
    assert len(df) > 0 and df["valid"].all()


# ---------------------------------------------------------------------------------------------
# docs/zoo.md
# ---------------------------------------------------------------------------------------------


def test_zoo_doc_table_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "zoo_table.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + proc.stdout + "\n(run: python scripts/zoo_table.py)"


def _zoo_table_script():
    spec = importlib.util.spec_from_file_location("zoo_table", ROOT / "scripts" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_table_script_rewrites_only_its_block(tmp_path, capsys):
    script = _zoo_table_script()
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nbefore\n<!-- zoo-table:start -->\nold\n<!-- zoo-table:end -->\nafter\n")
    assert script.main(["--readme", str(readme), "--check"]) == 1
    assert script.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n<!-- zoo-table:start -->\n| model | resolution |")
    assert text.endswith("<!-- zoo-table:end -->\nafter\n") and "old" not in text
    assert "| `resnet50` | 224 | 25,557,032 | 4.089 | 97.5 | 102.2 |" in text
    assert len([line for line in text.splitlines() if line.startswith("| `")]) == len(PRESETS)
    assert script.main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="zoo-table:start"):
        script.main(["--readme", str(readme)])
