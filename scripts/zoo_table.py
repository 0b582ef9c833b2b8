#!/usr/bin/env python3
"""Write the model-zoo table of docs/zoo.md from the presets of data/families/*.toml.

    python scripts/zoo_table.py            # rewrite the block between the zoo-table markers
    python scripts/zoo_table.py --check    # exit 1 if docs/zoo.md is stale (tests/test_zoo.py runs this)
    python scripts/zoo_table.py --print    # print the table only

The table is computed by archsweep itself (`archsweep.zoo.table()`): one row per preset, with
fp32 weight sizes in MiB (2^20 bytes) and MB (10^6 bytes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- zoo-table:start -->"
END = "<!-- zoo-table:end -->"

try:
    from archsweep import zoo
except ImportError:  # not installed: use the source tree (its extension must be built)
    sys.path.insert(0, str(ROOT / "python"))
    from archsweep import zoo


def markdown() -> str:
    """The table, one preset per row, sorted by name."""
    lines = [
        "| model | resolution | params | GMACs | fp32 weights (MiB) | fp32 weights (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in zoo.table().iter_rows(named=True):
        lines.append(
            f"| `{r['model']}` | {r['resolution']} | {r['params']:,} | {r['gmacs']:.3f} "
            f"| {r['weights_mib']:.1f} | {r['weights_mb']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    """``readme`` with the block between the markers replaced by the current table."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise SystemExit(f"the page must contain {START} ... {END} exactly once, in that order")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{markdown()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="do not write; exit 1 if the page's table is stale")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the table and exit")
    p.add_argument("--doc", "--readme", dest="readme", type=Path, default=ROOT / "docs" / "zoo.md",
                   help="the page to update (default: docs/zoo.md)")
    args = p.parse_args(argv)
    if args.print_only:
        sys.stdout.write(markdown())
        return 0
    old = args.readme.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print(f"{args.readme}: the model-zoo table is stale; run: python scripts/zoo_table.py", file=sys.stderr)
            return 1
        print(f"{args.readme}: the model-zoo table is up to date ({len(zoo.names())} models)")
        return 0
    if new != old:
        tmp = args.readme.with_name(f".{args.readme.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(args.readme)
        print(f"{args.readme}: model-zoo table updated ({len(zoo.names())} models)")
    else:
        print(f"{args.readme}: the model-zoo table is already up to date ({len(zoo.names())} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
