"""Helpers of the hardening suites: run the CLI in-process and classify its outcome."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from chainlens.cli import app
from chainlens.cli._common import run_guarded


@dataclass
class Outcome:
    rc: int
    out: str
    err: str

    @property
    def traceback(self) -> bool:
        """A traceback or an internal error reached the user."""
        text = self.out + self.err
        return "Traceback (most recent call last)" in text or "internal error" in text

    @property
    def clear_error(self) -> bool:
        return self.rc == 2 and ("error:" in self.err or "Error:" in self.err)


def cli(argv: list[str]) -> Outcome:
    """Run ``chainlens ARGV`` in this process; uncaught exceptions propagate (a test failure)."""
    out, err = io.StringIO(), io.StringIO()
    # rich consoles resolve sys.stdout/sys.stderr at print time when their _file is None:
    # redirecting those is enough (setting .file would pin them for later tests)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_guarded(app, [str(a) for a in argv])
    return Outcome(rc, out.getvalue(), err.getvalue())


def tree_digest(root: Path) -> str:
    """Digest of every file (path, bytes) under ``root``; missing root -> fixed value."""
    h = hashlib.blake2b(digest_size=16)
    if not root.exists():
        return "absent"
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name == ".lock":
                continue
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
