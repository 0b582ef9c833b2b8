"""The exceptions archsweep raises, all subclasses of :class:`ArchsweepError` (itself a
``ValueError``, so ``except ValueError`` still catches them).

The extension picks the class from the kind of the core's error; each such exception also has
``kind`` (a stable name: ``missing_attribute``, ``unknown_attribute``, ``bad_attribute``,
``unknown_op``, ``shape``, ``overflow``, ``invalid_model``, ``arity``, ``unknown_option``,
``spec``, ``limit``, ``constraint_violated``, ``expression``, ``filter``, ``invalid_argument``),
``layer`` and ``op`` (``None`` when the error is not about one layer).

* :class:`AttributeSpecError` — a layer's attribute is missing, unknown or has a bad value.
* :class:`UnknownOpError` — a layer names an op that does not exist.
* :class:`ShapeError` — a layer's inputs break its shape rule.
* :class:`CountOverflowError` — a count does not fit in 64 bits.
* :class:`InvalidModelError` — the model or its graph is malformed (keys, names, wiring, arity).
* :class:`ModelFileError` — a model file cannot be read or parsed.
* :class:`SpecError` — a search space's spec is malformed (keys, choices, names, wiring, a cycle
  of derived variables; ``kind`` ``spec``), larger than the engine handles (``limit``), or a
  variant asked for by id breaks a constraint (``constraint_violated``).
* :class:`ExpressionError` — an expression of a space (``kind`` ``expression``) or a ``where``
  filter (``filter``) does not parse, compile or evaluate; ``expression`` is its text and
  ``span`` the ``(start, end)`` offsets of the failing part in it (``None`` when not known).
* :class:`ArgumentTypeError` — an argument of a public function has the wrong type (a float or a
  string where an integer belongs, a number where a string belongs); it is also a ``TypeError``,
  so ``except TypeError`` catches it too. A value of the right type out of range is an
  :class:`ArchsweepError`. Both name the argument and the value.

Errors raised by the Python layer (a bad argument, a model value the core cannot read) have
``kind``, ``layer`` and ``op`` only where they are about a layer (``bad_attribute``) or a spec.
File system errors (an output path that cannot be written) stay ``OSError``, naming the path.

>>> import archsweep
>>> try:
...     archsweep.analyze({"input": [3, 8, 8], "layers": [{"op": "conv2d", "out_channels": 4}]})
... except archsweep.AttributeSpecError as e:
...     print(e.kind, e.layer, e.op)
missing_attribute conv2d_1 conv2d
"""

from archsweep._core import (
    ArchsweepError,
    AttributeSpecError,
    CountOverflowError,
    ExpressionError,
    InvalidModelError,
    ShapeError,
    SpecError,
    UnknownOpError,
)
from archsweep.checks import ArgumentTypeError
from archsweep.model import ModelFileError

__all__ = [
    "ArchsweepError",
    "ArgumentTypeError",
    "AttributeSpecError",
    "CountOverflowError",
    "ExpressionError",
    "InvalidModelError",
    "ModelFileError",
    "ShapeError",
    "SpecError",
    "UnknownOpError",
]
