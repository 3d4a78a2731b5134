"""One parser of ISO session dates (user input, stored documents).

Every place that turns a ``YYYY-MM-DD`` given by a user (a CLI option, an API argument) or
read from a stored document into a :class:`datetime.date` calls :func:`parse_date` or
:func:`doc_date`; the error is always :class:`~chainlens.errors.InputError` naming the
option or column.

Examples
--------
>>> parse_date("2024-03-15")
datetime.date(2024, 3, 15)
>>> doc_date("2024-03-15T16:00:00Z")
datetime.date(2024, 3, 15)
"""

from __future__ import annotations

import datetime as dt

from chainlens.errors import InputError

__all__ = ["doc_date", "parse_date"]


def parse_date(value: dt.date | str, what: str = "session") -> dt.date:
    """``value`` as a date: a date stays, a datetime gives its date, a string must be ISO.

    Raises
    ------
    InputError
        ``"<what> must be an ISO date (YYYY-MM-DD)"`` with ``column=what`` and the value.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(
            f"{what} must be an ISO date (YYYY-MM-DD)", column=what, value=value
        ) from None


def doc_date(value: dt.date | str) -> dt.date:
    """The date of a stored document's ISO date or instant (its first ten characters)."""
    if isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    return parse_date(str(value)[:10], "date")
