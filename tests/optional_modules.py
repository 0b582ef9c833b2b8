"""The optional packages the torch tests need (torch, torchvision, timm, onnx, and the NAS
references xautodl and ofa), imported or skipped with one rule: a missing one skips the test
module with a message naming scripts/torch-env, except under ``ARCHSWEEP_REQUIRE_TORCH=1`` (CI),
where it is an error."""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest


def require(module: str) -> Any:
    """``module``, or a skip of the calling test module; under ARCHSWEEP_REQUIRE_TORCH=1 (CI) a
    missing one is an error (scripts/torch-env installs it from tests/requirements/torch.txt)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("ARCHSWEEP_REQUIRE_TORCH") == "1":
            raise RuntimeError(f"ARCHSWEEP_REQUIRE_TORCH=1 but {module} cannot be imported ({e}): run scripts/torch-env") from e
        pytest.skip(f"{module} is not installed ({e}): scripts/torch-env installs it", allow_module_level=True)
