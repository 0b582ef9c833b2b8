"""Shared test options: golden files (expected text outputs under tests/golden/).

``pytest --update-golden`` (or ``ARCHSWEEP_UPDATE_GOLDEN=1``) rewrites them from the current
output instead of comparing; review the diff with ``git diff tests/golden`` before committing.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_sessionstart(session):
    """Under ``ARCHSWEEP_REQUIRE_TORCH=1`` (CI, scripts/crosscheck) a missing torch is an error,
    not a silent skip of the cross-check tests."""
    if os.environ.get("ARCHSWEEP_REQUIRE_TORCH") == "1":
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise pytest.UsageError(f"ARCHSWEEP_REQUIRE_TORCH=1 but torch cannot be imported ({e}): run scripts/torch-env") from e


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current outputs instead of comparing")


def golden_diff(name: str, expected: str, actual: str) -> str:
    """A unified diff of ``expected`` against ``actual`` ('' when they are equal)."""
    if expected == actual:
        return ""
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=f"golden/{name}", tofile="actual"))


@pytest.fixture
def golden(request):
    """``golden(name, text)``: assert ``text`` equals ``tests/golden/<name>`` exactly (or rewrite it
    under ``--update-golden``)."""
    update = request.config.getoption("--update-golden") or os.environ.get("ARCHSWEEP_UPDATE_GOLDEN") == "1"

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"{path} is missing: run pytest --update-golden to create it"
        diff = golden_diff(name, path.read_text(encoding="utf-8"), actual)
        assert not diff, f"output differs from {path} (pytest --update-golden rewrites it):\n{diff}"

    return check
