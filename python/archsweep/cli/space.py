"""archsweep space: size, variables and one example of a search space."""

from __future__ import annotations

import argparse
from typing import Any

from archsweep import _core
from archsweep.cli.common import rows_arg

NAME = "space"


def register(sub: Any) -> None:
    sp = sub.add_parser(
        "space", help="size, variables and one example of a search space",
        description="Compile a search-space spec and print its exact size, its variables (in id-digit "
        "order: the last changes fastest) and one example configuration with its cost.",
    )
    sp.add_argument("spec", help="a space spec (.toml, .yaml, .json)")
    sp.add_argument("--id", type=int, default=None, help="variant id of the example (default: the middle of the space)")
    # a table of 10^5 variables helps nobody and took a minute to lay out
    rows_arg(sp, "variables")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from archsweep.analysis import analyze
    from archsweep.render import cell, console, line
    from archsweep.space import Space
    from archsweep.sweep.plan import MAX_IDS
    from archsweep.units import big_int, human_bytes, human_count, magnitude

    space = Space.load(args.spec)
    c = console()
    size = space.size
    c.print(line((space.name, "bold"), f": {big_int(size)} variants (~{magnitude(size)}), {len(space.variables):,} variables, "
                 f"{space.num_layer_instances:,} layer instances at the largest repeat counts"))
    t = Table(title="variables (id digits in this order; the last changes fastest)", title_justify="left")
    t.add_column("variable")
    t.add_column("choices", justify="right")
    t.add_column("values")
    conditional = space.conditional
    if conditional:
        t.add_column("exists when")
    variables = space.variables
    listed = list(variables.items())
    if args.rows is not None:
        listed = listed[:args.rows]
    for name, choices in listed:
        shown = ", ".join(str(v) for v in choices[:12]) + (", ..." if len(choices) > 12 else "")
        t.add_row(cell(name), str(len(choices)), cell(shown), *([cell(conditional.get(name, ""))] if conditional else []))
    c.print(t)
    if len(listed) < len(variables):
        c.print(f"{len(variables) - len(listed):,} of {len(variables):,} variables not shown (the first {len(listed):,} are): "
                "--rows all shows every one", soft_wrap=True)
    if space.derived:
        c.print(cell("derived: " + ", ".join(space.derived)))
    if args.id is None and size > MAX_IDS:
        c.print("example: none (the space has more than 10^38 variants: ids cannot address it)")
        return 0
    vid = args.id if args.id is not None else size // 2
    c.print(cell(f"example: variant {vid}: {space.config(vid)}"))
    try:
        r = analyze(space.model(vid))
        tot = r.totals
        c.print(f"  {tot['params']:,} params ({human_count(tot['params'])}), {tot['macs']:,} MACs ({human_count(tot['macs'])}), "
                f"weights {human_bytes(tot['weight_bytes'])}, peak activations {human_bytes(tot['peak_activation_bytes'])}")
    except _core.ArchsweepError as e:
        c.print(cell(f"  invalid: {e}"))
    return 0
