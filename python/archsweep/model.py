"""Model files: TOML, YAML or JSON with one schema.

    {"name": "...", "input": [3, 224, 224],
     "layers": [{"name": "conv1", "op": "conv2d", "out_channels": 64, "kernel_size": 3,
                 "padding": 1, "inputs": ["x"]}, ...]}

Layer names are optional (auto-named ``<op>_<k>``); ``inputs`` defaults to the previous layer;
``"x"`` is the model input. All validation happens in the Rust core.
"""

from __future__ import annotations

import json
import math
import operator
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import yaml

from archsweep._core import ArchsweepError


class ModelFileError(ArchsweepError):
    """A model file that cannot be read or parsed (the message names the file)."""


@dataclass
class Model:
    """A network description: a name, a per-sample input shape and a list of layers."""

    name: str
    layers: list[dict[str, Any]]
    input: list[int] | None = None
    source: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> Model:
        if not isinstance(data, dict):
            raise ModelFileError(f"{source or 'model'}: expected a table with 'layers', got {type(data).__name__}")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ModelFileError(f"{source or 'model'}: a model needs a 'layers' list")
        known = {"name", "input", "layers", "description", "source"}
        extra = sorted(set(data) - known)
        if extra:
            raise ModelFileError(f"{source or 'model'}: unknown model key(s) {', '.join(extra)} (expected {', '.join(sorted(known))})")
        name = data.get("name") or (Path(source).stem if source else "model")
        return cls(name=str(name), layers=layers, input=data.get("input"), source=source)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.input is not None:
            # a list or tuple becomes a list; anything else is left as it is for the check to name
            out["input"] = list(self.input) if isinstance(self.input, (list, tuple)) else self.input
        out["layers"] = self.layers
        return out

    def to_json(self) -> str:
        """The model as the JSON text the core reads, after :func:`model_values` checked it."""
        return json.dumps(model_values(self.to_dict()), allow_nan=False)

    def dumps(self, fmt: str = "toml") -> str:
        """The model as the text of a model file: ``"toml"``, ``"yaml"`` or ``"json"``;
        :func:`load` of that file gives this model back."""
        data = self.to_dict()
        fmt = fmt.lower().lstrip(".")
        if fmt == "toml":
            return _toml(data)
        if fmt in ("yaml", "yml"):
            return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
        if fmt == "json":
            return json.dumps(data, indent=1, allow_nan=False) + "\n"
        raise ModelFileError(f"unknown model file type '{fmt}' (use toml, yaml or json)")

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` as TOML, YAML or JSON (by its suffix), whole or not at
        all; returns the path."""
        from archsweep.io import atomic_write_text

        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in (".toml", ".yaml", ".yml", ".json"):
            raise ModelFileError(f"{p}: unknown model file type '{suffix}' (use .toml, .yaml, .yml or .json)")
        return atomic_write_text(p, self.dumps(suffix))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ModelFileError(f"{where}: {v} has no TOML form in a model file")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x, where)}" for k, x in v.items() if x is not None) + "}"
    raise ModelFileError(f"{where}: a {type(v).__name__} has no TOML form in a model file")


def _toml_key(k: Any) -> str:
    k = str(k)
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k)


def _toml(data: dict[str, Any]) -> str:
    """A model dict as TOML: its keys, then one ``[[layers]]`` table per layer."""
    lines = [f"{_toml_key(k)} = {_toml_value(v, k)}" for k, v in data.items() if k != "layers" and v is not None]
    for i, layer in enumerate(data.get("layers", [])):
        lines += ["", "[[layers]]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v, f'layer {i}: {k}')}" for k, v in layer.items() if v is not None]
    return "\n".join(lines) + "\n"


def parse_text(text: str, suffix: str, where: str) -> Any:
    fmt = suffix[1:].upper()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{where}: cannot parse {fmt}: lists or tables nested too deeply") from None
    # ValueError: also an integer of more digits than Python turns into an int
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as e:
        raise ModelFileError(f"{where}: cannot parse {fmt}: {e}") from None
    raise ModelFileError(f"{where}: unknown model file type '{suffix}' (use .toml, .yaml, .yml or .json)")


def read_file(path: str | Path, what: str = "model") -> tuple[Path, str]:
    """The path and text of a model or space file: a file that is missing, a directory, unreadable
    or not UTF-8 is a :class:`ModelFileError` naming it (a UTF-8 byte-order mark is allowed)."""
    p = Path(path)
    if p.is_dir():
        raise ModelFileError(f"{p}: is a directory, not a {what} file")
    if not p.is_file():
        raise ModelFileError(f"{p}: no such {what} file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{p}: cannot read the {what} file: {e.strerror or e}") from None
    try:
        return p, data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ModelFileError(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}, line {line}): "
                             f"save the {what} file as UTF-8") from None


def load(path: str | Path) -> Model:
    """Read a model file (TOML, YAML or JSON, chosen by the file's suffix)."""
    p, text = read_file(path, "model")
    return Model.from_dict(parse_text(text, p.suffix.lower(), str(p)), source=str(p))


# ------------------------------------------------------------------------------------------
# the values of a model or spec, checked before they become the JSON text the core reads

#: Lists and tables nested deeper than this are refused (the core's JSON reader stops at 128).
MAX_DEPTH = 64
_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1


class _Bad(Exception):
    """A value that cannot go to the core: where it is (a path) and what is wrong with it."""

    def __init__(self, path: str, problem: str):
        super().__init__(path, problem)
        self.path, self.problem = path, problem


def _clean(value: Any, path: str, depth: int) -> Any:
    """``value`` as JSON data (dict, list, str, int, finite float, bool, None): tuples become
    lists, numpy scalars Python numbers; anything else raises :class:`_Bad`."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if not _I64_MIN <= value <= _U64_MAX:
            from archsweep.units import big_int

            raise _Bad(path, f"={big_int(value).replace(',', '')} does not fit in 64 bits (integers from -2**63 to 2**64 - 1)")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad(path, f"={value} is not a finite number")
        return float(value)
    if depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        raise _Bad(path, f" is nested more than {MAX_DEPTH} lists or tables deep")
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Bad(path, f": key {k!r} is not a string")
            out[k] = _clean(v, f"{path}.{k}" if path else k, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if hasattr(value, "__index__"):  # numpy integers
        return _clean(operator.index(value), path, depth)
    if hasattr(value, "__float__") and type(value).__module__ == "numpy":
        return _clean(float(value), path, depth)
    raise _Bad(path, f" is a {type(value).__name__} ({value!r:.40}), not a number, string, boolean, list or table")


_SHAPE_SEP = re.compile(r"\s*[x×,*]\s*")


def input_hint(text: str, name: str = "input") -> str:
    """``input = [3, 32, 32]`` for a shape written as the text ``"3x32x32"``, else an example."""
    parts = [p for p in _SHAPE_SEP.split(text.strip().strip("[]()")) if p]
    if parts and all(p.isdigit() for p in parts):
        return f"{name} = [{', '.join(str(int(p)) for p in parts)}]"
    return f"{name} = [3, 224, 224]"


def model_values(model: dict[str, Any]) -> dict[str, Any]:
    """The model's data as JSON data (see :func:`_clean`), or an :class:`ArchsweepError` naming the
    layer and attribute of a value the core cannot read: NaN or infinity, an integer beyond 64
    bits, a date, nesting deeper than :data:`MAX_DEPTH`; a shape given as a string."""
    from archsweep._core import AttributeSpecError, InvalidModelError

    out: dict[str, Any] = {}
    for key, value in model.items():
        if key == "layers" and isinstance(value, list):
            continue
        if key == "input" and isinstance(value, str):
            raise InvalidModelError(f"input must be a list of positive ints (the per-sample shape), not the string "
                                    f"{value!r}: write {input_hint(value)}")
        try:
            out[key] = _clean(value, key, 0)
        except _Bad as e:
            raise InvalidModelError(f"{e.path}{e.problem}") from None
    layers = model.get("layers")
    if not isinstance(layers, list):
        return out
    out["layers"] = []
    per_op: dict[str, int] = {}
    for index, layer in enumerate(layers):
        if type(layer) is dict and _plain(layer):  # the common case, passed on as it is
            op = layer.get("op")
            if type(op) is str:
                per_op[op] = per_op.get(op, 0) + 1
            out["layers"].append(layer)
            continue
        if not isinstance(layer, dict):
            try:
                out["layers"].append(_clean(layer, f"layers[{index}]", 1))
            except _Bad as e:
                raise InvalidModelError(f"layer #{index}{e.problem}") from None
            continue
        op = layer.get("op")
        if isinstance(op, str):
            per_op[op] = per_op.get(op, 0) + 1
        name = layer.get("name")
        if not (isinstance(name, str) and name):
            name = f"{op}_{per_op[op]}" if isinstance(op, str) else f"layer #{index}"
        clean = {}
        for k, v in layer.items():
            if not isinstance(k, str):
                raise InvalidModelError(f"{name}{f' ({op})' if isinstance(op, str) else ''}: key {k!r} is not a string")
            try:
                clean[k] = _clean(v, k, 2)
            except _Bad as e:
                err = AttributeSpecError(f"{name}{f' ({op})' if isinstance(op, str) else ''}: {e.path}{e.problem}")
                err.kind, err.layer, err.op = "bad_attribute", name, op if isinstance(op, str) else None
                raise err from None
        out["layers"].append(clean)
    return out


def _plain(layer: dict[str, Any]) -> bool:
    """Whether :func:`_clean` would pass ``layer`` unchanged and raise nothing: every key a str,
    every value a str, bool, None, an int within 64 bits, a finite float, or a list of those
    (exact types: a subclass, a tuple, a numpy scalar or a nested list takes the full check).
    Most layers are such; checking them so costs a fraction of :func:`_clean`'s walk."""
    for key, value in layer.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is list:
            if not all(_plain_scalar(x) for x in value):
                return False
        elif not _plain_scalar(value):
            return False
    return True


def _plain_scalar(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return _I64_MIN <= value <= _U64_MAX
    return kind is float and math.isfinite(value)


def spec_values(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """A space spec's data as JSON data (see :func:`_clean`), or a :class:`SpecError` naming
    the place of a value the core cannot read (``layers[2].out_channels``)."""
    from archsweep._core import SpecError

    try:
        out = _clean(spec, "", 0)
    except _Bad as e:
        err = SpecError(f"{where}{e.path or 'the spec'}{e.problem}")
        err.kind, err.layer, err.op = "spec", None, None
        raise err from None
    assert isinstance(out, dict)
    return out
