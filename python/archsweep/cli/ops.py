"""archsweep ops: the ops the core knows."""

from __future__ import annotations

import argparse
from typing import Any

from archsweep import _core

NAME = "ops"


def register(sub: Any) -> None:
    sub.add_parser("ops", help="list the ops the core knows", description="List every op name usable in model files.")


def run(args: argparse.Namespace) -> int:
    for name in _core.op_names():
        print(name)
    return 0
