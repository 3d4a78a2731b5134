"""``chainlens run --engine local|spark [--from D1 --to D2]``: which sessions, which runner.

The CLI's ``run`` command hands its options here when it is not the one-session local run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from chainlens.errors import InputError, NotFoundError

__all__ = ["ENGINES", "run_sessions", "sessions_between"]

ENGINES = ("local", "spark")


def _date(value: str, opt: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{opt} must be an ISO date YYYY-MM-DD", column=opt, value=value) from None


def sessions_between(
    store: Any, date: str | None, date_from: str | None, date_to: str | None
) -> list[dt.date]:
    """``--date D`` alone, or the stored sessions in ``[--from, --to]`` (either end open)."""
    if date is not None:
        if date_from is not None or date_to is not None:
            raise InputError("give --date, or --from/--to (a backfill), not both", column="--date")
        return [_date(date, "--date")]
    if date_from is None and date_to is None:
        raise InputError("give --date D, or --from D1 --to D2 (a backfill)", column="--date")
    lo = _date(date_from, "--from") if date_from is not None else dt.date.min
    hi = _date(date_to, "--to") if date_to is not None else dt.date.max
    if lo > hi:
        raise InputError("--from is after --to", column="--from", value=date_from)
    days = [d for d in store.session_dates() if lo <= d <= hi]
    if not days:
        raise NotFoundError(
            f"the store at {store.root} holds no session between {date_from or '...'} and "
            f"{date_to or '...'}",
            hint="list the stored sessions with `chainlens sessions`",
        )
    return days


def run_sessions(
    store_dir: Path,
    *,
    engine: str,
    date: str | None,
    date_from: str | None,
    date_to: str | None,
    underlyings: list[str] | None,
    workers: int | None,
    macro: Any,
    dataset: str | None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Run the sessions the options name with the chosen engine; one summary dict each."""
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}", column="--engine",
                         value=engine)  # fmt: skip
    if engine == "spark":
        from chainlens.runners.spark import require_pyspark

        require_pyspark()  # before the store is opened: the message names what to install
    elif dataset is not None:
        raise InputError("--dataset is for --engine spark", column="--dataset", value=dataset)
    from chainlens.store import Store

    with Store(store_dir, create=False) as st:
        days = sessions_between(st, date, date_from, date_to)
        if engine == "local":
            from chainlens.runners.local import run_local

            out = []
            for d in days:  # a loop over sessions
                r = run_local(st, d, underlyings or None, workers=workers, macro=macro)
                out.append({**r, "engine": "local"})
                if progress is not None:
                    progress(len(out), len(days), d.isoformat())
            return out
        from chainlens.runners.spark import run_spark

        return run_spark(
            st, days, underlyings or None, dataset=dataset, macro=macro, progress=progress
        )
