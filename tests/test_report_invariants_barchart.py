"""The report invariants on the Barchart SPX daily history (``../shared/data/spx_daily_barchart``:
71 after-close snapshots, 69 sessions once the two holiday files are refused; chains only, 8
expiries): every session is run and every lens and daily report is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_report_invariants_real import check_dataset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_words_agree_with_numbers_on_barchart_history(shared_data: Path, tmp_path: Path) -> None:
    check_dataset(shared_data, tmp_path, "spx_daily_barchart", "*.json")
