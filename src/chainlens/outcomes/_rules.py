"""Every rule chainlens states about the future, as data: its claim, hit and baseline.

Behaviour lives in :mod:`chainlens.outcomes._measure` (one event builder per ``kind``); this
module only declares what is measured, so the CLI, the docs (``docs/outcomes.md``) and the
reports read the same definitions.

Conventions shared by every rule
--------------------------------
* **Close of a session** ``S_D``: the ``spot`` of the session's default stored chain snapshot
  (for after-close snapshots such as Barchart's, the official close; for intraday snapshots the
  spot at the snapshot).
* **Next session** ``D+1``: the next session *stored* for the underlying (a gap in the store
  is skipped, not filled).
* **Levels** (zero gamma, call/put wall, max pain, straddle): :func:`chainlens.analysis.analyze_chain`
  of the default snapshot of ``D`` with the default :class:`~chainlens.analysis.AnalysisConfig`.
* ``baseline_n`` equals ``n`` unless a rule says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RULES", "RULE_NAMES", "OutcomeRule", "rule_by_name"]


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    """One measurable claim.

    Parameters
    ----------
    name
        Stable identifier (the ``rule`` key of ``chainlens outcomes --json``).
    kind
        The event builder that measures it.
    claim
        What the rule says will happen (one sentence).
    hit
        What counts as a hit.
    baseline
        The naive reader's alternative, measured the same way.
    params
        Tunable settings (tolerances, horizons) with their defaults.
    needs
        What the store must hold (``chain``, ``trades``).
    noun
        What one event is, for sentences ("9 of 31 expiries").
    """

    name: str
    kind: str
    claim: str
    hit: str
    baseline: str
    params: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ("chain",)
    noun: str = "sessions"


RULES: tuple[OutcomeRule, ...] = (
    OutcomeRule(
        name="max_pain_pin",
        kind="pin",
        claim="Price pins to max pain into expiry.",
        hit=(
            "for each expiry E that is a stored session: |close(E) - MP(E)| <= tol * MP(E), "
            "MP(E) = max pain of expiry E in the last stored snapshot before E; an expiry "
            "whose snapshot lists no call OI or no put OI is skipped (its max pain is an edge "
            "strike by construction) and counted as skipped_one_sided"
        ),
        baseline="the same test with the previous close close(E-1) in place of MP(E)",
        params={"tol": 0.003},
        noun="expiries",
    ),
    OutcomeRule(
        name="walls",
        kind="walls",
        claim="The next close stays between the put wall and the call wall.",
        hit="put_wall(D) <= close(D+1) <= call_wall(D), both walls defined on D",
        baseline=(
            "a band of the same width centred on close(D): "
            "|close(D+1) - close(D)| <= (call_wall - put_wall) / 2"
        ),
    ),
    OutcomeRule(
        name="gamma_regime",
        kind="gamma",
        claim="Below zero gamma (dealers short gamma) the next move is larger than above it.",
        hit=(
            "with m = median of |r(D+1)| over the events, r(D+1) = close(D+1)/close(D) - 1: "
            "below (close(D) < zero_gamma(D)) and |r(D+1)| > m, or at/above and |r(D+1)| <= m"
        ),
        baseline=(
            "volatility persistence: the same test with 'below' replaced by |r(D)| > m "
            "(yesterday's move was large)"
        ),
    ),
    OutcomeRule(
        name="flow_label",
        kind="flow",
        claim="The side-adjusted flow label (sign of bullish - bearish premium) calls the next session.",
        hit="side label bullish and r(D+1) > 0, or bearish and r(D+1) < 0 (neutral labels are no event)",
        baseline="the naive label (call premium vs put premium) with the same test",
        needs=("chain", "trades"),
    ),
    OutcomeRule(
        name="flow_divergence",
        kind="flow_divergence",
        claim="On divergence days (naive and side-adjusted labels differ) trust the side-adjusted one.",
        hit="divergence day D and the side-adjusted label calls r(D+1) (as flow_label)",
        baseline="the naive label calls r(D+1) on the same days",
        needs=("chain", "trades"),
        noun="divergence days",
    ),
    OutcomeRule(
        name="accumulation_held",
        kind="oi_held",
        claim="A multi-session OI accumulation streak is a position that will be held.",
        hit=(
            "streak contract first reported on D (chainlens.oi.accumulation, OIConfig defaults): "
            "OI(D+k) >= hold_fraction * OI(D), k = min(horizon, stored sessions before expiry)"
        ),
        baseline=(
            "every contract of the underlying on D with OI(D) >= 50, expiring >= 10 days after "
            "D, the same test (baseline_n differs from n)"
        ),
        params={"horizon": 5, "hold_fraction": 0.9, "source": "accumulation"},
        noun="streaks",
    ),
    OutcomeRule(
        name="accumulation_toward_strike",
        kind="toward",
        claim="Price moves toward the strike where OI accumulates.",
        hit="|close(D+k) - K| < |close(D) - K| for the streak contract's strike K",
        baseline="the same test for the mirror strike 2 close(D) - K (no direction)",
        params={"horizon": 5, "source": "accumulation"},
        noun="streaks",
    ),
    OutcomeRule(
        name="deep_otm_build_held",
        kind="oi_held",
        claim="A deep out-of-the-money OI build is a held position, not noise.",
        hit=(
            "accumulation streak contract at least otm_pct out of the money on D "
            "(calls K >= (1+otm) close, puts K <= (1-otm) close): held as accumulation_held"
        ),
        baseline="every contract as deep out of the money on D, the same test",
        params={"horizon": 5, "hold_fraction": 0.9, "otm_pct": 0.10, "source": "deep_otm"},
        noun="builds",
    ),
    OutcomeRule(
        name="rolls_held",
        kind="oi_held",
        claim="A detected roll's new leg is held.",
        hit=(
            "roll first reported on D (chainlens.oi.detect_rolls): the to-leg's "
            "OI(D+k) >= hold_fraction * OI(D)"
        ),
        baseline="every contract of the underlying on D, as accumulation_held",
        params={"horizon": 5, "hold_fraction": 0.9, "source": "rolls"},
        noun="rolls",
    ),
    OutcomeRule(
        name="rolls_direction",
        kind="roll_direction",
        claim="A bullish roll (bearish roll) precedes a rise (fall).",
        hit="bullish_roll and close(D+k) > close(D), or bearish_roll and close(D+k) < close(D)",
        baseline="the opposite direction (no information: half the non-flat moves)",
        params={"horizon": 5},
        noun="rolls",
    ),
    OutcomeRule(
        name="watch_items",
        kind="watch",
        claim=(
            "What a report says to watch next session is confirmed: a watched contract's "
            "position is held or rolled forward, a watched wall holds."
        ),
        hit=(
            "the watch items of session D: the contracts of chainlens.report._watch.watch_items "
            "(accumulation streaks, deep-OTM put builds, the target leg of each roll) of D's "
            "stored pipeline document (else of the same signals computed from the chain "
            "history) and the Flow Verdict's call and put walls; over D+1..D+k (k = "
            "min(horizon, stored sessions up to the contract's expiry)): a contract is "
            "confirmed when its follow-up status (chainlens.report._watch.classify of OI(D), "
            "OI(D+k), rolled) is 'confirmed' (OI(D+k) >= 0.9 OI(D)) or 'rolled' (a roll "
            "reported on D+1..D+k starts from it), not 'unwound' or 'closed'; a wall holds when "
            "no close of D+1..D+k crosses it (call wall: close <= wall; put wall: close >= wall)"
        ),
        baseline=(
            "contracts: the share of every contract of the underlying on D (OI >= 50, >= 10 "
            "days to expiry) whose OI(D+k) >= 0.9 OI(D) (an expected hit, a real number); "
            "walls: the mirror level 2 close(D) - wall (same distance, other side) holds"
        ),
        params={"horizon": 1},
        noun="watch items",
    ),
    OutcomeRule(
        name="expected_move_zone",
        kind="zone",
        claim="The close stays inside the expected-move zone set at the previous close.",
        hit=(
            "zone of seed 003 set on D-1: first expiry after D-1, ATM straddle M (analysis "
            "by_expiry straddle_mid); hit = close(D-1) - M <= close(D) <= close(D-1) + M"
        ),
        baseline=(
            "the zone's nominal probability under a normal move: erf(sqrt(2/pi) sqrt(n) / sqrt 2), "
            "n = sessions from D-1 to the expiry; baseline_hits = the sum of those probabilities "
            "(expected hits, a real number)"
        ),
    ),
)

RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)


def rule_by_name(name: str) -> OutcomeRule:
    """The rule called ``name`` (:class:`KeyError` naming the known rules otherwise)."""
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(f"unknown rule {name!r}; known: {', '.join(RULE_NAMES)}")
