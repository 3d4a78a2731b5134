"""The report invariants (``report_invariants.py``) on every real snapshot in ``../shared/data``:
Cboe quote tables, saved Cboe JSON, the DataShop VIX day (chain and trades), the IWM EOD chain,
OCC OI-only history (the Barchart SPX history has its own module,
``test_report_invariants_barchart.py``).
Each dataset goes into its own store; every stored session is run and every lens and daily
report is checked, and no section says "no data" where the stored data could fill it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlens.errors import ChainlensError
from chainlens.runners.local import read_docs, read_market, run_local
from chainlens.store import Store
from report_invariants import check_session

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

DATASETS = {
    "cboe_quotedata": "**/*.csv",
    "cboe_delayed_json": "*.json",
    "cboe_datashop_vix_2016-06-01": "Underlying*.csv",
    "iwm_eod_2019-10-15": "*",
    "occ_oi_history": "*",
}


def check_dataset(shared_data: Path, tmp: Path, name: str, pattern: str) -> None:
    """Ingest every file of a dataset (files refused whole are skipped), run every session,
    check every report."""
    files = sorted((shared_data / name).glob(pattern))
    if not files:
        pytest.skip(f"{shared_data / name} holds no files")
    bad: list[str] = []
    with Store(tmp / "store") as st:
        for f in files:
            try:
                st.ingest_many([f])
            except ChainlensError:
                pass  # refused whole with a clear error (holiday files, all-zero payloads)
        sessions = st.session_dates()
        assert sessions, f"no session of {name} ingested"
        checked = 0
        for d in sessions:
            out = run_local(st, d)
            docs = read_docs(st, d)
            if not docs:
                assert out["failed"], d
                continue
            chains = {x["underlying"]: st.chain(x["underlying"], d) for x in docs}
            bad += check_session(docs, read_market(st, d), no_data=True, chains=chains)
            checked += 1
    assert checked, f"no {name} session produced documents"
    assert not bad, "\n".join(bad[:25])


@pytest.mark.parametrize("name", list(DATASETS))
def test_words_agree_with_numbers_on_real_data(
    shared_data: Path, tmp_path: Path, name: str
) -> None:
    check_dataset(shared_data, tmp_path, name, DATASETS[name])
