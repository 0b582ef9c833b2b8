"""Model files: TOML, YAML or JSON with one schema.

    {"name": "...", "input": [3, 224, 224],
     "layers": [{"name": "conv1", "op": "conv2d", "out_channels": 64, "kernel_size": 3,
                 "padding": 1, "inputs": ["x"]}, ...]}

Layer names are optional (auto-named ``<op>_<k>``); ``inputs`` defaults to the previous layer;
``"x"`` is the model input. All validation happens in the Rust core.
"""

from __future__ import annotations

import json
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
            out["input"] = list(self.input)
        out["layers"] = self.layers
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def parse_text(text: str, suffix: str, where: str) -> Any:
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{where}: cannot parse {suffix[1:].upper()}: {e}") from None
    raise ModelFileError(f"{where}: unknown model file type '{suffix}' (use .toml, .yaml, .yml or .json)")


def load(path: str | Path) -> Model:
    """Read a model file (TOML, YAML or JSON, chosen by the file's suffix)."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such model file")
    return Model.from_dict(parse_text(p.read_text(encoding="utf-8"), p.suffix.lower(), str(p)), source=str(p))
