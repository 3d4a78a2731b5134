"""The rule layer (issue 10, deliverable 3): one table of thresholds, every sentence from a
rule with its seed section, no threshold literal in the lens code, docs/rules.md generated."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import chainlens.report.daily as daily_mod
import chainlens.report.lenses as lenses_pkg
from chainlens.market import (
    PCR_READING,
    agree_with_tilt,
    gex_at_spot,
    name_type,
)
from chainlens.market import (
    RULES as MARKET_RULES,
)
from chainlens.oi import PCR_BANDS, VOL_OI_BANDS
from chainlens.report.rules import RULES, THRESHOLDS, band_words, rules_markdown, th

_SRC = [*sorted(Path(lenses_pkg.__file__).parent.glob("*.py")), Path(daily_mod.__file__)]
#: Literals the lens code may hold: list caps, indices, percent-to-fraction (never a threshold).
_ALLOWED = {0, 1, 2, 3, 4, 5, 10, 12, 20, 100}


def test_every_rule_used_exists_and_every_rule_is_used() -> None:
    ids = {r.id for r in RULES}
    used = set()
    for p in _SRC:
        used |= set(re.findall(r'say\(\s*fb,\s*"([a-z_.0-9]+)"', p.read_text()))
    assert used <= ids, used - ids
    assert ids - used <= {"header.greeks_missing"} | {i for i in ids if i.startswith("x.")}, (
        ids - used
    )


def test_rules_name_seed_and_known_thresholds() -> None:
    for r in RULES:
        assert r.seed and r.when and r.template, r.id
        assert set(r.thresholds) <= set(THRESHOLDS), r.id


def test_no_threshold_literal_in_lens_code() -> None:
    for p in _SRC:
        for n in ast.walk(ast.parse(p.read_text())):
            if (
                isinstance(n, ast.Constant)
                and isinstance(n.value, (int, float))
                and not isinstance(n.value, bool)
            ):
                assert n.value in _ALLOWED, (
                    f"{p.name}:{n.lineno}: literal {n.value!r} (put it in THRESHOLDS)"
                )


def test_thresholds_are_looked_up_not_restated() -> None:
    assert th("side_confidence_low") is MARKET_RULES["unknown_share_low_confidence"]
    assert th("pcr_bands") == tuple(b[0] for b in PCR_BANDS)


def test_docs_rules_md_is_generated_from_the_table() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert doc.read_text() == rules_markdown(), (
        "regenerate: python -m chainlens.report.rules > docs/rules.md"
    )


def test_band_words_have_no_enum() -> None:
    assert band_words("1.2_2.0", PCR_BANDS) == "1.2–2.0"
    assert band_words("below_0.3", PCR_BANDS) == "below 0.3"
    assert band_words("above_2.0", PCR_BANDS) == "above 2.0"
    assert band_words("2x_5x", VOL_OI_BANDS) == "2×–5×"


@pytest.mark.parametrize(("ticker", "vote"), [("SPY", 0), ("SPX", 0), ("QQQ", 0), ("AMD", -1)])
def test_pcr_band_read_by_name_type(ticker: str, vote: int) -> None:
    # seed 002: index PCR 1.2-2.0 is hedging (possible support), single names directional
    v, words = PCR_READING[(name_type(ticker), "1.2_2.0")]
    assert v == vote
    assert ("support" in words) == (vote == 0)


def test_gex_at_spot_interpolates_the_profile() -> None:
    a = {
        "spot": 101.0,
        "profile": {
            "contracts_used": 3,
            "levels": [99.0, 100.0, 102.0],
            "gex_usd_per_1pct": {"all": [-3.0, -1.0, 3.0]},
        },
    }
    assert gex_at_spot(a) == pytest.approx(1.0)  # halfway between -1 at 100 and +3 at 102
    assert gex_at_spot({**a, "spot": 110.0}) is None


def test_structures_agree_with_the_tilt() -> None:
    s = [{"direction": "bearish"}, {"direction": "bullish"}, {"direction": "bearish"}]
    keep, withheld = agree_with_tilt(s, "bullish")
    assert keep == [{"direction": "bullish"}] and withheld == 2
    assert agree_with_tilt(s, "balanced") == (s, 0)
