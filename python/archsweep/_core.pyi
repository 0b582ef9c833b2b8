"""Types of the Rust extension module (rust/py): conversions and errors only, no cost logic."""

from typing import Any, Literal, TypedDict, final

import pyarrow as pa

__all__ = [
    "ArchsweepError",
    "AttributeSpecError",
    "CountOverflowError",
    "ExpressionError",
    "InvalidModelError",
    "SAMPLER",
    "ShapeError",
    "SpecError",
    "UnknownOpError",
    "ArrowRows",
    "CompiledSpace",
    "RowFilter",
    "analyze_json",
    "dtypes",
    "metrics",
    "op_names",
    "pareto_sorted",
    "positions_done",
]

class ArchsweepError(ValueError):
    """An invalid model, layer or option; the message names the layer, the rule and the numbers."""

    # set on errors of the core (not on a caught panic): ErrorKind::code, the layer and its op
    kind: str
    layer: str | None
    op: str | None

class AttributeSpecError(ArchsweepError):
    """A layer's attribute is missing, unknown (a typo?) or has a bad value."""

class UnknownOpError(ArchsweepError):
    """A layer names an op archsweep does not know (`archsweep ops` lists them)."""

class ShapeError(ArchsweepError):
    """A layer's inputs break its shape rule (rank, channels, kernel larger than the input, ...)."""

class CountOverflowError(ArchsweepError):
    """A count (elements, params, MACs, bytes) does not fit in 64 bits."""

class InvalidModelError(ArchsweepError):
    """The model file or its graph is malformed: keys, names, wiring, number of inputs."""

class SpecError(ArchsweepError):
    """A search space's spec is malformed (keys, choices, names, wiring) or larger than the engine handles."""

class ExpressionError(ArchsweepError):
    """An expression of a space or a `where` filter does not parse, compile or evaluate; `expression` is its text, `span` the (start, end) offsets of the failing part or None."""

    expression: str
    span: tuple[int, int] | None

#: The sampler a sample uses unless told otherwise.
SAMPLER: Literal[1, 2]

class _Analysis(TypedDict):
    name: str
    input_shape: list[int]
    dtype: str
    optimizer: str
    batch: int
    totals: dict[str, int]
    layers: ArrowRows  # the layer table (archsweep.analysis.LAYER_COLUMNS), count columns Int64

class _Metric(TypedDict):
    name: str
    kind: Literal["count", "bytes", "layers"]
    unit: str
    label: str
    description: str

def analyze_json(
    model_json: str, input_shape: list[int] | None = None, batch: int = 1, dtype: str = "fp32", optimizer: str = "adam"
) -> _Analysis: ...
def op_names() -> list[str]: ...
def dtypes() -> list[tuple[str, int]]: ...
def positions_done() -> int: ...
def pareto_sorted(cols: list[pa.Array]) -> list[int]: ...
def metrics() -> list[_Metric]: ...

@final
class ArrowRows:
    """Rows of a small call as one Arrow struct array, through the Arrow PyCapsule interface:
    ``pl.DataFrame(rows)`` or ``pa.record_batch(rows)``."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

@final
class RowFilter:
    """A ``where`` filter compiled over a table's column names (archsweep.filters)."""

    def __new__(cls, source: str, columns: list[str]) -> RowFilter: ...
    @property
    def columns(self) -> list[str]: ...
    @property
    def source(self) -> str: ...
    def evaluate(self, arrays: list[pa.Array], rows: int) -> tuple[pa.Array, int, tuple[int, str] | None]: ...

@final
class CompiledSpace:
    def __new__(cls, spec_json: str) -> CompiledSpace: ...
    @property
    def name(self) -> str: ...
    @property
    def var_names(self) -> list[str]: ...
    @property
    def derived_names(self) -> list[str]: ...
    def var_choices(self) -> list[list[int | float | bool | str]]: ...
    @property
    def radix(self) -> list[int]: ...
    def conditions(self) -> list[tuple[str, str]]: ...
    def variant_id(self, digits: list[int | None]) -> int: ...
    @property
    def size_decimal(self) -> str: ...
    @property
    def num_layer_instances(self) -> int: ...
    def config(self, id: int) -> dict[str, int | float | bool | str]: ...
    def model_json(self, id: int) -> str: ...
    def evaluate(
        self,
        mode: Literal["grid", "sample", "ids"],
        start: int,
        end: int,
        seed: int = 0,
        ids: list[int] | None = None,
        where: str | None = None,
        batch: int = 1,
        dtype: str = "fp32",
        optimizer: str = "adam",
        threads: int = 0,
        reuse: bool = True,
        sampler: int = ...,
    ) -> tuple[list[pa.RecordBatch], dict[str, int]]: ...
    def evaluate_ids(
        self,
        ids: list[int],
        where: str | None = None,
        batch: int = 1,
        dtype: str = "fp32",
        optimizer: str = "adam",
        threads: int = 0,
    ) -> tuple[ArrowRows, dict[str, int]]: ...
    def evaluate_one(self, id: int, batch: int = 1, dtype: str = "fp32", optimizer: str = "adam") -> dict[str, Any]: ...
    def schema(self) -> pa.Schema: ...
    def check_options(self, where: str | None = None, batch: int = 1, dtype: str = "fp32", optimizer: str = "adam") -> None: ...
