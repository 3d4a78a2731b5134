"""Trading sessions, settlement instants and expiry classes.

Built on ``exchange_calendars`` ("XNYS"): Cboe index and equity options follow the NYSE
holiday and early-close schedule, and the underlying's close is what PM-settled contracts
settle on. The calendar is built once, lazily, on first use (importing this module does not
import ``exchange_calendars``), and spans :data:`CALENDAR_START` to :data:`CALENDAR_END` so
that LEAPS expiries resolve; a date outside raises :class:`~chainlens.errors.InputError`.

Conventions
-----------
* Dates are session dates (``datetime.date`` for scalars, ``numpy.datetime64[D]`` arrays).
  Instants are UTC: timezone-aware ``datetime`` for scalars, ``datetime64[ns]`` arrays holding
  UTC (NumPy has no time zone).
* Scalar in, scalar out; array in (list, NumPy, Arrow), NumPy array out.
* Settlement (SPEC "Conventions", ``conventions.AM_SETTLE_TIME``/``PM_SETTLE_TIME``):
  AM-settled roots settle at 09:30 ET on expiry day, PM-settled ones at 16:00 ET or at that
  day's early close (13:00 ET).
* An expiry date that is not a session (a holiday Friday, or the legacy Saturday expiry dates
  of pre-2015 OSI symbols) settles on the last session before it: AM at that session's 09:30
  ET, PM at its close. This is the OCC rule (the expiration moves to the preceding business
  day); Cboe usually lists such expiries on the shifted day already (SPXW ``230406`` for Good
  Friday 2023-04-07).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from chainlens.conventions import (
    AM_SETTLE_TIME,
    AM_SETTLED_ROOTS,
    EXCHANGE_TZ,
    PM_SETTLE_TIME,
)
from chainlens.errors import InputError

if TYPE_CHECKING:
    from chainlens._typing import Settlement

__all__ = [
    "CALENDAR_END",
    "CALENDAR_NAME",
    "CALENDAR_START",
    "LEAPS_MIN_DAYS",
    "Phase",
    "SnapshotSession",
    "expiry_class",
    "is_early_close",
    "is_session",
    "next_session",
    "previous_session",
    "session_close",
    "session_of_snapshot",
    "session_on_or_before",
    "session_open",
    "sessions_in_range",
    "sessions_of_snapshots",
    "settlement_instant",
    "settlement_instants",
    "settlement_of_root",
    "standard_monthly_expiry",
    "third_friday",
    "vix_monthly_expiry",
]

#: The exchange calendar used for every session question.
CALENDAR_NAME = "XNYS"
#: Span of the lazily built calendar (inclusive). Far enough out for LEAPS.
CALENDAR_START = dt.date(2000, 1, 1)
CALENDAR_END = dt.date(2035, 12, 31)
#: An expiry more than this many calendar days after the session is a LEAPS.
LEAPS_MIN_DAYS = 365

#: Roots whose monthly cycle is the VIX one (Wednesday 30 days before the next month's SPX
#: third Friday) rather than the third Friday.
_VIX_ROOTS = frozenset({"VIX", "VIXW"})

Phase = Literal["pre_open", "intraday", "after_close"]

_NS_PER_DAY = 86_400 * 10**9
_EPOCH_D = np.datetime64(0, "D")


@dataclass(frozen=True, slots=True)
class SnapshotSession:
    """The session a snapshot belongs to, and where in that session's life it was taken.

    Attributes
    ----------
    session
        The session whose quotes the snapshot shows.
    phase
        * ``"intraday"``: taken while ``session`` was open (open <= t < close).
        * ``"after_close"``: taken after ``session`` closed, on that day or on the following
          non-session days (evening, weekend, holiday). An end-of-day snapshot.
        * ``"pre_open"``: taken on the next session's day before it opened (e.g. 05:00 ET on
          a Monday for Friday's session). Still an end-of-day snapshot of ``session``, but the
          OI it carries may already be the overnight OCC update (SOURCES.md).
    """

    session: dt.date
    phase: Phase

    @property
    def is_intraday(self) -> bool:
        """True for a snapshot taken while the session was open."""
        return self.phase == "intraday"


@dataclass(frozen=True, slots=True)
class _Cal:
    days: np.ndarray  # int64 days since epoch, one per session, ascending
    opens: np.ndarray  # int64 ns UTC
    closes: np.ndarray  # int64 ns UTC
    midnights: np.ndarray  # int64 ns UTC of 00:00 ET on each session day


def _local_to_utc_ns(days: np.ndarray, t: dt.time) -> np.ndarray:
    """UTC ns of local (ET) wall time ``t`` on each day (int64 days since epoch)."""
    import pandas as pd

    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = np.timedelta64(t.hour * 3600 + t.minute * 60 + t.second, "s")
    naive = days.astype("datetime64[D]") + offset
    idx = pd.DatetimeIndex(naive.astype("datetime64[ns]")).tz_localize(EXCHANGE_TZ)
    return np.asarray(idx.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8, dtype=np.int64)


def _session_local_ns(k: np.ndarray, t: dt.time) -> np.ndarray:
    """UTC ns of local (ET) wall time ``t`` on the sessions with calendar indices ``k``.

    Exact without a time-zone library: US daylight-saving switches happen at 02:00 on Sundays,
    never on a session day, so ``t`` is ``t`` seconds after that session's local midnight.
    """
    secs = t.hour * 3600 + t.minute * 60 + t.second
    return _cal().midnights[k] + np.int64(secs) * 10**9


def _cache_path() -> Path | None:
    """Where the built calendar arrays are cached, keyed by the exchange_calendars version."""
    try:
        from importlib.metadata import version

        xc_version = version("exchange_calendars")
    except Exception:  # pragma: no cover - metadata missing
        return None
    root = os.environ.get("CHAINLENS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "chainlens",
    )
    name = f"{CALENDAR_NAME}-{CALENDAR_START}-{CALENDAR_END}-xc{xc_version}-v1.npz"
    return Path(root) / name


def _build_cal() -> _Cal:
    import exchange_calendars as xc

    # exchange_calendars 4.13 trips pandas 3 deprecation warnings while it builds; they are
    # its business, not ours (pytest turns warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        c = xc.get_calendar(
            CALENDAR_NAME, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
        sched = c.schedule
    days = (sched.index.values.astype("datetime64[D]") - _EPOCH_D).astype(np.int64)
    opens = np.asarray(sched["open"].dt.tz_convert("UTC").dt.tz_localize(None).values)
    closes = np.asarray(sched["close"].dt.tz_convert("UTC").dt.tz_localize(None).values)
    return _Cal(
        days=days,
        opens=opens.astype("datetime64[ns]").astype(np.int64),
        closes=closes.astype("datetime64[ns]").astype(np.int64),
        midnights=_local_to_utc_ns(days, dt.time(0, 0)),
    )


@functools.cache
def _cal() -> _Cal:
    """The session table, built from exchange_calendars once and cached on disk.

    Building it costs about 0.4 s of CPU (pandas + exchange_calendars), which dominated the
    start-up of ``chainlens analyze``. The four int64 arrays are cached under
    ``$CHAINLENS_CACHE_DIR`` (default ``~/.cache/chainlens``), keyed by the exchange_calendars
    version and the calendar span; a missing, unreadable or unwritable cache only means
    the table is rebuilt.
    """
    path = _cache_path()
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                cal = _Cal(
                    days=z["days"], opens=z["opens"], closes=z["closes"], midnights=z["midnights"]
                )
            if len(cal.days) == len(cal.opens) == len(cal.closes) == len(cal.midnights) > 0:
                return cal
        except Exception:  # corrupt cache: rebuild below
            pass
    cal = _build_cal()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.savez(
                    fh, days=cal.days, opens=cal.opens, closes=cal.closes, midnights=cal.midnights
                )
            os.replace(tmp, path)
        except OSError:
            pass
    return cal


# --------------------------------------------------------------------------------------------
# input conversion


def _is_scalar(x: object) -> bool:
    return isinstance(x, str | dt.date | np.datetime64) or np.ndim(x) == 0  # type: ignore[arg-type]


def _to_days(x: Any, name: str = "date") -> tuple[np.ndarray, bool]:
    """Dates (scalar or array-like) as int64 days since 1970-01-01, and whether scalar."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        pa = None
    if pa is not None and isinstance(x, pa.ChunkedArray | pa.Array):
        if isinstance(x, pa.ChunkedArray):
            x = x.combine_chunks()
        if x.null_count:
            row = int(np.flatnonzero(np.asarray(x.is_null().to_numpy(zero_copy_only=False)))[0])
            raise InputError(f"{name} is null", row=row, column=name)
        if pa.types.is_timestamp(x.type):
            arr = x.to_numpy(zero_copy_only=False).astype("datetime64[D]")
        elif pa.types.is_date(x.type):
            arr = x.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
        else:
            raise InputError(f"{name} must be dates, got Arrow type {x.type}", column=name)
        return (arr - _EPOCH_D).astype(np.int64), False
    scalar = _is_scalar(x)
    try:
        if isinstance(x, dt.datetime):
            x = x.date()
        arr = np.asarray(x if not scalar else [x])
        try:
            with warnings.catch_warnings():
                # NumPy warns (and converts to UTC) for timezone-aware datetimes
                warnings.simplefilter("error", UserWarning)
                arr = arr.astype("datetime64[D]")
        except (ValueError, UserWarning):
            if arr.dtype != object:
                raise
            # timezone-aware datetimes: their local calendar date
            arr = np.array(
                [v.date() if isinstance(v, dt.datetime) else v for v in arr.ravel()],
                dtype="datetime64[D]",
            )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not a date ({exc})", column=name, value=x) from None
    if np.isnat(arr).any():
        row = int(np.flatnonzero(np.isnat(arr))[0])
        raise InputError(f"{name} is missing (NaT)", row=None if scalar else row, column=name)
    return (arr.ravel() - _EPOCH_D).astype(np.int64), scalar


def _check_range(days: np.ndarray, name: str) -> None:
    cal = _cal()
    lo = (np.datetime64(CALENDAR_START, "D") - _EPOCH_D).astype(np.int64)
    hi = (np.datetime64(CALENDAR_END, "D") - _EPOCH_D).astype(np.int64)
    bad = (days < lo) | (days > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name} outside the trading calendar ({CALENDAR_START} to {CALENDAR_END})",
            column=name,
            value=_day_to_date(days[i]),
        )
    del cal


def _unique_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(days, return_inverse=True)`` in O(n) (no sort) when the span is small,
    as it is for expiries (days within a few decades)."""
    lo, hi = int(days.min()), int(days.max())
    if hi - lo > 200_000:
        return np.unique(days, return_inverse=True)
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[days - lo] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) + lo, rank[days - lo]


def _day_to_date(day: np.integer | int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _days_out(days: np.ndarray, scalar: bool) -> Any:
    if scalar:
        return _day_to_date(days[0])
    return days.astype("datetime64[D]")


def _ns_out(ns: np.ndarray, scalar: bool) -> Any:
    if scalar:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            microseconds=int(ns[0]) // 1000
        )
    return ns.astype("datetime64[ns]")


def _session_index(days: np.ndarray, name: str) -> np.ndarray:
    """Index of each day in the session list; InputError if a day is not a session."""
    cal = _cal()
    _check_range(days, name)
    i = np.searchsorted(cal.days, days)
    ok = (i < len(cal.days)) & (cal.days[np.minimum(i, len(cal.days) - 1)] == days)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"{name} is not a {CALENDAR_NAME} session (weekend or holiday)",
            column=name,
            value=_day_to_date(days[k]),
        )
    return i


# --------------------------------------------------------------------------------------------
# sessions


def is_session(d: Any) -> Any:
    """Whether each date is a trading session of the NYSE calendar.

    Examples
    --------
    >>> import datetime as dt
    >>> is_session(dt.date(2023, 4, 7)), is_session(dt.date(2023, 4, 6))
    (False, True)
    """
    days, scalar = _to_days(d)
    _check_range(days, "date")
    cal = _cal()
    i = np.minimum(np.searchsorted(cal.days, days), len(cal.days) - 1)
    out = cal.days[i] == days
    return bool(out[0]) if scalar else out


def session_on_or_before(d: Any) -> Any:
    """The date itself when it is a session, else the last session before it.

    This is the effective expiration day of an expiry date (see module notes).

    Examples
    --------
    >>> import datetime as dt
    >>> session_on_or_before(dt.date(2023, 4, 7))
    datetime.date(2023, 4, 6)
    """
    days, scalar = _to_days(d)
    _check_range(days, "date")
    cal = _cal()
    i = np.searchsorted(cal.days, days, side="right") - 1
    if (i < 0).any():
        raise InputError("no session on or before the start of the calendar", column="date")
    return _days_out(cal.days[i], scalar)


def previous_session(d: Any) -> Any:
    """The last session strictly before each date (whether or not the date is a session).

    Examples
    --------
    >>> import datetime as dt
    >>> previous_session(dt.date(2023, 4, 10))
    datetime.date(2023, 4, 6)
    """
    days, scalar = _to_days(d)
    _check_range(days, "date")
    cal = _cal()
    i = np.searchsorted(cal.days, days, side="left") - 1
    if (i < 0).any():
        raise InputError("no session before the start of the calendar", column="date")
    return _days_out(cal.days[i], scalar)


def next_session(d: Any) -> Any:
    """The first session strictly after each date.

    Examples
    --------
    >>> import datetime as dt
    >>> next_session(dt.date(2023, 4, 6))
    datetime.date(2023, 4, 10)
    """
    days, scalar = _to_days(d)
    _check_range(days, "date")
    cal = _cal()
    i = np.searchsorted(cal.days, days, side="right")
    if (i >= len(cal.days)).any():
        raise InputError("no session after the end of the calendar", column="date")
    return _days_out(cal.days[i], scalar)


def sessions_in_range(start: Any, end: Any) -> np.ndarray:
    """Every session ``start <= s <= end`` as ``datetime64[D]`` (empty if ``end < start``).

    Examples
    --------
    >>> sessions_in_range("2023-04-05", "2023-04-10").astype(str).tolist()
    ['2023-04-05', '2023-04-06', '2023-04-10']
    """
    (s,), _ = _to_days(start, "start")
    (e,), _ = _to_days(end, "end")
    _check_range(np.array([s, e]), "date")
    cal = _cal()
    lo = np.searchsorted(cal.days, s, side="left")
    hi = np.searchsorted(cal.days, e, side="right")
    return cal.days[lo:hi].astype("datetime64[D]")


def session_open(d: Any) -> Any:
    """Opening instant (UTC) of each session; InputError for a date that is not a session.

    Examples
    --------
    >>> import datetime as dt
    >>> session_open(dt.date(2023, 9, 15)).isoformat()
    '2023-09-15T13:30:00+00:00'
    """
    days, scalar = _to_days(d)
    return _ns_out(_cal().opens[_session_index(days, "date")], scalar)


def session_close(d: Any) -> Any:
    """Closing instant (UTC) of each session: 16:00 ET, or 13:00 ET on early closes.

    Examples
    --------
    >>> import datetime as dt
    >>> session_close(dt.date(2023, 11, 24)).isoformat()
    '2023-11-24T18:00:00+00:00'
    """
    days, scalar = _to_days(d)
    return _ns_out(_cal().closes[_session_index(days, "date")], scalar)


def is_early_close(d: Any) -> Any:
    """Whether each session closes before the regular 16:00 ET.

    Examples
    --------
    >>> import datetime as dt
    >>> is_early_close(dt.date(2024, 7, 3)), is_early_close(dt.date(2024, 7, 5))
    (True, False)
    """
    days, scalar = _to_days(d)
    i = _session_index(days, "date")
    regular = _session_local_ns(i, PM_SETTLE_TIME)
    out = _cal().closes[i] < regular
    return bool(out[0]) if scalar else out


# --------------------------------------------------------------------------------------------
# snapshots


def _to_utc_ns(ts: Any) -> tuple[np.ndarray, bool]:
    """Instants as int64 ns UTC. Naive datetimes/datetime64 are taken as UTC."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        pa = None
    if pa is not None and isinstance(ts, pa.ChunkedArray | pa.Array):
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if not pa.types.is_timestamp(ts.type):
            raise InputError(f"timestamps expected, got Arrow type {ts.type}", column="ts")
        if ts.null_count:
            raise InputError("timestamp is null", column="ts")
        return np.asarray(ts.cast(pa.timestamp("ns", tz=ts.type.tz)).cast(pa.int64())), False
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return np.array([np.datetime64(ts, "ns").astype(np.int64)]), True
    if isinstance(ts, dt.date):
        raise InputError("a timestamp is needed, not a date", column="ts", value=ts)
    scalar = _is_scalar(ts)
    try:
        arr = np.asarray([ts] if scalar else ts)
        if arr.dtype.kind in "OUS":
            # text or Python objects, possibly with UTC offsets ("...Z", "+02:00")
            import pandas as pd

            idx = pd.to_datetime(pd.Index(arr.ravel()), utc=True)
            arr = np.asarray(idx.tz_localize(None).as_unit("ns").asi8).view("datetime64[ns]")
        arr = arr.astype("datetime64[ns]")
    except (TypeError, ValueError) as exc:
        raise InputError(f"not a timestamp ({exc})", column="ts", value=ts) from None
    if np.isnat(arr).any():
        raise InputError("timestamp is missing (NaT)", column="ts")
    return arr.astype(np.int64), scalar


_PHASES = np.array(["pre_open", "intraday", "after_close"])


def _snapshot_arrays(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cal = _cal()
    # Next session not yet closed at t.
    i = np.searchsorted(cal.closes, ns, side="right")
    if (i >= len(cal.days)).any():
        raise InputError(
            f"timestamp after the end of the trading calendar ({CALENDAR_END})", column="ts"
        )
    intraday = cal.opens[i] <= ns
    prev = i - 1
    if ((~intraday) & (prev < 0)).any():
        raise InputError(
            f"timestamp before the start of the trading calendar ({CALENDAR_START})", column="ts"
        )
    pre_open = (~intraday) & (ns >= cal.midnights[i])
    session_idx = np.where(intraday, i, prev)
    phase = np.where(intraday, 1, np.where(pre_open, 0, 2))
    return cal.days[session_idx], phase


def session_of_snapshot(ts_utc: Any) -> SnapshotSession:
    """The session a chain snapshot taken at ``ts_utc`` belongs to.

    Parameters
    ----------
    ts_utc
        The download instant: a timezone-aware ``datetime`` (any zone), or a naive
        ``datetime``/``datetime64``/ISO string read as UTC.

    Returns
    -------
    SnapshotSession
        During a session: that session, ``"intraday"``. After its close (same evening, or
        over a weekend or holiday): that session, ``"after_close"``. On a session day before
        the open: the previous session, ``"pre_open"``.

    Examples
    --------
    >>> import datetime as dt
    >>> from zoneinfo import ZoneInfo
    >>> et = ZoneInfo("America/New_York")
    >>> session_of_snapshot(dt.datetime(2023, 5, 13, 4, 33, tzinfo=et))
    SnapshotSession(session=datetime.date(2023, 5, 12), phase='after_close')
    >>> session_of_snapshot(dt.datetime(2023, 6, 9, 13, 40, tzinfo=et)).phase
    'intraday'
    """
    ns, _ = _to_utc_ns(ts_utc)
    days, phase = _snapshot_arrays(ns[:1])
    return SnapshotSession(_day_to_date(days[0]), str(_PHASES[phase[0]]))  # type: ignore[arg-type]


def sessions_of_snapshots(ts_utc: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :func:`session_of_snapshot` (e.g. the session of every trade).

    Returns
    -------
    session : numpy.ndarray
        ``datetime64[D]``.
    phase : numpy.ndarray
        ``"pre_open"``, ``"intraday"`` or ``"after_close"`` (``<U11``).
    """
    ns, scalar = _to_utc_ns(ts_utc)
    days, phase = _snapshot_arrays(ns)
    return days.astype("datetime64[D]"), _PHASES[phase]


# --------------------------------------------------------------------------------------------
# settlement


def settlement_of_root(root: Any) -> Any:
    """``"AM"`` for roots in ``conventions.AM_SETTLED_ROOTS`` (SPX, NDX, RUT, VIX...), else ``"PM"``.

    Accepts a string, a sequence/NumPy array (NumPy array out) or an Arrow string array
    (Arrow array out).

    Examples
    --------
    >>> settlement_of_root("SPX"), settlement_of_root("SPXW"), settlement_of_root("QQQ")
    ('AM', 'PM', 'PM')
    """
    if isinstance(root, str):
        return "AM" if root.strip().upper() in AM_SETTLED_ROOTS else "PM"
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(root, pa.ChunkedArray | pa.Array):
        if isinstance(root, pa.ChunkedArray):
            root = root.combine_chunks()
        if pa.types.is_dictionary(root.type):
            root = root.dictionary_decode()
        am = pc.is_in(root, value_set=pa.array(sorted(AM_SETTLED_ROOTS), root.type))
        out = pc.if_else(am, "AM", "PM")
        return pc.if_else(pc.is_null(root), pa.scalar(None, pa.string()), out)
    arr = np.asarray(root, dtype=str)
    return np.where(np.isin(arr, np.array(sorted(AM_SETTLED_ROOTS))), "AM", "PM")


def _eq_masks(x: Any, options: tuple[str, ...], n: int, name: str) -> tuple[np.ndarray, ...]:
    """Per option, a bool mask of the rows equal to it (Arrow compared in Arrow, no objects)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(x, str):
        return tuple(np.full(n, x == o) for o in options)
    if isinstance(x, pa.ChunkedArray | pa.Array):
        if isinstance(x, pa.ChunkedArray):
            x = x.combine_chunks()
        if pa.types.is_dictionary(x.type):
            x = x.dictionary_decode()
        if len(x) != n:
            raise InputError(f"expiry and {name} must have the same length", column=name)
        return tuple(
            np.asarray(pc.fill_null(pc.equal(x, o), False).to_numpy(zero_copy_only=False))
            for o in options
        )
    s = np.asarray(x).astype(str)
    if s.ndim == 0:
        s = np.full(n, s.item())
    if len(s) != n:
        raise InputError(f"expiry and {name} must have the same length", column=name)
    return tuple(s == o for o in options)


def _settlement_codes(settlement: Any, n: int) -> np.ndarray:
    """True for AM, False for PM, per row; InputError naming the first other value."""
    am, pm = _eq_masks(settlement, ("AM", "PM"), n, "settlement")
    bad = ~(am | pm)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        value = settlement if isinstance(settlement, str) else settlement[k]
        value = getattr(value, "as_py", lambda: value)()
        raise InputError("settlement must be 'AM' or 'PM'", row=k, column="settlement", value=value)
    return am


def settlement_instants(expiry: Any, settlement: Any) -> np.ndarray:
    """Settlement instant of each contract, UTC, as ``datetime64[ns]``.

    Parameters
    ----------
    expiry
        Expiration dates (array-like, Arrow ``date32`` accepted).
    settlement
        ``"AM"``/``"PM"`` per row, or one value for all.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` holding UTC instants.

    Notes
    -----
    With ``E`` the effective expiration day (the expiry if it is a session, else the last
    session before it): AM is ``AM_SETTLE_TIME`` (09:30 ET) on ``E``; PM is
    ``min(PM_SETTLE_TIME, close of E)``, i.e. 16:00 ET or the 13:00 ET early close. The
    work is done once per distinct expiry and gathered back with ``take``.

    Examples
    --------
    >>> import datetime as dt
    >>> settlement_instants([dt.date(2023, 9, 15)] * 2, ["AM", "PM"]).astype(str).tolist()
    ['2023-09-15T13:30:00.000000000', '2023-09-15T20:00:00.000000000']
    """
    days, _ = _to_days(expiry, "expiry")
    n = len(days)
    is_am = _settlement_codes(settlement, n)
    if n == 0:
        return np.zeros(0, dtype="datetime64[ns]")
    _check_range(days, "expiry")
    uniq, inverse = _unique_days(days)
    cal = _cal()
    k = np.searchsorted(cal.days, uniq, side="right") - 1
    if (k < 0).any():
        raise InputError("expiry before the start of the trading calendar", column="expiry")
    # the effective expiration day is cal.days[k]; local times come from its midnight
    am_ns = _session_local_ns(k, AM_SETTLE_TIME)
    pm_ns = np.minimum(_session_local_ns(k, PM_SETTLE_TIME), cal.closes[k])
    out = np.where(is_am, am_ns[inverse], pm_ns[inverse])
    return out.astype("datetime64[ns]")


def settlement_instant(expiry: dt.date, settlement: Settlement) -> dt.datetime:
    """Scalar :func:`settlement_instants`: a timezone-aware UTC ``datetime``.

    Examples
    --------
    >>> import datetime as dt
    >>> settlement_instant(dt.date(2023, 11, 24), "PM").isoformat()
    '2023-11-24T18:00:00+00:00'
    """
    ns = settlement_instants([expiry], [settlement]).astype(np.int64)
    return _ns_out(ns, True)


# --------------------------------------------------------------------------------------------
# expiry cycles


def _third_friday_days(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Third Friday of each (year, month) as int64 days since epoch."""
    first = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]").astype("datetime64[D]")
    d = (first - _EPOCH_D).astype(np.int64)
    weekday = (d + 3) % 7  # Monday = 0; 1970-01-01 was a Thursday
    return d + (4 - weekday) % 7 + 14


def third_friday(year: int, month: int) -> dt.date:
    """The third Friday of a month.

    Examples
    --------
    >>> third_friday(2023, 9), third_friday(2022, 4)
    (datetime.date(2023, 9, 15), datetime.date(2022, 4, 15))
    """
    if not 1 <= month <= 12:
        raise InputError("month must be within 1-12", column="month", value=month)
    return _day_to_date(_third_friday_days(np.array([year]), np.array([month]))[0])


def standard_monthly_expiry(year: int, month: int) -> dt.date:
    """The standard monthly expiration: the third Friday, or the session before it when it is
    a holiday (April 2022: Thursday 2022-04-14, Good Friday being 2022-04-15).

    Examples
    --------
    >>> standard_monthly_expiry(2022, 4)
    datetime.date(2022, 4, 14)
    """
    return session_on_or_before(third_friday(year, month))


def _vix_monthly_days(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    nm = month % 12 + 1
    ny = year + (month == 12)
    tf = _third_friday_days(ny, nm)
    cal = _cal()
    tf = cal.days[np.searchsorted(cal.days, tf, side="right") - 1]  # holiday Friday -> before
    wed = tf - 30
    return cal.days[np.searchsorted(cal.days, wed, side="right") - 1]  # holiday Wed -> before


def vix_monthly_expiry(year: int, month: int) -> dt.date:
    """The VIX monthly expiration (Cboe VIX futures/options rule).

    The Wednesday 30 days before the third Friday of the following month; if that Friday is a
    holiday, 30 days before the session preceding it; if the result is a holiday, the session
    before it.

    Examples
    --------
    >>> vix_monthly_expiry(2023, 5), vix_monthly_expiry(2022, 3)
    (datetime.date(2023, 5, 17), datetime.date(2022, 3, 15))
    """
    if not 1 <= month <= 12:
        raise InputError("month must be within 1-12", column="month", value=month)
    return _day_to_date(_vix_monthly_days(np.array([year]), np.array([month]))[0])


def _roots_vix_mask(root: Any, n: int) -> np.ndarray:
    if root is None:
        return np.zeros(n, dtype=bool)
    if isinstance(root, str):
        return np.full(n, root.strip().upper() in _VIX_ROOTS)
    masks = _eq_masks(root, tuple(sorted(_VIX_ROOTS)), n, "root")
    return np.logical_or.reduce(masks)


def expiry_class(
    expiry: Any,
    session: Any,
    root: Any = None,
    *,
    leaps_days: int = LEAPS_MIN_DAYS,
) -> Any:
    """Classify expiries as ``0dte``, ``weekly``, ``monthly``, ``quarterly`` or ``leaps``.

    Parameters
    ----------
    expiry
        Expiration dates (scalar or array).
    session
        The session the chain belongs to (scalar, broadcast, or one per row).
    root
        Optional option roots (scalar or per row). VIX/VIXW use the VIX monthly cycle.
    leaps_days
        An expiry more than this many calendar days after ``session`` is ``leaps``.

    Returns
    -------
    str or numpy.ndarray
        One class per row (``<U9``), a ``str`` for scalar input.

    Notes
    -----
    With ``E`` the effective expiration day (the expiry, or the last session before it when it
    is not a session), the first rule that holds wins:

    1. ``0dte``: ``E == session``.
    2. ``leaps``: ``expiry - session > leaps_days`` calendar days.
    3. ``quarterly``: ``E`` is the standard monthly expiry of March, June, September or
       December, or the last session of one of those months (end-of-quarter SPXW/XSP
       expiries). Not applied to VIX roots.
    4. ``monthly``: ``E`` is the standard monthly expiry of its month
       (:func:`standard_monthly_expiry`; :func:`vix_monthly_expiry` for VIX roots). A legacy
       Saturday expiry date maps to the Friday before it, so it is monthly too.
    5. ``weekly``: everything else (weeklies, Monday/Wednesday expiries; an expiry already
       past the session also falls here).

    Examples
    --------
    >>> import datetime as dt
    >>> s = dt.date(2023, 9, 14)
    >>> [expiry_class(dt.date(*e), s) for e in [(2023, 9, 14), (2023, 9, 15), (2023, 9, 29),
    ...                                           (2023, 10, 20), (2023, 10, 27), (2025, 12, 19)]]
    ['0dte', 'quarterly', 'quarterly', 'monthly', 'weekly', 'leaps']
    """
    exp_days, scalar_e = _to_days(expiry, "expiry")
    ses_days, scalar_s = _to_days(session, "session")
    n = len(exp_days)
    if scalar_s and not scalar_e:
        ses_days = np.full(n, ses_days[0])
    elif scalar_e and not scalar_s:
        exp_days = np.full(len(ses_days), exp_days[0])
        n = len(exp_days)
    if len(ses_days) != n:
        raise InputError("expiry and session must have the same length", column="session")
    vix = _roots_vix_mask(root, n)
    if n == 0:
        return np.zeros(0, dtype="<U9")
    _check_range(exp_days, "expiry")
    _check_range(ses_days, "session")
    cal = _cal()

    uniq, inverse = _unique_days(exp_days)
    k = np.searchsorted(cal.days, uniq, side="right") - 1
    eff = cal.days[np.maximum(k, 0)]
    ymd = eff.astype("datetime64[D]")
    months = ymd.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (months.astype(np.int64) % 12) + 1
    tf = _third_friday_days(year, month)
    std_monthly = cal.days[np.searchsorted(cal.days, tf, side="right") - 1]
    is_std = eff == std_monthly
    is_vix_monthly = eff == _vix_monthly_days(year, month)
    next_month_first = ((months + 1).astype("datetime64[D]") - _EPOCH_D).astype(np.int64)
    last_session = cal.days[np.searchsorted(cal.days, next_month_first, side="left") - 1]
    quarter_month = month % 3 == 0
    is_quarterly = quarter_month & (is_std | (eff == last_session))

    eff_r = eff[inverse]
    out = np.full(n, "weekly", dtype="<U9")
    monthly = np.where(vix, is_vix_monthly[inverse], is_std[inverse])
    out[monthly] = "monthly"
    out[is_quarterly[inverse] & ~vix] = "quarterly"
    out[exp_days - ses_days > leaps_days] = "leaps"
    out[eff_r == ses_days] = "0dte"
    return str(out[0]) if (scalar_e and scalar_s) else out
