"""Settings and the result record of a simulation run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chainlens.errors import ConfigError

__all__ = ["ProgressFn", "SimConfig", "SimManifest"]

#: ``progress(stage, done, total)``: called after each session (and chunk) is written.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """What to simulate.

    Parameters
    ----------
    underlyings
        Number of underlyings. The first ones are SPX, SPY, QQQ, IWM, then the other index
        products, ETFs and large caps in order of option activity, then synthetic tickers.
    sessions
        Number of XNYS sessions, starting at the first session on or after ``start``.
    start
        First calendar date.
    seed
        Master seed. Every random draw comes from a child stream keyed by
        ``(seed, stream, session, underlying)``, so an underlying's draws do not depend on the
        others or on how the universe is chunked.
    trades_per_underlying
        Mean number of option trades per underlying and session (tape rows, before sweeps are
        split into legs). 3,000 gives about 20M tape rows at 5,000 underlyings.
    prints_per_underlying
        Mean number of dark-pool prints per equity/ETF ticker and session.
    scenarios
        Plant the scenarios of seed 002/003 (``scenarios.json``).
    chunk_underlyings
        Underlyings generated (and held in memory) together; bounds peak memory.
    story_end
        Place every planted scenario so it shows in the last two sessions (the demo's
        reported sessions) instead of at random sessions.
    """

    underlyings: int = 30
    sessions: int = 10
    start: dt.date = dt.date(2024, 3, 4)
    seed: int = 7
    trades_per_underlying: int = 3000
    prints_per_underlying: int = 60
    scenarios: bool = True
    chunk_underlyings: int = 250
    story_end: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.underlyings <= 100_000:
            raise ConfigError(f"underlyings must be in [1, 100000], got {self.underlyings}")
        if not 1 <= self.sessions <= 2_000:
            raise ConfigError(f"sessions must be in [1, 2000], got {self.sessions}")
        if not isinstance(self.start, dt.date) or not 2000 <= self.start.year <= 2090:
            raise ConfigError(f"start must be a date between 2000 and 2090, got {self.start!r}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if self.trades_per_underlying < 1 or self.prints_per_underlying < 0:
            raise ConfigError("trades_per_underlying must be >= 1 and prints_per_underlying >= 0")
        if self.chunk_underlyings < 1:
            raise ConfigError("chunk_underlyings must be >= 1")


@dataclass(slots=True, kw_only=True)
class SimManifest:
    """What a simulation wrote.

    ``files`` maps a canonical table kind (``chain``, ``trades``, ``prints``, ``bars``,
    ``events``, ``sectors``) to its Parquet files, in session order. ``truth`` holds the ground
    truth files (never read by analytics) and ``scenarios_path`` the planted scenarios.
    """

    out_dir: Path
    config: SimConfig
    sessions: list[dt.date]
    underlyings: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)
    truth: list[Path] = field(default_factory=list)
    scenarios_path: Path | None = None
    scenarios: list[dict] = field(default_factory=list)
    n_contracts: int = 0
    n_trades: int = 0
    n_prints: int = 0
    elapsed_s: float = 0.0

    def all_paths(self) -> list[Path]:
        """Every canonical table file (what ``chainlens ingest`` should read), no truth files."""
        order = ("sectors", "events", "bars", "chain", "trades", "prints")
        return [p for k in order for p in self.files.get(k, [])]

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "out_dir": str(self.out_dir),
            "seed": self.config.seed,
            "sessions": [d.isoformat() for d in self.sessions],
            "underlyings": len(self.underlyings),
            "contracts": self.n_contracts,
            "trades": self.n_trades,
            "prints": self.n_prints,
            "scenarios": len(self.scenarios),
            "scenarios_path": None if self.scenarios_path is None else str(self.scenarios_path),
            "files": {k: [str(p) for p in v] for k, v in self.files.items()},
            "elapsed_s": round(self.elapsed_s, 3),
        }
