"""The one exception hierarchy of chainlens.

Every error raised at a public boundary derives from :class:`ChainlensError`. Errors about
input carry the file, row, column, value and the rule that was broken, so that the CLI can
print them without a traceback and the user knows what to fix.

Per-contract numerical failures (an implied vol that does not solve, a contract with no
time value) are *not* exceptions: kernels return NaN plus a reason code column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ChainlensError",
    "ConfigError",
    "InputError",
    "NotFoundError",
    "StoreError",
    "UnknownFormatError",
    "file_problem",
]


class ChainlensError(Exception):
    """Root of every chainlens error. ``hint`` says what the user should do next."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True, slots=True)
class _Where:
    path: str | None
    row: int | None
    column: str | None
    value: object

    def describe(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ", ".join(parts)


class InputError(ChainlensError):
    """A file (or a row of it) that cannot be read as what it claims to be.

    Parameters
    ----------
    reason
        The rule that was broken, in words ("strike must be > 0").
    path, row, column, value
        Where it was broken. ``row`` is 1-based and counts physical lines of the file
        (the header is row 1 for CSVs), so a user can open the file at that line.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.value = value
        where = _Where(self.path, row, column, value).describe()
        super().__init__(f"{where}: {reason}" if where else reason, hint=hint)


class UnknownFormatError(InputError):
    """No adapter recognises the file. The message lists the formats chainlens knows."""


class StoreError(ChainlensError):
    """The store cannot be opened, or an operation on it failed (it is left unchanged)."""


class NotFoundError(ChainlensError):
    """What was asked for (a session, an underlying, a report) is not in the store."""


class ConfigError(ChainlensError):
    """A setting or a declarative mapping is invalid."""


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an input file, in words (None: a readable regular file).

    Says what the path *is* (a directory, a FIFO, a symbolic-link loop, unreadable) instead of
    a blanket "no such file"."""
    import errno
    import os
    import stat

    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.EACCES:
            return "permission denied"
        if os.path.lexists(p):
            return f"broken symbolic link ({exc.strerror})"
        return "no such file"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    if not os.access(p, os.R_OK):
        return "permission denied"
    return None
