"""The scanner-hit record and sentence on a hand-made stored row and flow (seed 004 multiples):
every figure worked by hand."""

from __future__ import annotations

from chainlens.report._model import FigureBook
from chainlens.report._unusual import spike_contracts, unusual_record
from chainlens.report.lenses.unusual import unusual_sentence

ROW = {"underlying": "XYZ", "session": "2024-03-15", "premium_usd": 1_000_000.0,
       "avg_premium_usd": 125_000.0, "premium_multiple": 8.0, "volume": 4_000.0,
       "avg_volume": 800.0, "volume_multiple": 5.0, "sessions_in_average": 9}  # fmt: skip


def _strike(expiry: str, strike: float, call: float, call_bought: float, put: float = 0.0) -> dict:
    return {"expiry": expiry, "strike": strike, "call_premium_usd": call,
            "calls_bought_usd": call_bought, "put_premium_usd": put, "puts_bought_usd": 0.0}  # fmt: skip


FLOW = {
    "totals": {"dir_side_label": "bullish"},
    "side_mix": {"buy_premium_share": 0.82},
    "top_strikes": [
        _strike("2024-04-19", 105.0, 500_000.0, 475_000.0),  # 50% of the day, 95% bought
        _strike("2024-05-17", 110.0, 200_000.0, 200_000.0, put=20_000.0),  # 20%; put 2%
        _strike("2024-03-15", 100.0, 150_000.0, 0.0),  # expires on the session: left out
        _strike("2024-04-19", 115.0, 80_000.0, 0.0),  # 8% < 10%: not named
    ],
}


def test_contracts_by_premium_live_only_with_shares() -> None:
    cs = spike_contracts(FLOW, ROW["premium_usd"], spot=100.0, session="2024-03-15")
    assert [(c["expiry"], c["strike"], c["right"]) for c in cs] == [
        ("2024-04-19", 105.0, "C"),
        ("2024-05-17", 110.0, "C"),
    ]
    assert [c["share"] for c in cs] == [0.5, 0.2]
    assert [c["bought_share"] for c in cs] == [0.95, 1.0]
    assert abs(cs[0]["otm_pct"] - 0.05) < 1e-12  # 105 / 100 - 1


def test_sentence_states_the_stored_figures() -> None:
    rec = unusual_record(ROW, FLOW, [{"session": "2024-03-14", "premium_multiple": 4.0}], 1, 100.0)
    assert rec["direction"] == "bullish" and rec["kind"] == "premium"
    assert abs(rec["top_share"] - 0.7) < 1e-12
    fb = FigureBook()
    s = unusual_sentence(fb, rec)
    assert s.rule == "unusual.hit"
    assert s.text == (
        "Premium spike (bullish): XYZ option premium $1.0M, 8.00× its 9-session average of "
        "$125.0K; volume 4,000 contracts, 5.00× its average of 800; 82.0% of the premium bought "
        "at the ask, concentrated in the 2024-04-19 $105 C (50.0% of premium, 95.0% bought, 5.0% "
        "OTM) and 2024-05-17 $110 C (20.0%); a repeat: also a hit on 2024-03-14 (4.00×) — watch "
        "list: add (bullish); tomorrow's OI at the 2024-04-19 $105 C tells new positions (OI up) "
        "from day trades."
    )
    assert all(k in fb.figures for k in s.keys)
    # without trades: no side, no contracts
    s2 = unusual_sentence(FigureBook(), unusual_record(ROW, None))
    assert s2.rule == "unusual.hit_chain" and s2.text.startswith("Premium spike (side n/a): XYZ")
