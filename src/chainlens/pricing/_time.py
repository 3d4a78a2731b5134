"""Time to expiry in years, ACT/365 in seconds, from the snapshot to the settlement instant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from chainlens import conventions
from chainlens._typing import Float64Array
from chainlens.calendar import settlement_instants
from chainlens.errors import InputError

__all__ = ["time_to_expiry"]


def _snapshot_ns(ts: Any) -> np.ndarray:
    """Snapshot instants as int64 ns UTC (naive values are taken as UTC)."""
    import pyarrow as pa

    if isinstance(ts, pa.ChunkedArray | pa.Array):
        if not pa.types.is_timestamp(ts.type):
            raise InputError(f"snapshot_ts must be timestamps, got {ts.type}", column="snapshot_ts")
        if ts.null_count:
            raise InputError("snapshot_ts is null", column="snapshot_ts")
        return np.asarray(ts.cast(pa.timestamp("ns", tz=ts.type.tz)).cast(pa.int64()))
    if isinstance(ts, pa.Scalar):
        ts = ts.as_py()
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is not None:
            ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
        return np.asarray(np.datetime64(ts, "ns").astype(np.int64))
    try:
        arr = np.asarray(ts).astype("datetime64[ns]")
    except (TypeError, ValueError) as exc:
        raise InputError(f"snapshot_ts is not a timestamp ({exc})", column="snapshot_ts") from None
    if np.isnat(arr).any():
        raise InputError("snapshot_ts is missing (NaT)", column="snapshot_ts")
    return arr.astype(np.int64)


def time_to_expiry(
    snapshot_ts: Any,
    expiry: Any,
    settlement: Any,
    *,
    floor_years: float | None = None,
) -> Float64Array:
    r"""Years from the snapshot instant to each contract's settlement instant, ACT/365 seconds.

    Parameters
    ----------
    snapshot_ts
        The snapshot instant: a tz-aware ``datetime``, a ``datetime64`` (UTC), or an array or
        Arrow timestamp column of them, one per contract.
    expiry
        Expiration dates (array-like or Arrow ``date32``).
    settlement
        ``"AM"``/``"PM"``, per contract or one for all.
    floor_years
        If given, results are raised to at least this (``conventions.T_FLOOR_YEARS`` is one
        minute). By default none: 0DTE contracts keep their true remaining time, and expired
        ones (snapshot after settlement) come out ``<= 0``, which the kernels price at their
        intrinsic limit.

    Returns
    -------
    ndarray of float64
        :math:`t = (T_\text{settle} - T_\text{snapshot}) / (365 \cdot 86400\,\text{s})`.

    Notes
    -----
    Settlement instants come from :func:`chainlens.calendar.settlement_instants`: AM-settled
    09:30 ET, PM-settled 16:00 ET (or the early close) on the expiration session (SPEC
    "Conventions").

    Examples
    --------
    >>> import datetime as dt
    >>> snap = dt.datetime(2023, 9, 14, 20, 0, tzinfo=dt.UTC)  # 16:00 ET
    >>> t = time_to_expiry(snap, [dt.date(2023, 9, 15)] * 2, ["AM", "PM"])
    >>> (t * 365 * 24).round(6).tolist()  # hours
    [17.5, 24.0]
    """
    settle = settlement_instants(expiry, settlement).astype(np.int64)
    snap = _snapshot_ns(snapshot_ts)
    t = (settle - snap).astype(np.float64) / 1e9 / conventions.SECONDS_PER_YEAR
    if floor_years is not None:
        t = np.maximum(t, float(floor_years))
    return t
