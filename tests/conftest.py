"""Shared fixtures. Real market files are read from ../shared/data (or $CHAINLENS_SHARED_DATA);
tests that need them skip with a clear reason where the folder is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlens.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder, or skip."""
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"real market data not found at {d} (set CHAINLENS_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def cboe_dir(shared_data: Path) -> Path:
    d = shared_data / "cboe_quotedata"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A fresh, empty store location."""
    return tmp_path / "store"
