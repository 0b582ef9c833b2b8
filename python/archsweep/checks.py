"""Checks of the public functions' arguments, so that a bad one is an :class:`ArchsweepError`
naming it and its value (never an ``OverflowError`` from the extension, a polars error or a
``TypeError`` from deep inside), and :class:`ArgumentTypeError` for an argument of the wrong type.

Messages read ``seed must be at least 0, got -1 (--seed)``: the argument, the rule, the value, and
the command line's option where there is one.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from archsweep._core import ArchsweepError
from archsweep.units import big_int

#: The largest value of a u64 argument of the core (seed, batch, ids).
U64_MAX = 2**64 - 1


class ArgumentTypeError(ArchsweepError, TypeError):
    """An argument of the wrong type: a float or a string where an integer belongs, a number
    where a string belongs, a string where a list of names belongs. Both an
    :class:`ArchsweepError` (so a ``ValueError``) and a ``TypeError``: ``except`` either catches it."""


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, safe for any value: an integer of thousands of digits is shown by its
    magnitude, a long text is cut."""
    if isinstance(value, int) and not isinstance(value, bool):
        return big_int(value).replace(",", "")
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ of a caller's object  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _at(flag: str | None) -> str:
    return f" ({flag})" if flag else ""


def _got(value: Any) -> str:
    """``the float 1.5``, ``the str '10'``: a wrong value with its type."""
    return "None" if value is None else f"the {type(value).__name__} {show(value)}"


def is_bool(value: Any) -> bool:
    """A Python or a numpy boolean (``numpy.bool_``, named ``bool`` since numpy 2)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))


def _bound(n: int) -> str:
    return "2**64 - 1 = 18446744073709551615" if n == U64_MAX else f"{n:,}"


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None, flag: str | None = None,
            hint: str = "") -> int:
    """``value`` as an int (a Python int or anything with ``__index__``, such as a numpy integer;
    never a bool, a float or a string) within ``[low, high]``. Messages read ``seed must be at
    least 0, got -1 (--seed)``: the argument, the rule, the value, the command line's option."""
    if is_bool(value):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r}{_at(flag)}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an integer, got {_got(value)}{_at(flag)}") from None
    if low is not None and n < low:
        raise ArchsweepError(f"{name} must be at least {_bound(low)}{hint}, got {show(n)}{_at(flag)}")
    if high is not None and n > high:
        raise ArchsweepError(f"{name} must be at most {_bound(high)}{hint}, got {show(n)}{_at(flag)}")
    return n


def optional_integer(value: Any, name: str, **kw: Any) -> int | None:
    return None if value is None else integer(value, name, **kw)


def text(value: Any, name: str, *, flag: str | None = None) -> str:
    """``value`` as a str."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a string, got {_got(value)}{_at(flag)}")
    return value


def optional_text(value: Any, name: str, *, flag: str | None = None) -> str | None:
    """``value`` as a str, or None."""
    return None if value is None else text(value, name, flag=flag)


def pair(value: Any, name: str, *, flag: str | None = None, example: str = "(0, 10)") -> tuple[int, int] | None:
    """``None`` or two integers."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ArgumentTypeError(f"{name} must be a pair of integers such as {example}, got {_got(value)}{_at(flag)}")
    a, b = (integer(v, f"{name}[{i}]", flag=flag) for i, v in enumerate(value))
    return a, b


def names(value: Any, name: str, *, example: str = "['params', 'macs']") -> list[str]:
    """A list of column names (a list or tuple of strings; a single string is refused, not split
    into its letters)."""
    if isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a list of column names, got the string {value!r} (write {name}=[{value!r}])")
    if not isinstance(value, Sequence):
        raise ArgumentTypeError(f"{name} must be a list of column names such as {example}, got {_got(value)}")
    out = list(value)
    for i, v in enumerate(out):
        if not isinstance(v, str):
            raise ArgumentTypeError(f"{name}[{i}] must be a column name (a string), got {_got(v)}")
    return out
