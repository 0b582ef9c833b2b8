"""The reference figures the zoo tests use are in the repository, and equal the project's shared
copy wherever that is present (../shared/reference beside a checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference import DEFAULT, reference

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "torchvision_models.csv"


def test_reference_data_ships_with_the_repository():
    assert DEFAULT.is_file()
    ref = reference()
    # torchvision 0.29's classification models, with figures from its published weights' metadata
    assert len(ref) == 80
    assert ref["vgg16"] == {"resolution": 224, "num_params": 138357544, "gmacs": 15.47}
    assert ref["resnet50"]["num_params"] == 25557032


@pytest.mark.skipif(not SHARED.is_file(), reason="no ../shared/reference beside this checkout to compare the copy with")
def test_reference_copy_equals_the_shared_one():
    assert DEFAULT.read_bytes() == SHARED.read_bytes()
