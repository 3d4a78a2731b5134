"""OSI option symbols: parse and format, one at a time or a whole Arrow column at once.

The Options Symbology Initiative (OCC, 2010) names a listed option with 21 characters::

    ROOT__ YYMMDD C|P SSSSSPPP
    IWM   191018C00100000      (padded: root left-justified in 6 characters)
    SPXW230915C04500000        (compact: the same without the padding)

* ``ROOT``: the option root, 1 to 6 upper-case letters or digits (SPXW, NDXP, VIXW, ``AAPL1``
  for an adjusted contract, BRKB). It starts with a letter. It may differ from the underlying
  (:func:`chainlens.conventions.underlying_of_root`).
* ``YYMMDD``: the expiration date; the year is ``2000 + YY`` (OSI dates from 2010 onward).
* ``C`` or ``P``: the right.
* ``SSSSSPPP``: the strike times 1000, 8 digits, zero-padded (``04500000`` is 4500.000,
  ``00002500`` is 2.5). Strikes are therefore multiples of 0.001 in ``(0, 99999.999]``.

Both forms are accepted by the parsers; the formatters write the compact form unless asked
for ``padded=True`` (the canonical tables store the compact form, see ``schema.CHAIN``).

The array functions use Arrow compute kernels (one regular expression over the column) and
NumPy; they never loop in Python over rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import InputError

if TYPE_CHECKING:
    from chainlens._typing import Right

__all__ = [
    "OSI_PATTERN",
    "OsiSymbol",
    "format_osi",
    "format_osi_array",
    "parse_osi",
    "parse_osi_array",
]

#: The OSI symbol as a regular expression (both forms; the padding is checked separately).
OSI_PATTERN = (
    r"^(?P<root>[A-Z][A-Z0-9]{0,5})(?P<pad> *)(?P<ymd>[0-9]{6})(?P<right>[CP])(?P<strike>[0-9]{8})$"
)

_ROOT_WIDTH = 6
_STRIKE_SCALE = 1000
_STRIKE_MAX_UNITS = 99_999_999
#: A strike is representable when ``strike * 1000`` is within this of an integer.
_STRIKE_TOL_UNITS = 1e-6

_R_NULL = "symbol is null"
_R_SHAPE = (
    "not an OSI symbol: expected ROOT (1-6 letters/digits, starting with a letter), "
    "optionally space-padded to 6, then YYMMDD, C or P, and the strike*1000 in 8 digits"
)
_R_PAD = "space-padded OSI symbol must be 21 characters (root padded to 6)"
_R_DATE = "invalid expiration date in OSI symbol"
_R_STRIKE = "strike must be > 0"


@dataclass(frozen=True, slots=True)
class OsiSymbol:
    """One parsed OSI symbol.

    Attributes
    ----------
    root
        Option root as listed (``SPXW``, ``AAPL1``).
    expiry
        Expiration date.
    right
        ``"C"`` or ``"P"``.
    strike
        Strike in USD per share (``strike_units / 1000``).
    """

    root: str
    expiry: dt.date
    right: Right
    strike: float

    @property
    def strike_units(self) -> int:
        """Strike in thousandths of a dollar, the integer written in the symbol."""
        return round(self.strike * _STRIKE_SCALE)

    def format(self, *, padded: bool = False) -> str:
        """The symbol as text (compact, or space-padded to 21 characters)."""
        return format_osi(self.root, self.expiry, self.right, self.strike, padded=padded)

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------------------------
# scalar


def parse_osi(symbol: str) -> OsiSymbol:
    """Parse one OSI symbol, compact or space-padded.

    Parameters
    ----------
    symbol
        ``SPXW230915C04500000`` or ``IWM   191018C00100000``. Surrounding white space is
        ignored; letters must be upper case.

    Returns
    -------
    OsiSymbol

    Raises
    ------
    InputError
        With the rule broken (shape, padding, date, strike) and the offending value.

    Examples
    --------
    >>> parse_osi("SPXW230915C04500000")
    OsiSymbol(root='SPXW', expiry=datetime.date(2023, 9, 15), right='C', strike=4500.0)
    >>> parse_osi("IWM   191018P00152500").strike
    152.5
    """
    import re

    if not isinstance(symbol, str):
        raise InputError(_R_NULL if symbol is None else "symbol must be text", value=symbol)
    s = symbol.strip()
    m = re.match(OSI_PATTERN, s)
    if m is None:
        raise InputError(_R_SHAPE, column="symbol", value=symbol)
    root, pad, ymd, right, strike = m.group("root", "pad", "ymd", "right", "strike")
    if pad and len(root) + len(pad) != _ROOT_WIDTH:
        raise InputError(_R_PAD, column="symbol", value=symbol)
    try:
        expiry = dt.date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    except ValueError:
        raise InputError(_R_DATE, column="symbol", value=symbol) from None
    units = int(strike)
    if units <= 0:
        raise InputError(_R_STRIKE, column="symbol", value=symbol)
    return OsiSymbol(root, expiry, right, units / _STRIKE_SCALE)  # type: ignore[arg-type]


def _check_root(root: object) -> str:
    import re

    if not isinstance(root, str) or re.fullmatch(r"[A-Z][A-Z0-9]{0,5}", root) is None:
        raise InputError(
            "root must be 1-6 upper-case letters or digits, starting with a letter",
            column="root",
            value=root,
        )
    return root


def _strike_units(strike: object) -> int:
    try:
        x = float(strike) * _STRIKE_SCALE  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError("strike must be a number", column="strike", value=strike) from None
    if not np.isfinite(x) or x <= 0:
        raise InputError("strike must be a finite number > 0", column="strike", value=strike)
    units = round(x)
    if abs(x - units) > _STRIKE_TOL_UNITS or units < 1:
        raise InputError(
            "strike is not a multiple of 0.001 (OSI writes strike*1000 as an integer)",
            column="strike",
            value=strike,
        )
    if units > _STRIKE_MAX_UNITS:
        raise InputError(
            "strike above 99999.999 cannot be written in OSI", column="strike", value=strike
        )
    return units


def format_osi(
    root: str,
    expiry: dt.date,
    right: str,
    strike: float,
    *,
    padded: bool = False,
) -> str:
    """Write one OSI symbol.

    Parameters
    ----------
    root
        Option root, 1-6 upper-case letters/digits starting with a letter.
    expiry
        Expiration date, years 2000-2099.
    right
        ``"C"`` or ``"P"``.
    strike
        Strike in USD; must be a multiple of 0.001 in ``(0, 99999.999]``.
    padded
        Pad the root with spaces to 6 characters (the 21-character form).

    Raises
    ------
    InputError
        Naming the field that cannot be written.

    Examples
    --------
    >>> import datetime as dt
    >>> format_osi("SPXW", dt.date(2023, 9, 15), "C", 4500)
    'SPXW230915C04500000'
    >>> format_osi("IWM", dt.date(2019, 10, 18), "C", 100, padded=True)
    'IWM   191018C00100000'
    """
    _check_root(root)
    if right not in ("C", "P"):
        raise InputError("right must be 'C' or 'P'", column="right", value=right)
    if isinstance(expiry, dt.datetime) or not isinstance(expiry, dt.date):
        raise InputError("expiry must be a datetime.date", column="expiry", value=expiry)
    if not 2000 <= expiry.year <= 2099:
        raise InputError("expiry year must be within 2000-2099", column="expiry", value=expiry)
    units = _strike_units(strike)
    head = root.ljust(_ROOT_WIDTH) if padded else root
    return f"{head}{expiry:%y%m%d}{right}{units:08d}"


# --------------------------------------------------------------------------------------------
# vectorized


def _as_string_array(arr: pa.Array | pa.ChunkedArray | object) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    elif not isinstance(arr, pa.Array):
        arr = pa.array(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if not pa.types.is_string(arr.type):
        if pa.types.is_null(arr.type):
            return arr.cast(pa.string())
        raise InputError(f"OSI symbols must be strings, got Arrow type {arr.type}", column="symbol")
    return arr


def parse_osi_array(arr: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Parse a column of OSI symbols without a Python loop per row.

    Parameters
    ----------
    arr
        Arrow string array (chunked, large or dictionary-encoded is accepted). Leading and
        trailing white space is ignored.

    Returns
    -------
    pyarrow.Table
        One row per input row, with columns ``root`` (string), ``expiry`` (date32), ``right``
        (string), ``strike`` (float64, USD), ``valid`` (bool) and ``reason`` (string, null
        where valid). Invalid rows carry nulls in the four value columns and the rule
        broken in ``reason`` (the same texts :func:`parse_osi` raises).

    Notes
    -----
    One ``extract_regex`` over the column gives the fields; the padding, the calendar date
    (``2000 + YY``, month 1-12, day within the month) and ``strike > 0`` are then checked with
    NumPy on the integer fields.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = parse_osi_array(pa.array(["SPXW230915C04500000", "bad"]))
    >>> t.column("strike").to_pylist(), t.column("valid").to_pylist()
    ([4500.0, None], [True, False])
    """
    a = _as_string_array(arr)
    n = len(a)
    a = pc.utf8_trim_whitespace(a)
    if a.offset:
        a = pa.concat_arrays([a])  # rebase so the buffers start at row 0
    isnull = np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    matched = np.asarray(
        pc.fill_null(pc.match_substring_regex(a, OSI_PATTERN), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )

    # The last 15 characters are fixed: YYMMDD, C|P, 8 strike digits. For matched rows they
    # are ASCII, so read them straight from the UTF-8 data buffer (one gather per position).
    digits = _tail_bytes(a, matched, n)
    yy = digits[0] * 10 + digits[1]
    mm = digits[2] * 10 + digits[3]
    dd = digits[4] * 10 + digits[5]
    units = np.zeros(n, dtype=np.int64)
    for k in range(7, _TAIL):  # 8 strike digits (a loop over positions, not rows)
        units = units * 10 + digits[k]

    head = pc.utf8_slice_codeunits(a, 0, -_TAIL)
    root = pc.utf8_rtrim(head, characters=" ")
    head_len = np.asarray(pc.fill_null(pc.utf8_length(head), 0).to_numpy(zero_copy_only=False))
    root_len = np.asarray(pc.fill_null(pc.utf8_length(root), 0).to_numpy(zero_copy_only=False))
    pad_ok = ~matched | (head_len == root_len) | (head_len == _ROOT_WIDTH)

    year = 2000 + yy
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (mm >= 1) & (mm <= 12)
    days_in_month = _DAYS_IN_MONTH[np.clip(mm, 1, 12) - 1] + (leap & (mm == 2))
    date_ok = ~matched | (month_ok & (dd >= 1) & (dd <= days_in_month))
    expiry_days = _days_from_civil(year, np.clip(mm, 1, 12), dd)
    strike_ok = ~matched | (units > 0)

    valid = matched & pad_ok & date_ok & strike_ok
    # Reason codes (-1 = valid); later assignments win, so the most basic rule goes last.
    code = np.full(n, -1, dtype=np.int32)
    code[~strike_ok] = 4
    code[~date_ok] = 3
    code[~pad_ok] = 2
    code[~matched] = 1
    code[isnull] = 0
    reasons = pa.array([_R_NULL, _R_SHAPE, _R_PAD, _R_DATE, _R_STRIKE], pa.string())
    reason = reasons.take(pa.array(code, mask=valid))

    invalid = ~valid
    right_code = digits[6] + ord("0")  # undo the digit offset: 'C' or 'P' as a byte
    return pa.table(
        {
            "root": pc.if_else(pa.array(invalid), pa.scalar(None, pa.string()), root),
            "expiry": pa.array(expiry_days.astype(np.int32), pa.date32(), mask=invalid),
            "right": _RIGHTS.take(pa.array((right_code == ord("P")).astype(np.int8), mask=invalid)),
            "strike": pa.array(units / _STRIKE_SCALE, pa.float64(), mask=invalid),
            "valid": pa.array(valid, pa.bool_()),
            "reason": reason,
        }
    )


_TAIL = 15
_RIGHTS = pa.array(["C", "P"], pa.string())


def _tail_bytes(a: pa.Array, matched: np.ndarray, n: int) -> list[np.ndarray]:
    """The last 15 bytes of each row as ``byte - ord('0')`` (int64).

    Only meaningful where ``matched`` (rows the OSI pattern accepted, hence ASCII and at
    least 16 characters long); other rows read from position 0 and must be masked by callers.
    """
    if not matched.any():
        return [np.zeros(n, dtype=np.int64) for _ in range(_TAIL)]
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int32)[: n + 1]
    data = np.frombuffer(a.buffers()[2], dtype=np.uint8)
    base = np.where(matched, offsets[1:] - _TAIL, 0)
    return [data[base + k].astype(np.int64) - ord("0") for k in range(_TAIL)]


_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant, "chrono-compatible
    low-level date algorithms", ``days_from_civil``), vectorized over int64 arrays."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`_days_from_civil` (H. Hinnant's ``civil_from_days``): year, month,
    day of each day count since 1970-01-01."""
    z = z + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + np.where(mp < 10, 3, -9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _yymmdd(days: np.ndarray) -> np.ndarray:
    """``YYMMDD`` as an integer per day count; computed once per calendar day in range."""
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1, dtype=np.int64)
    y, m, d = _civil_from_days(span)
    return ((y - 2000) * 10_000 + m * 100 + d)[days - lo]


def _col(x: object, name: str) -> pa.Array:
    if isinstance(x, pa.ChunkedArray):
        return x.combine_chunks()
    if isinstance(x, pa.Array):
        return x
    return pa.array(np.asarray(x) if not isinstance(x, list) else x)


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def format_osi_array(
    root: pa.Array | pa.ChunkedArray | object,
    expiry: pa.Array | pa.ChunkedArray | object,
    right: pa.Array | pa.ChunkedArray | object,
    strike: pa.Array | pa.ChunkedArray | object,
    *,
    padded: bool = False,
    strict: bool = True,
) -> pa.Array:
    """Write a column of OSI symbols without a Python loop per row.

    Parameters
    ----------
    root, right
        String arrays (Arrow or NumPy); a scalar string is broadcast.
    expiry
        Dates: Arrow ``date32``/``date64``/timestamp, or NumPy ``datetime64``.
    strike
        Strikes in USD (float); each a multiple of 0.001 in ``(0, 99999.999]``.
    padded
        Pad roots with spaces to 6 characters.
    strict
        ``True``: raise at the first row that cannot be written. ``False`` (ingest): never
        raise for a row; such a row is written as given with strike digits ``00000000`` (a
        strike that is not finite or outside ``[0, 99999.999]``) or is null (a null input),
        so the adapters' OSI validation rejects it later, naming the column.

    Returns
    -------
    pyarrow.Array
        ``string``, one symbol per row.

    Raises
    ------
    InputError
        At the first row (0-based ``row``) whose root, right, expiry or strike cannot be
        written, or a null in any input.

    Examples
    --------
    >>> import datetime as dt, pyarrow as pa
    >>> format_osi_array(["SPXW", "IWM"], pa.array([dt.date(2023, 9, 15), dt.date(2019, 10, 18)]),
    ...                  ["C", "P"], [4500.0, 152.5]).to_pylist()
    ['SPXW230915C04500000', 'IWM191018P00152500']
    """
    s = np.asarray(_col(strike, "strike").cast(pa.float64()).to_numpy(zero_copy_only=False))
    n = len(s)

    def _strs(x: object, name: str) -> pa.Array:
        if isinstance(x, str):
            return pa.array([x] * 1, pa.string()).take(np.zeros(n, dtype=np.int64))
        return _as_string_array(_col(x, name))

    r, rt = _strs(root, "root"), _strs(right, "right")
    e = _col(expiry, "expiry")
    if pa.types.is_timestamp(e.type) or pa.types.is_date64(e.type):
        e = (
            e.cast(pa.timestamp("s")).cast(pa.date32())
            if pa.types.is_timestamp(e.type)
            else e.cast(pa.date32())
        )
    if not pa.types.is_date32(e.type):
        raise InputError(f"expiry must be dates, got Arrow type {e.type}", column="expiry")
    if not (len(r) == len(rt) == len(e) == n):
        raise InputError("root, expiry, right and strike must have the same length")
    if not strict:
        return _format_lenient(r, e, rt, s, padded)

    for name, col in (("root", r), ("right", rt), ("expiry", e)):
        if col.null_count:
            row = _first_bad(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))
            raise InputError(f"{name} is null", row=row, column=name)
    root_ok = np.asarray(
        pc.match_substring_regex(r, r"^[A-Z][A-Z0-9]{0,5}$").to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    if not root_ok.all():
        row = _first_bad(~root_ok)
        raise InputError(
            "root must be 1-6 upper-case letters or digits, starting with a letter",
            row=row,
            column="root",
            value=r[row].as_py(),
        )
    right_ok = np.asarray(
        pc.is_in(rt, pa.array(["C", "P"])).to_numpy(zero_copy_only=False), dtype=bool
    )
    if not right_ok.all():
        row = _first_bad(~right_ok)
        raise InputError("right must be 'C' or 'P'", row=row, column="right", value=rt[row].as_py())

    days = np.asarray(e.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)
    years = (days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)) + 1970
    year_ok = (years >= 2000) & (years <= 2099)
    if not year_ok.all():
        row = _first_bad(~year_ok)
        raise InputError(
            "expiry year must be within 2000-2099", row=row, column="expiry", value=e[row].as_py()
        )

    with np.errstate(invalid="ignore", over="ignore"):
        x = s * _STRIKE_SCALE
        units = np.rint(np.where(np.isfinite(x), x, 0.0))
        strike_ok = (
            np.isfinite(x)
            & (units >= 1)
            & (units <= _STRIKE_MAX_UNITS)
            & (np.abs(x - units) <= _STRIKE_TOL_UNITS)
        )
    if not strike_ok.all():
        row = _first_bad(~strike_ok)
        raise InputError(
            "strike must be a multiple of 0.001 in (0, 99999.999]",
            row=row,
            column="strike",
            value=float(s[row]),
        )

    if padded:
        r = pc.utf8_rpad(r, width=_ROOT_WIDTH, padding=" ")
    ymd = pc.utf8_lpad(pa.array(_yymmdd(days)).cast(pa.string()), width=6, padding="0")
    strike_txt = pc.utf8_lpad(
        pa.array(units.astype(np.int64)).cast(pa.string()), width=8, padding="0"
    )
    return pc.binary_join_element_wise(r, ymd, rt, strike_txt, "")


def _format_lenient(
    r: pa.Array, e: pa.Array, rt: pa.Array, s: np.ndarray, padded: bool
) -> pa.Array:
    """:func:`format_osi_array` with ``strict=False``: the same digits for every writable row;
    no row raises (see there)."""
    with np.errstate(invalid="ignore", over="ignore"):
        units = np.rint(s * _STRIKE_SCALE)
        fits = np.isfinite(units) & (units >= 0) & (units <= _STRIKE_MAX_UNITS)
    k = np.where(fits, units, 0.0).astype(np.int64)
    strike_txt = pc.utf8_lpad(pa.array(k).cast(pa.string()), width=8, padding="0")
    ymd = pc.strftime(pc.cast(e, pa.timestamp("s")), format="%y%m%d")
    if padded:
        r = pc.utf8_rpad(r, width=_ROOT_WIDTH, padding=" ")
    return pc.binary_join_element_wise(r, ymd, rt, strike_txt, "")
