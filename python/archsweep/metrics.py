"""The metric columns of a sweep table, as the Rust core lists them (``archsweep._core.metrics()``).

Every list of metric names, every set of byte or count columns and every metric's label in the
package is derived from :data:`METRICS`; none is written out again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archsweep import _core
from archsweep.units import commas, human_count, mb, mib

MetricKind = Literal["count", "bytes", "layers"]


@dataclass(frozen=True)
class Metric:
    """One metric column: ``name`` (stable), ``kind`` (``"count"``, ``"bytes"`` or ``"layers"``),
    ``unit`` (e.g. ``"MACs"``), ``label`` (how plots and tables name it) and ``description``."""

    name: str
    kind: MetricKind
    unit: str
    label: str
    description: str


#: The metric columns, in column order.
METRICS: tuple[Metric, ...] = tuple(
    Metric(m["name"], m["kind"], m["unit"], m["label"], m["description"]) for m in _core.metrics()
)
#: Their names, in column order (see README "Sweep columns").
NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
#: Columns in bytes (shown in MiB and MB) and counts (shown in k/M/G).
BYTES_COLUMNS: frozenset[str] = frozenset(m.name for m in METRICS if m.kind == "bytes")
COUNT_COLUMNS: frozenset[str] = frozenset(m.name for m in METRICS if m.kind == "count")
#: How a metric is named on a plot's axis or in a table's header.
LABELS: dict[str, str] = {m.name: m.label for m in METRICS}

_BY_NAME = {m.name: m for m in METRICS}


def metric(name: str) -> Metric | None:
    """The metric called ``name``, or None for any other column."""
    return _BY_NAME.get(name)


def is_bytes(column: str) -> bool:
    return column in BYTES_COLUMNS


def is_count(column: str) -> bool:
    return column in COUNT_COLUMNS


def format_value(column: str, value: int) -> str:
    """A metric's value for people: raw digits with commas, then human units for bytes
    (``"553,430,176 (527.8 MiB / 553.4 MB)"``) and counts (``"138,357,544 (138.36 M)"``)."""
    if column in BYTES_COLUMNS:
        return f"{commas(value)} ({mib(value)} / {mb(value)})"
    if column in COUNT_COLUMNS:
        return f"{commas(value)} ({human_count(value)})"
    return str(value)
