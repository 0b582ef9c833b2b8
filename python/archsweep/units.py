"""Human-readable numbers. Tables keep raw integers; only what is printed for people is
rounded, and sizes always show binary (MiB, 2**20) and decimal (MB, 10**6) units side by side."""

from __future__ import annotations

#: A table printed for people shows at most this many rows (``--rows``; archsweep.render.MAX_ROWS).
TABLE_ROWS = 500

_BINARY = [(2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")]
_DECIMAL = [(10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")]
_COUNT = [(10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")]


def _scaled(n: int, table: list[tuple[int, str]], unit: str, digits: int = 1) -> str:
    for size, name in table:
        if n >= size:
            return f"{n / size:.{digits}f} {name}"
    return f"{n} {unit}".rstrip()


def mib(n: int) -> str:
    """``553430176 -> '527.8 MiB'`` (binary units)."""
    return _scaled(n, _BINARY, "B")


def mb(n: int) -> str:
    """``553430176 -> '553.4 MB'`` (decimal units)."""
    return _scaled(n, _DECIMAL, "B")


def human_bytes(n: int) -> str:
    """``553430176 -> '527.8 MiB (553.4 MB)'``: both units, never one alone."""
    if n < 1000:
        return f"{n} B"
    return f"{mib(n)} ({mb(n)})"


def human_count(n: int, digits: int = 2) -> str:
    """``138357544 -> '138.36 M'``, ``15470264320 -> '15.47 G'``."""
    return _scaled(n, _COUNT, "", digits)


def commas(n: int) -> str:
    return f"{n:,}"


def axis_unit(largest: float, binary: bool) -> tuple[int, str, str]:
    """The unit for an axis whose values reach ``largest``: ``(divisor, name, convention)``,
    e.g. ``(2**20, 'MiB', '2^20 B')`` for bytes (``binary``), ``(10**9, 'G', '10^9')`` for counts:
    the largest unit not above ``largest``."""
    for size, name in _BINARY if binary else _COUNT:
        if largest >= size:
            power = f"2^{size.bit_length() - 1} B" if binary else f"10^{len(str(size)) - 1}"
            return size, name, power
    return (1, "B", "bytes") if binary else (1, "", "")


#: Integers of more digits than this are printed as a mantissa and a power of ten (Python refuses
#: to turn an int of more than 4,300 digits into text at all).
EXACT_DIGITS = 60


def decimal_digits(n: int) -> int:
    """The number of decimal digits of ``abs(n)`` (1 for 0), without turning it into text."""
    n = abs(n)
    if n < 10:
        return 1
    d = int((n.bit_length() - 1) * 0.30102999566398120) + 1  # a lower bound, off by at most one
    return d + 1 if n >= 10**d else d


def big_int(n: int, exact: int = EXACT_DIGITS) -> str:
    """``n`` with thousands separators, or, beyond ``exact`` digits, ``'1.23 × 10^30102'``."""
    digits = decimal_digits(n)
    if digits <= exact:
        return f"{n:,}"
    lead = abs(n) // 10 ** (digits - 3)  # the first three digits
    return f"{'-' if n < 0 else ''}{lead // 100}.{lead % 100:02d} × 10^{digits - 1}"


def magnitude(n: int) -> str:
    """``'10^30102'``: the power of ten of ``n``'s leading digit."""
    return f"10^{decimal_digits(n) - 1}"


def parse_int(text: str) -> int:
    """``int(text)`` for a decimal text of any length (Python's ``int`` refuses more than 4,300
    digits unless a process-wide limit is raised)."""
    if len(text) <= 4000:
        return int(text)
    half = len(text) // 2
    low = text[half:]
    return parse_int(text[:half]) * 10 ** len(low) + parse_int(low)
