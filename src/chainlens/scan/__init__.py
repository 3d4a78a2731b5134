"""chainlens.scan: the scanners (seed 004 and seed 002).

* :func:`scan_unusual`: premium and volume multiples against a rolling average (seed 004).
* :func:`scan_netdelta`: cumulative net delta per ticker and expiry from a start date, the
  increase ratio and the three largest positions (seed 004).
* accumulation and rolls: :func:`chainlens.oi.accumulation` and
  :func:`chainlens.oi.detect_rolls`; :func:`accumulation_records` / :func:`roll_records` give
  exactly the SPEC JSON keys.
* :func:`store_scan`: any of the four over every underlying of a store on a date (used by
  ``chainlens scan``).
"""

from __future__ import annotations

from chainlens.scan._netdelta import oi_delta, scan_netdelta, transactional_delta
from chainlens.scan._settings import ScanSettings
from chainlens.scan._store_scans import (
    ACCUMULATION_KEYS,
    ROLL_KEYS,
    accumulation_records,
    roll_records,
    store_scan,
)
from chainlens.scan._unusual import daily_flow, scan_unusual

__all__ = [
    "ACCUMULATION_KEYS",
    "ROLL_KEYS",
    "ScanSettings",
    "accumulation_records",
    "daily_flow",
    "oi_delta",
    "roll_records",
    "scan_netdelta",
    "scan_unusual",
    "store_scan",
    "transactional_delta",
]
