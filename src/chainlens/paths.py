"""Where chainlens finds things on disk: the default store and the shared real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_STORE", "shared_data_dir"]

#: Default store location for every command (``--store``).
DEFAULT_STORE = Path("./chainlens-data")


def shared_data_dir() -> Path:
    """The folder of real market files used by tests and examples.

    ``$CHAINLENS_SHARED_DATA`` if set, else ``../shared/data`` beside the repository.
    The folder may be absent: callers skip with a clear reason.
    """
    env = os.environ.get("CHAINLENS_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"
