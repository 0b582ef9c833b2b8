"""Shared test options: golden files (expected text outputs under tests/golden/), and the
account of skipped tests.

``pytest --update-golden`` (or ``ARCHSWEEP_UPDATE_GOLDEN=1``) rewrites them from the current
output instead of comparing; review the diff with ``git diff tests/golden`` before committing.

Skips: the run ends with one line saying how many tests skipped and why, grouped by reason
(``skipped 280: torch is not installed (scripts/torch-env installs it) 278, ...``), also written
to ``$ARCHSWEEP_SKIP_REPORT`` when that is set (scripts/test prints it last). A test that reads the
reference data (its module imports ``reference``: tests/data/reference is in the repository)
never skips but for a missing torch: any other skip there is turned into a failure, wherever the
tests run.
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


TORCH_SKIP = "torch is not installed (scripts/torch-env installs it)"


def skip_reason(report) -> str:
    """A skip's reason, with the several wordings of a missing torch (or of the NAS packages
    scripts/torch-env installs with it) as one."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ").strip()
    if "scripts/torch-env" in reason or "torch is not installed" in reason or "No module named 'torch" in reason:
        return TORCH_SKIP
    return reason


def skip_account(reports) -> str:
    """One line: how many tests skipped, and why (commonest reason first)."""
    if not reports:
        return "skipped nothing"
    counts: dict[str, int] = {}
    for r in reports:
        reason = skip_reason(r)
        counts[reason] = counts.get(reason, 0) + 1
    parts = [f"{reason} ({n})" if len(counts) > 1 else reason for reason, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"skipped {len(reports)}: " + "; ".join(parts)


def reads_reference_data(item) -> bool:
    import reference

    module = getattr(item, "module", None)
    return module is not None and getattr(module, "reference", None) is reference.reference


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and reads_reference_data(item)
            and skip_reason(report) != TORCH_SKIP):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} reads the reference data (tests/data/reference, in the repository) "
                           f"and must not skip, but skipped: {skip_reason(report)}")


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    line = skip_account(skipped)
    terminalreporter.write_line(line)
    out = os.environ.get("ARCHSWEEP_SKIP_REPORT")
    if out:
        Path(out).write_text(line + "\n", encoding="utf-8")


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
