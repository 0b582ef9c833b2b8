"""More family templates (data/families/): every ``[presets.<name>]`` of the files below is a
torchvision model and must reproduce torchvision's published figures exactly.

Truth: ``torchvision_models.csv`` (published ``num_params`` and ``_ops`` = GMACs of the default
weights, torchvision 0.29), read at test time from ``$ARCHSWEEP_REFERENCE`` (the CSV or the
folder holding it) or ``<repo>/../shared/reference/``; the comparisons are skipped without it.
Asserted per preset: params exactly, ``round(macs / 1e9, 3)`` equal to the published gmacs, and
the preset's resolution equal to the reference row's.

Presets give every primary variable; per-stage variables as lists (``depth = [6, 12, 24, 16]``
stands for depth_0 .. depth_3). The variant id is computed here from the values (flattened to
name_0, name_1, ...) and, where ``Space.preset_id`` exists, checked against it.
"""

from __future__ import annotations

import csv
import os
import re
import tomllib
from pathlib import Path

import pytest

import archsweep

try:  # exact FLOPs and buffers measured with torch on torchvision's models
    from test_published_models import TORCHVISION_BUFFERS, TORCHVISION_FLOPS
except ImportError:  # pragma: no cover - run from elsewhere
    TORCHVISION_BUFFERS, TORCHVISION_FLOPS = {}, {}

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ROOT / "data" / "families"
_DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "torchvision_models.csv"

#: family file -> the torchvision models it must reproduce (exactly its presets)
FAMILY_MODELS = {
    "densenet.toml": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "googlenet.toml": ["googlenet"],
}


def _reference_path() -> Path:
    env = os.environ.get("ARCHSWEEP_REFERENCE")
    if env:
        p = Path(env)
        return p / "torchvision_models.csv" if p.is_dir() else p
    return _DEFAULT_REFERENCE


_REFERENCE: dict[str, dict] | None = None


def reference() -> dict[str, dict]:
    global _REFERENCE
    if _REFERENCE is None:
        path = _reference_path()
        if not path.is_file():
            pytest.skip(f"reference figures not found at {path} (set ARCHSWEEP_REFERENCE to torchvision_models.csv or its folder)")
        with path.open(newline="", encoding="utf-8") as f:
            _REFERENCE = {
                r["model"]: {"resolution": int(r["resolution"]), "num_params": int(r["num_params"]), "gmacs": float(r["gmacs"])}
                for r in csv.DictReader(f)
            }
    return _REFERENCE


def flatten(space: archsweep.Space, values: dict) -> dict:
    """Preset values -> one value per primary variable (lists become name_0, name_1, ...)."""
    flat = {}
    for k, v in values.items():
        if isinstance(v, list):
            stages = sum(1 for name in space.variables if re.fullmatch(rf"{re.escape(k)}_\d+", name))
            assert len(v) == stages, f"{k}: {len(v)} values for {stages} stages"
            flat.update({f"{k}_{i}": x for i, x in enumerate(v)})
        else:
            flat[k] = v
    assert set(flat) == set(space.variables), f"preset misses or adds variables: {set(flat) ^ set(space.variables)}"
    return flat


_FAMILIES: dict[str, tuple] = {}


def family(file: str) -> tuple[archsweep.Space, dict[str, dict]]:
    """(space, {preset name: {"id", "values", "description"}}) of a family file, cached."""
    if file not in _FAMILIES:
        path = FAMILIES / file
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
        presets = spec.pop("presets", {})
        space = archsweep.Space(spec, source=str(path))
        out = {}
        for name, p in presets.items():
            vid = space.variant_id(flatten(space, p["values"]))
            out[name] = {"id": vid, "values": p["values"], "description": p.get("description", "")}
        # once Space.load understands presets, it must agree with the flattening above
        try:
            loaded = archsweep.Space.load(path)
        except (ValueError, archsweep.ArchsweepError) as e:  # presets not supported yet
            assert "presets" in str(e), e
            loaded = None
        if loaded is not None and hasattr(loaded, "preset_id"):
            for name, p in out.items():
                assert loaded.preset_id(name) == p["id"], name
        _FAMILIES[file] = (space, out)
    return _FAMILIES[file]


def totals(space: archsweep.Space, vid: int) -> dict:
    return archsweep.analyze(space.model(vid)).totals


CASES = [(file, model) for file, models in FAMILY_MODELS.items() for model in models]


@pytest.mark.parametrize("file", FAMILY_MODELS)
def test_presets_are_the_listed_models(file):
    _, presets = family(file)
    assert sorted(presets) == sorted(FAMILY_MODELS[file])
    for p in presets.values():
        assert p["description"]


@pytest.mark.parametrize("file,model", CASES, ids=[m for _, m in CASES])
def test_preset_reproduces_torchvision(file, model):
    ref = reference()[model]
    space, presets = family(file)
    p = presets[model]
    assert p["values"]["res"] == ref["resolution"]
    t = totals(space, p["id"])
    assert t["params"] == ref["num_params"]
    assert round(t["macs"] / 1e9, 3) == ref["gmacs"], f"{model}: {t['macs']:,} MACs"


@pytest.mark.parametrize("file,model", CASES, ids=[m for _, m in CASES])
def test_preset_matches_torch_measured_flops_and_buffers(file, model):
    """Stronger than the rounded GMACs, and without the reference file: the exact FLOPs and
    buffer counts measured once on torchvision's own models (tests/test_published_models.py
    says how)."""
    space, presets = family(file)
    t = totals(space, presets[model]["id"])
    if model in TORCHVISION_FLOPS:
        assert t["flops"] == TORCHVISION_FLOPS[model]
    if model in TORCHVISION_BUFFERS:
        assert t["buffers"] == TORCHVISION_BUFFERS[model]


@pytest.mark.parametrize("file", FAMILY_MODELS)
def test_family_sweeps(file):
    space, _ = family(file)
    assert space.size < 2**64
    df = archsweep.sweep(space, sample=min(500, space.size), seed=0)
    assert len(df) >= 100
    assert df["valid"].mean() > 0.9, df.filter(~df["valid"])["error"].value_counts().head(5)
    assert (df.filter(df["valid"])["params"] > 0).all()
