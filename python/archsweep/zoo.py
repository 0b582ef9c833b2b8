"""The model zoo: named configurations (presets) of the family templates in ``data/families/``.

A family file is a search space whose variables are the family's knobs; its ``[presets.NAME]``
tables set every knob to one published network::

    [presets.resnet50]
    description = "torchvision resnet50 (v1.5)"
    values = { res = 224, block = 1, depth = [3, 4, 6, 3], width = [64, 128, 256, 512], ... }

The zoo is the union of the presets of every family file: there is no other list of models and
no second description of any network. Each preset is held to torchvision's published parameter
count and GMACs by ``tests/test_zoo.py``.

>>> from archsweep import zoo
>>> zoo.names()[:3]
>>> archsweep.analyze(zoo.load("resnet50")).totals["params"]     # 25557032
>>> space, vid = zoo.family("resnet50")     # sweep the neighbourhood of resnet50
>>> zoo.table()                             # one row per preset: params, GMACs, weight sizes
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from archsweep._core import ArchsweepError
from archsweep.model import Model, parse_text
from archsweep.space import Space, check_presets

#: File types a family template may have (the model-file types).
FAMILY_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def families_dir() -> Path:
    """Where the family templates are: ``$ARCHSWEEP_FAMILIES`` if set, else the package's own
    ``families`` folder (``data/families`` in the repository is a link to it, so the installed
    package carries its zoo)."""
    env = os.environ.get("ARCHSWEEP_FAMILIES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "families"


@dataclass(frozen=True)
class _Entry:
    name: str
    family: str  # the family file's stem: data/families/<family>.toml
    path: Path
    description: str


_INDEX: tuple[tuple, dict[str, _Entry]] | None = None
_SPACES: dict[tuple[Path, int], Space] = {}


def _files() -> list[Path]:
    d = families_dir()
    if not d.is_dir():
        raise ArchsweepError(f"{d}: no family templates here (set ARCHSWEEP_FAMILIES to the folder holding them)")
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in FAMILY_SUFFIXES)


def _read(path: Path) -> dict[str, Any]:
    spec = parse_text(path.read_text(encoding="utf-8"), path.suffix.lower(), str(path))
    if not isinstance(spec, dict):
        raise ArchsweepError(f"{path}: a family template must be a table")
    return spec


def _index() -> dict[str, _Entry]:
    """preset name -> where it is; re-read when a family file is added, removed or changed."""
    global _INDEX
    files = _files()
    key = tuple((p, p.stat().st_mtime_ns) for p in files)
    if _INDEX is not None and _INDEX[0] == key:
        return _INDEX[1]
    index: dict[str, _Entry] = {}
    for path in files:
        presets = check_presets(_read(path).get("presets", {}), str(path))
        for name, preset in presets.items():
            if name in index:
                raise ArchsweepError(f"preset '{name}' is defined twice: in {index[name].path} and in {path}")
            index[name] = _Entry(name, path.stem, path, preset["description"])
    _INDEX = (key, index)
    return index


def _entry(name: str) -> _Entry:
    index = _index()
    if name in index:
        return index[name]
    close = difflib.get_close_matches(str(name), list(index), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ArchsweepError(
        f"unknown model '{name}'{hint} (neither a model file nor one of the {len(index)} zoo models that `archsweep zoo` lists)"
    )


def _space(path: Path) -> Space:
    key = (path, path.stat().st_mtime_ns)
    if key not in _SPACES:
        for stale in [k for k in _SPACES if k[0] == path]:
            del _SPACES[stale]
        _SPACES[key] = Space(_read(path), source=str(path))
    return _SPACES[key]


def names() -> list[str]:
    """Every preset of every family file, sorted."""
    return sorted(_index())


def family(name: str) -> tuple[Space, int]:
    """The family space that preset ``name`` belongs to and the preset's variant id in it,
    e.g. to sweep its neighbourhood: ``space.config(vid)`` is the preset's configuration."""
    entry = _entry(name)
    space = _space(entry.path)
    return space, space.preset_id(name)


def describe(name: str) -> str:
    """The preset's one-line description."""
    return _entry(name).description


def load(name: str) -> Model:
    """The concrete network of preset ``name`` (named ``name``), ready for ``archsweep.analyze``."""
    entry = _entry(name)
    space, vid = family(name)
    model = space.model(vid)
    model.name = name
    model.source = f"{entry.path} [presets.{name}]"
    return model


def table() -> pl.DataFrame:
    """One row per preset, sorted by name: ``model``, ``family`` (the family file's stem),
    ``resolution`` (the input's height = width), ``params``, ``macs``, ``gmacs``
    (``round(macs / 1e9, 3)``, torchvision's precision), ``weight_bytes`` (fp32),
    ``weights_mib`` (2^20 bytes) and ``weights_mb`` (10^6 bytes), rounded to 3 decimals, and
    ``description``."""
    from archsweep.analysis import analyze

    rows = []
    for name in names():
        model = load(name)
        totals = analyze(model, dtype="fp32").totals
        shape = list(model.input or [])
        rows.append({
            "model": name,
            "family": _entry(name).family,
            "resolution": shape[-1] if shape else None,
            "params": totals["params"],
            "macs": totals["macs"],
            "gmacs": round(totals["macs"] / 1e9, 3),
            "weight_bytes": totals["weight_bytes"],
            "weights_mib": round(totals["weight_bytes"] / 2**20, 3),
            "weights_mb": round(totals["weight_bytes"] / 1e6, 3),
            "description": _entry(name).description,
        })
    schema = {
        "model": pl.String, "family": pl.String, "resolution": pl.Int64, "params": pl.Int64, "macs": pl.Int64,
        "gmacs": pl.Float64, "weight_bytes": pl.Int64, "weights_mib": pl.Float64, "weights_mb": pl.Float64,
        "description": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)
