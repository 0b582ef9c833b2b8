"""torchvision's published figures (tests/data/reference/torchvision_models.csv, a copy of the
project's shared reference data kept in the repository so that a plain clone runs these tests):
the truth the zoo, family and published-model tests are held to. Shared by those test modules."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DEFAULT = Path(__file__).resolve().parent / "data" / "reference" / "torchvision_models.csv"

_CACHE: dict[str, dict] | None = None


def reference_path() -> Path:
    """$ARCHSWEEP_REFERENCE (the CSV or the folder holding it), else tests/data/reference."""
    env = os.environ.get("ARCHSWEEP_REFERENCE")
    if env:
        p = Path(env)
        return p / "torchvision_models.csv" if p.is_dir() else p
    return DEFAULT


def reference() -> dict[str, dict]:
    """model name -> {"resolution": int, "num_params": int, "gmacs": float}; fails the calling
    test (never skips it: the figures ship with the repository) when the file is absent."""
    global _CACHE
    if _CACHE is None:
        path = reference_path()
        if not path.is_file():
            pytest.fail(
                f"reference figures not found at {path}: tests/data/reference/torchvision_models.csv is part "
                "of the repository (ARCHSWEEP_REFERENCE, if set, must name that CSV or the folder holding it)"
            )
        with path.open(newline="", encoding="utf-8") as f:
            _CACHE = {
                row["model"]: {
                    "resolution": int(row["resolution"]),
                    "num_params": int(row["num_params"]),
                    "gmacs": float(row["gmacs"]),
                }
                for row in csv.DictReader(f)
            }
    return _CACHE
