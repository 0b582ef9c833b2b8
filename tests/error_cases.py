"""What the catalogues of bad inputs share (tests/test_api_errors.py, test_cli_errors.py,
test_bad_input.py): the small space they sweep, and the check of an error message."""

from __future__ import annotations

from collections.abc import Iterable

#: 2 × 2 × 2 variants of conv → adaptive pool → flatten → linear, on 8×8 or 16×16 inputs.
TINY_SPEC = {
    "name": "tiny",
    "input": [3, "=res", "=res"],
    "variables": {"res": [8, 16], "w": [4, 8], "k": [1, 3]},
    "layers": [
        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": "=k", "padding": "=k // 2"},
        {"op": "adaptive_avgpool2d", "output_size": 1},
        {"op": "flatten"},
        {"op": "linear", "out_features": 10},
    ],
}


def assert_message(msg: str, fragments: Iterable[str], leaks: Iterable[str]) -> None:
    """``msg`` holds every fragment (what it must name) and none of the leaks (signs of an
    exception from deep inside: a traceback, a panic, Python's own wording)."""
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    for leak in leaks:
        assert leak not in msg, msg
