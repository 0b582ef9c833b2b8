"""The reference figures the zoo tests use are in the repository (so a plain clone runs every
test that reads them, and none of them may skip: tests/conftest.py), and equal the project's
shared copy wherever that is present (../shared/reference beside a checkout)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from reference import DEFAULT, reference

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "torchvision_models.csv"


def test_reference_data_ships_with_the_repository():
    assert DEFAULT.is_file()
    ref = reference()
    # torchvision 0.29's classification models, with figures from its published weights' metadata
    assert len(ref) == 80
    assert ref["vgg16"] == {"resolution": 224, "num_params": 138357544, "gmacs": 15.47}
    assert ref["resnet50"]["num_params"] == 25557032
    if SHARED.is_file():  # beside a checkout of the project: the copy is the shared file, byte for byte
        assert DEFAULT.read_bytes() == SHARED.read_bytes()


def test_a_skip_in_a_test_of_the_reference_data_fails_and_skips_are_accounted_for(tmp_path):
    """tests/conftest.py in a pytest run of its own: a test that reads the reference data and
    skips fails (unless torch is what it misses); other skips are counted, by reason, in one line (also written to
    $ARCHSWEEP_SKIP_REPORT, which scripts/test prints)."""
    tests = Path(__file__).resolve().parent
    for name in ("conftest.py", "reference.py"):
        shutil.copy(tests / name, tmp_path / name)
    (tmp_path / "test_fake.py").write_text(textwrap.dedent('''
        import pytest
        from reference import reference

        def test_reads_reference():
            pytest.skip("pretend the data is missing")

        @pytest.mark.parametrize("i", range(3))
        def test_needs_torch(i):
            pytest.skip("torch is not installed (No module named 'torch'): scripts/torch-env installs it")
    '''))
    (tmp_path / "test_other.py").write_text("import pytest\n\ndef test_browser():\n    pytest.skip('no chromium binary')\n")
    report = tmp_path / "skips.txt"
    # (without CI / BUILD_NUMBER: on CI pytest prints the short summary's messages untruncated,
    # so the message would be counted twice)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")}
    env["ARCHSWEEP_SKIP_REPORT"] = str(report)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "test_reads_reference reads the reference data" in r.stdout and "must not skip" in r.stdout
    assert r.stdout.count("must not skip") == 1 and "1 failed, 4 skipped" in r.stdout
    line = "skipped 4: torch is not installed (scripts/torch-env installs it) (3); no chromium binary (1)"
    assert line in r.stdout.splitlines()
    assert report.read_text() == line + "\n"
