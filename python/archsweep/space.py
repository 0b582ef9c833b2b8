"""Search spaces: a model file whose attribute values may be expressions over space variables.

All parsing of expressions, expansion of repeat blocks and evaluation happens in Rust; this
module reads the file and exposes the compiled space.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from archsweep import _core
from archsweep.model import Model, ModelFileError, _parse


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


class Space:
    """A compiled search space.

    >>> space = Space.load("data/spaces/vgg.toml")
    >>> space.size            # exact, arbitrary precision
    >>> space.config(0)       # variable values of variant 0
    >>> space.model(0)        # the concrete Model, analysable with archsweep.analyze
    """

    def __init__(self, spec: dict[str, Any], source: str | None = None):
        if not isinstance(spec, dict):
            raise ModelFileError(f"{source or 'space'}: a space spec must be a table")
        self.spec = spec
        self.source = source
        try:
            self._c = _core.CompiledSpace(json.dumps(spec))
        except _core.ArchsweepError as e:
            raise _core.ArchsweepError(f"{source}: {e}" if source else str(e)) from None

    @classmethod
    def load(cls, path: str | Path) -> "Space":
        """Read a space spec (TOML, YAML or JSON by suffix) and compile it."""
        p = Path(path)
        if not p.is_file():
            raise ModelFileError(f"{p}: no such space file")
        return cls(_parse(p.read_text(encoding="utf-8"), p.suffix.lower(), str(p)), source=str(p))

    @property
    def name(self) -> str:
        return self._c.name

    @property
    def size(self) -> int:
        """The exact number of variants (a Python int: arbitrary precision)."""
        return int(self._c.size_decimal)

    @property
    def variables(self) -> dict[str, list]:
        """Primary variables in id-digit order (the last one changes fastest) and their choices."""
        return dict(zip(self._c.var_names, self._c.var_choices()))

    @property
    def derived(self) -> list[str]:
        return list(self._c.derived_names)

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec: what a dataset was computed from."""
        return hashlib.sha256(_canonical(self.spec).encode()).hexdigest()

    @property
    def num_layer_instances(self) -> int:
        """Layer instances after expanding every repeat block to its largest count."""
        return self._c.num_layer_instances

    def config(self, variant_id: int) -> dict[str, Any]:
        """Variable values (primary and derived) of one variant."""
        return dict(self._c.config(int(variant_id)))

    def variant_id(self, config: dict[str, Any]) -> int:
        """The inverse of :meth:`config`: the id of a configuration of the primary variables.

        Mixed radix: id = Σ digit[j] · Π_{k>j} radix[k], digit[j] = index of the value in
        variable j's choices, variables in declaration order, the last one fastest."""
        vid = 0
        for name, choices in self.variables.items():
            if name not in config:
                raise _core.ArchsweepError(f"config has no value for variable '{name}'")
            value = config[name]
            matches = [i for i, c in enumerate(choices) if c == value]
            if not matches:
                raise _core.ArchsweepError(f"{value!r} is not a choice of '{name}' ({choices})")
            vid = vid * len(choices) + matches[0]
        return vid

    def model(self, variant_id: int) -> Model:
        """The concrete model of one variant (layers switched off are dropped)."""
        return Model.from_dict(json.loads(self._c.model_json(int(variant_id))))

    def __repr__(self) -> str:
        return f"<Space {self.name}: {self.size:,} variants over {len(self.variables)} variables>"
