"""One small simulated store for the ``chainlens serve`` tests, built once per test process.

The simulator writes a small universe (6 underlyings, 5 sessions), the daily pipeline runs the
last two sessions (``chainlens.runners.local.run_demo``); the serve tests then open it
read-only. Each test module asks for it through its own session-scoped fixture; the build is
cached here so that it happens once per process (once per xdist worker).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

_BUILT: dict[str, Path] = {}


def serve_store() -> Path:
    """The path of the shared serve test store (built on first call)."""
    if "root" not in _BUILT:
        from chainlens.runners.local import run_demo

        root = Path(tempfile.mkdtemp(prefix="chainlens-serve-")) / "store"
        run_demo(root, seed=11, sessions=5, underlyings=6, run_sessions=2)
        _BUILT["root"] = root
    return _BUILT["root"]
