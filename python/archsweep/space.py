"""Search spaces: a model file whose attribute values may be expressions over space variables.

All parsing of expressions, expansion of repeat blocks and evaluation happens in Rust; this
module reads the file and exposes the compiled space.
"""

from __future__ import annotations

import decimal
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archsweep import _core
from archsweep.model import Model, ModelFileError, parse_text, read_file, spec_values
from archsweep.units import big_int, parse_int

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from archsweep.pytorch import Generated


def canonical_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def check_presets(presets: Any, source: str | None) -> dict[str, dict[str, Any]]:
    """``[presets.NAME]`` tables: each ``{description = "...", values = {var = value, ...}}``."""
    where = f"{source}: " if source else ""
    if not isinstance(presets, dict):
        raise ModelFileError(f"{where}'presets' must be a table of [presets.NAME] tables")
    out: dict[str, dict[str, Any]] = {}
    for name, preset in presets.items():
        if not isinstance(preset, dict) or not isinstance(preset.get("values"), dict):
            raise ModelFileError(f"{where}preset '{name}' needs a 'values' table (values = {{ var = value, ... }})")
        extra = sorted(set(preset) - {"description", "values"})
        if extra:
            raise ModelFileError(f"{where}preset '{name}': unknown key(s) {', '.join(extra)} (expected description, values)")
        description = preset.get("description", "")
        if not isinstance(description, str):
            raise ModelFileError(f"{where}preset '{name}': description must be a string")
        out[str(name)] = {"description": description, "values": dict(preset["values"])}
    return out


def _stage_names(key: str, variables: dict[str, list]) -> list[str]:
    """``key_0``, ``key_1``, ... if ``key`` is a per-stage variable of the space, else []."""
    names: list[str] = []
    while f"{key}_{len(names)}" in variables:
        names.append(f"{key}_{len(names)}")
    return names


def _base_names(variables: dict[str, Any]) -> list[str]:
    """Variable names as written in a spec: ``depth`` for ``depth_0`` ... ``depth_3``."""
    out: list[str] = []
    for var in variables:
        base, _, idx = var.rpartition("_")
        name = base if base and idx.isdigit() else var
        if name not in out:
            out.append(name)
    return out


def _index(choices: list, value: Any) -> int | None:
    """Position of ``value`` among ``choices`` (a bool never matches a number, nor vice versa)."""
    for i, c in enumerate(choices):
        if isinstance(c, bool) == isinstance(value, bool) and c == value:
            return i
    return None


def _choice_lookup(choices: list, strict_bool: bool) -> Callable[[Any], int | None]:
    """``value -> position`` among ``choices`` through a dict: the first choice equal to the value
    (``==``, as a scan would find it); with ``strict_bool`` as :func:`_index` (a bool never
    matches a number). An unhashable value is looked for by a scan."""
    if strict_bool:
        table: dict[Any, int] = {}
        for i, c in enumerate(choices):
            table.setdefault((isinstance(c, bool), c), i)

        def lookup(value: Any) -> int | None:
            try:
                return table.get((isinstance(value, bool), value))
            except TypeError:
                return _index(choices, value)
    else:
        table = {}
        for i, c in enumerate(choices):
            table.setdefault(c, i)

        def lookup(value: Any) -> int | None:
            try:
                return table.get(value)
            except TypeError:
                return next((i for i, c in enumerate(choices) if c == value), None)
    return lookup


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
        # Named configurations ([presets.NAME] tables: the model zoo) are not part of the compiled
        # space: they are kept here and left out of the spec (and so of spec_hash, so adding a
        # preset does not invalidate datasets swept from the file).
        # JSON data only: NaN, infinity, integers beyond 64 bits, dates... are named here
        spec = spec_values(spec, f"{source}: " if source else "")
        self.presets: dict[str, dict[str, Any]] = check_presets(spec.pop("presets", {}), source)
        self.spec = spec
        self.source = source
        try:
            self._c = _core.CompiledSpace(json.dumps(spec))
        except _core.ArchsweepError as e:
            # the same class and attributes (kind, expression, ...): callers branch on them
            named = type(e)(f"{source}: {e}" if source else str(e))
            named.__dict__.update(e.__dict__)
            raise named from None
        # what point queries read on every call, made once (the compiled space never changes)
        self._size = parse_int(self._c.size_decimal)
        self._variables: dict[str, list] = dict(zip(self._c.var_names, self._c.var_choices()))
        self._conditional = bool(self._c.conditions())
        self._lookup = [(name, _choice_lookup(choices, self._conditional)) for name, choices in self._variables.items()]

    @classmethod
    def load(cls, path: str | Path) -> Space:
        """Read a space spec (TOML, YAML or JSON by suffix) and compile it."""
        p, text = read_file(path, "space")
        return cls(parse_text(text, p.suffix.lower(), str(p)), source=str(p))

    @property
    def compiled(self) -> _core.CompiledSpace:
        """The space compiled by the Rust core (what sweeps evaluate)."""
        return self._c

    @property
    def name(self) -> str:
        return self._c.name

    @property
    def size(self) -> int:
        """The exact number of variants (a Python int: arbitrary precision)."""
        return self._size

    @property
    def variables(self) -> dict[str, list]:
        """Primary variables in id-digit order (the last one changes fastest) and their choices."""
        return {name: list(choices) for name, choices in self._variables.items()}

    @property
    def conditional(self) -> dict[str, str]:
        """Primary variables that exist only in some variants, with their ``when`` condition as
        written (a per-stage variable's positions named by its ``index``): absent from
        :meth:`config` and null in sweep rows where they do not exist."""
        return dict(self._c.conditions())

    @property
    def derived(self) -> list[str]:
        return list(self._c.derived_names)

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec: what a dataset was computed from."""
        return hashlib.sha256(canonical_json(self.spec).encode()).hexdigest()

    @property
    def num_layer_instances(self) -> int:
        """Layer instances after expanding every repeat block to its largest count."""
        return self._c.num_layer_instances

    def arrow_schema(self) -> pa.Schema:
        """The pyarrow schema of a sweep's rows: ``variant_id``, the primary variables in id-digit
        order, ``valid``, ``error``, the metric columns (:data:`archsweep.metrics.NAMES`) and
        ``output_shape``; from the compiled space, nothing is evaluated."""
        return self._c.schema()

    def schema(self) -> pl.Schema:
        """The polars schema of :func:`archsweep.sweep`'s DataFrame for this space."""
        return self.empty_frame().schema

    def empty_frame(self) -> pl.DataFrame:
        """A sweep result of no rows: the columns and dtypes of :meth:`schema`."""
        import polars as pl

        frame = pl.from_arrow(self.arrow_schema().empty_table())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _check_id(self, variant_id: int) -> int:
        if isinstance(variant_id, decimal.Decimal) and variant_id == variant_id.to_integral_value():
            # ids of a space beyond 2^64 come back from polars as Decimal(38, 0)
            variant_id = int(variant_id)
        if isinstance(variant_id, bool) or not isinstance(variant_id, int):
            try:
                import operator

                variant_id = operator.index(variant_id)
            except TypeError:
                from archsweep.checks import ArgumentTypeError, show

                raise ArgumentTypeError(f"a variant id is an integer, not {show(variant_id)}") from None
        size = self._size
        if not 0 <= variant_id < size:
            raise _core.ArchsweepError(f"variant id {big_int(variant_id).replace(',', '')} is out of range [0, {big_int(size)})")
        if variant_id >= 10**38:
            raise _core.ArchsweepError(f"variant id {variant_id} is beyond 10^38: ids are u128 and stored as Decimal(38, 0) (constrain the space)")
        return int(variant_id)

    def config(self, variant_id: int) -> dict[str, Any]:
        """Variable values (primary and derived) of one variant; a conditional variable that
        does not exist in it is left out."""
        return dict(self._c.config(self._check_id(variant_id)))

    def variant_id(self, config: Mapping[str, Any]) -> int:
        """The inverse of :meth:`config`: the id of a configuration of the primary variables.

        Mixed radix: id = Σ digit[j] · Π_{k>j} radix[k], digit[j] = index of the value in
        variable j's choices, variables in the order of :attr:`variables` (the order in which the
        network first uses them), the last one fastest. A space with conditional variables
        numbers its distinct networks instead (README, "Variant ids"): a variable that does not
        exist in the configuration may be left out, and its value is ignored."""
        if self._conditional:
            digits: list[int | None] = []
            for name, lookup in self._lookup:
                if name not in config:
                    digits.append(None)
                    continue
                index = lookup(config[name])
                if index is None:
                    raise _core.ArchsweepError(f"{config[name]!r} is not a choice of '{name}' ({self._variables[name]})")
                digits.append(index)
            return int(self._c.variant_id(digits))
        vid = 0
        for name, lookup in self._lookup:
            if name not in config:
                raise _core.ArchsweepError(f"config has no value for variable '{name}'")
            value = config[name]
            index = lookup(value)
            if index is None:
                raise _core.ArchsweepError(f"{value!r} is not a choice of '{name}' ({self._variables[name]})")
            vid = vid * len(self._variables[name]) + index
        return vid

    def evaluate(self, config_or_id: int | Mapping[str, Any], *, batch: int = 1, dtype: str = "fp32",
                 optimizer: str = "adam") -> dict[str, Any]:
        """One variant's sweep row, as a dict: a point query for a search loop's candidates
        (microseconds; no DataFrame is made).

        ``config_or_id`` is a variant id or a configuration of the primary variables (as
        :meth:`variant_id` reads it: with conditional variables, one that does not exist may be
        left out). The keys and values are those of the variant's row in
        ``archsweep.sweep(space, ids=[id], ...)`` (``df.row(0, named=True)``): ``variant_id``
        (always an int), the primary variables (None where a conditional one does not exist),
        ``valid``, ``error``, the metrics and ``output_shape``. An invalid variant is a row with
        ``valid`` False, the message in ``error`` and the metrics and ``output_shape`` None. A
        variant the space's constraints reject has no row: that raises ``SpecError``, as
        :meth:`model` does. ``batch``, ``dtype`` and ``optimizer`` are the sweep's options."""
        if isinstance(config_or_id, Mapping):
            vid = self.variant_id(config_or_id)
        else:
            vid = self._check_id(config_or_id)
        return self._c.evaluate_one(vid, batch, dtype, optimizer)

    def preset_config(self, name: str) -> dict[str, Any]:
        """The primary-variable values of preset ``name``, per-stage lists flattened
        (``depth = [3, 4, 6, 3]`` → ``depth_0`` ... ``depth_3``), in id-digit order.

        Raises ArchsweepError naming the preset and every missing or unknown variable, list of
        the wrong length, or value that is not among the variable's choices."""
        where = f"{self.source}: " if self.source else ""
        if name not in self.presets:
            known = ", ".join(sorted(self.presets)) or "none"
            raise _core.ArchsweepError(f"{where}no preset '{name}' (presets: {known})")
        variables = self.variables
        flat: dict[str, Any] = {}
        problems: list[str] = []
        unknown: list[str] = []
        for key, value in self.presets[name]["values"].items():
            stages = _stage_names(key, variables)
            if isinstance(value, (list, tuple)):
                if key in variables or not stages:
                    (problems.append(f"'{key}' is not a per-stage variable, a list was given") if key in variables
                     else unknown.append(key))
                elif len(value) != len(stages):
                    problems.append(f"'{key}' has {len(stages)} stages, got {len(value)} values {list(value)}")
                else:
                    flat.update(zip(stages, value))
            elif key in variables:
                flat[key] = value
            elif stages:
                problems.append(f"'{key}' is per-stage: give a list of {len(stages)} values, got {value!r}")
            else:
                unknown.append(key)
        given = {v for key in self.presets[name]["values"] for v in (_stage_names(key, variables) or [key])}
        missing = _base_names({v: [] for v in variables if v not in given})
        if unknown:
            problems.insert(0, f"unknown variable(s) {', '.join(unknown)} (variables: {', '.join(_base_names(variables))})")
        if missing:
            problems.insert(0, f"missing variable(s) {', '.join(missing)}")
        config: dict[str, Any] = {}
        for var, choices in variables.items():
            if var not in flat:
                continue
            value = flat[var]
            if _index(choices, value) is None:
                problems.append(f"{var} = {value!r} is not a choice of '{var}' ({', '.join(map(repr, choices))})")
            config[var] = value
        if problems:
            raise _core.ArchsweepError(f"{where}preset '{name}': " + "; ".join(problems))
        return config

    def preset_id(self, name: str) -> int:
        """The variant id of preset ``name`` (a ``[presets.NAME]`` table of the spec):
        ``space.model(space.preset_id("resnet50"))`` is that network."""
        config = self.preset_config(name)
        if self.conditional:
            return self.variant_id(config)
        vid = 0
        for var, choices in self.variables.items():
            index = _index(choices, config[var])
            assert index is not None  # preset_config checked every value
            vid = vid * len(choices) + index
        return vid

    def model(self, variant_id: int) -> Model:
        """The concrete model of one variant (layers switched off are dropped)."""
        return Model.from_dict(json.loads(self._c.model_json(self._check_id(variant_id))))

    def generated(self, variant_id: int, *, class_name: str | None = None, input_shape: Sequence[int] | None = None,
                  preset: str | None = None) -> Generated:
        """Variant ``variant_id`` as PyTorch source (:func:`archsweep.pytorch.generated`): the
        class is named after the space (or ``preset``, or ``class_name``) and its docstring
        records the spec, the id and the configuration."""
        from archsweep.pytorch import generated
        from archsweep.pytorch.source import class_name as name_of

        model = self.model(variant_id)
        model.source = self.source
        config = ", ".join(f"{k}={v!r}" for k, v in self.config(variant_id).items())
        note = f"Variant {variant_id}{f' (preset {preset})' if preset else ''} of the space {self.name!r}: {config}."
        return generated(model, input_shape, class_name=class_name or name_of(preset or self.name), note=note)

    def torch_source(self, variant_id: int, *, class_name: str | None = None, input_shape: Sequence[int] | None = None) -> str:
        """Standalone PyTorch source of variant ``variant_id`` (see :meth:`export`)."""
        return self.generated(variant_id, class_name=class_name, input_shape=input_shape).source

    def export(self, variant_id: int, path: str | Path, *, class_name: str | None = None,
               input_shape: Sequence[int] | None = None) -> Generated:
        """Write variant ``variant_id`` as standalone PyTorch source to ``path`` (``archsweep
        export SPEC --id N``): one ``nn.Module`` class named after the space (or
        ``class_name``) importing only torch, its docstring recording the spec, the id and the
        configuration. Writing it needs no torch. Returns what was written (``.source``,
        ``.class_name``, ``.paths``: each layer's state_dict prefix)."""
        from archsweep.io import atomic_write_text

        g = self.generated(variant_id, class_name=class_name, input_shape=input_shape)
        atomic_write_text(path, g.source)
        return g

    def __repr__(self) -> str:
        return f"<Space {self.name}: {big_int(self.size)} variants over {len(self.variables)} variables>"
