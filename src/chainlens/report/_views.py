"""Seed-004 positioning views read from a pipeline document (issue 11): expected-move ranges,
volatility curves, the skew term structure, positioning by strike, the dealer delta profile
and sign-combination reading, charm by strike with its end-of-day effect, and the path of
least resistance. Pure functions over ``doc["analysis"]``; units in each docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chainlens.report._readers import is_live

__all__ = [
    "ES_MULTIPLIER",
    "STRIKE_WINDOW",
    "SIGN_READINGS",
    "charm_view",
    "dealer_reading",
    "delta_profile",
    "expected_moves",
    "least_resistance",
    "skew_term",
    "vol_curves",
]

#: Half-width (fraction of spot) of the by-strike views (vanna, charm, volume).
STRIKE_WINDOW = 0.10
#: USD per index point of one E-mini S&P 500 future (the SPX futures-equivalent unit).
ES_MULTIPLIER = 50.0
#: Seed 004: the sign of dealer gamma and delta at spot -> what dealers are net of.
SIGN_READINGS: Mapping[tuple[str, str], str] = {
    ("+", "+"): "dealers net long calls (long gamma, long delta)",
    ("-", "-"): "dealers net short calls (short gamma, short delta)",
    ("+", "-"): "dealers net long puts (long gamma, short delta)",
    ("-", "+"): "dealers net short puts (short gamma, long delta)",
}


_live = is_live


def expected_moves(doc: Mapping[str, Any], n: int = 6) -> list[dict[str, Any]]:
    """Straddle expected move and the 25Δ (≈50%) and 15Δ (≈70%) ranges of the next ``n`` live
    expiries (``analysis.vol.expiries``): ``em_pct`` (% of spot, straddle mid / spot), the
    range bounds (USD strikes), the call distance ``high − spot`` and put distance
    ``spot − low`` (USD) of the 25Δ range, and ``asymmetry`` = call distance / put distance
    (> 1: more room up than down). Seed 004 "expected move".
    """
    a = doc["analysis"]
    spot = a.get("spot")
    out = []
    for e in (a.get("vol") or {}).get("expiries") or []:
        if not _live(doc["session"], e.get("expiry")) or e.get("expected_move_pct") is None:
            continue
        r50, r70 = e.get("range_50") or [None, None], e.get("range_70") or [None, None]
        up = None if r50[1] is None or spot is None else r50[1] - spot
        dn = None if r50[0] is None or spot is None else spot - r50[0]
        out.append({
            "expiry": e["expiry"], "em_pct": e["expected_move_pct"] / 100.0,
            "low_50": r50[0], "high_50": r50[1], "low_70": r70[0], "high_70": r70[1],
            "call_distance": up, "put_distance": dn,
            "asymmetry": None if not up or not dn or dn <= 0 else up / dn,
        })  # fmt: skip
        if len(out) >= n:
            break
    return out


def vol_curves(
    doc: Mapping[str, Any], n: int = 6, half_width: float = 0.25
) -> list[dict[str, Any]]:
    """Call IV and put IV (decimal) by strike for the next ``n`` live expiries, strikes within
    ``half_width`` of spot (``analysis.vol.smile``): ``[{"expiry", "strikes", "call_iv",
    "put_iv"}]``. Seed 004 "volatility curves"."""
    a = doc["analysis"]
    spot = a.get("spot") or 0.0
    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in (a.get("vol") or {}).get("smile") or []:
        if (
            _live(doc["session"], r.get("expiry"))
            and spot
            and abs(r["strike"] / spot - 1) <= half_width
        ):
            by.setdefault(str(r["expiry"])[:10], []).append(r)
    out = []
    for e in sorted(by)[:n]:
        rows = sorted(by[e], key=lambda r: r["strike"])
        out.append({"expiry": e, "strikes": [r["strike"] for r in rows],
                    "call_iv": [r.get("call_iv") for r in rows], "put_iv": [r.get("put_iv") for r in rows]})  # fmt: skip
    return out


def skew_term(doc: Mapping[str, Any], n: int = 12) -> list[dict[str, Any]]:
    """25Δ risk reversal (call IV − put IV) and 25Δ butterfly ((call IV + put IV)/2 − ATM IV),
    decimals of IV, by live expiry (``analysis.vol.expiries``). Seed 004 "skew"."""
    out = []
    for e in (doc["analysis"].get("vol") or {}).get("expiries") or []:
        if _live(doc["session"], e.get("expiry")) and (
            e.get("rr_25d") is not None or e.get("bf_25d") is not None
        ):
            out.append(
                {
                    "expiry": e["expiry"],
                    "rr_25d": e.get("rr_25d"),
                    "bf_25d": e.get("bf_25d"),
                    "atm_iv": e.get("atm_iv"),
                }
            )
        if len(out) >= n:
            break
    return out


def delta_profile(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Dealer delta (shares) against hypothetical spot now: the first time slice of the DX
    surface (``analysis.surfaces.dx_shares[0]``, all expiries, under the report's dealer
    model), with the dealer gamma (shares per USD) of the GX surface at the same levels."""
    s = doc["analysis"].get("surfaces") or {}
    lv, dx, gx = s.get("spot_levels"), s.get("dx_shares"), s.get("gx_shares_per_usd")
    if not lv or not dx or not dx[0]:
        return None
    return {
        "levels": list(lv),
        "dx_shares": list(dx[0]),
        "gx_shares_per_usd": list(gx[0]) if gx else None,
    }


def _nearest(levels: Sequence[float], x: float) -> int:
    return min(range(len(levels)), key=lambda i: abs(levels[i] - x))


def dealer_reading(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Seed-004 sign combination at spot: dealer gamma sign (profile GEX at spot, USD per 1%)
    and dealer delta sign (total DEX, shares) -> :data:`SIGN_READINGS`. None without greeks."""
    from chainlens.market import gex_at_spot

    a = doc["analysis"]
    dex = (a.get("totals") or {}).get("dex_shares")
    try:
        gex = gex_at_spot(a)
    except Exception:
        gex = None
    if gex is None or dex is None or gex == 0 or dex == 0:
        return None
    key = ("+" if gex > 0 else "-", "+" if dex > 0 else "-")
    return {"gex_at_spot": gex, "dex_shares": dex, "signs": "".join(key), "reading": SIGN_READINGS[key],
            "model": a.get("dealer_model")}  # fmt: skip


def charm_view(doc: Mapping[str, Any], half_width: float = STRIKE_WINDOW) -> dict[str, Any] | None:
    """Dealer charm by strike (shares of delta per day, ``analysis.by_strike``) within
    ``half_width`` of spot, and the total's end-of-day effect: the dealer delta drift over
    one day, in shares and (SPX/SPXW/XSP) in E-mini futures equivalents,
    :math:`\\text{ES} = \\text{charm} \\cdot S / (50 \\cdot S) = \\text{charm} / 50`
    (one SPX share-equivalent is one index unit; an ES future is 50 index units). Positive
    charm: dealers get longer delta into the close and sell to re-hedge."""
    a = doc["analysis"]
    spot, tot = a.get("spot"), (a.get("totals") or {}).get("charm_shares_per_day")
    rows = [{"strike": r["strike"], "charm_shares_per_day": r.get("charm_shares_per_day")}
            for r in (a.get("by_strike_live") if a.get("by_strike_live") is not None else a.get("by_strike") or [])
            if spot and abs(r["strike"] / spot - 1) <= half_width and r.get("charm_shares_per_day") is not None]  # fmt: skip
    if tot is None or not rows:
        return None
    index = str(doc.get("underlying", "")).upper() in ("SPX", "SPXW", "XSP")
    per = 10.0 if str(doc.get("underlying", "")).upper() == "XSP" else 1.0  # XSP is SPX/10
    return {"rows": rows, "total_shares_per_day": tot,
            "es_contracts_per_day": tot / per / ES_MULTIPLIER if index else None}  # fmt: skip


def least_resistance(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Path of least resistance: the spot drift that keeps dealer delta unchanged through one
    session given charm, :math:`dS/dt = -\\text{charm} / \\Gamma_{shares/USD}` (USD per day;
    charm in shares per day from ``totals``, dealer gamma in shares per USD at spot from the
    GX surface now). Returns ``{"drift_usd_per_day", "drift_pct", "reason"}``; ``reason``
    says why there is no path (no greeks, no surface, gamma too small: ``|Γ|·1% of spot`` under
    ``1%`` of ``|charm|``)."""
    a = doc["analysis"]
    spot, charm = a.get("spot"), (a.get("totals") or {}).get("charm_shares_per_day")
    prof = delta_profile(doc)
    if charm is None or not spot:
        return {
            "drift_usd_per_day": None,
            "drift_pct": None,
            "reason": "no charm: the snapshot has no usable greeks",
        }
    if prof is None or not prof.get("gx_shares_per_usd"):
        return {"drift_usd_per_day": None, "drift_pct": None, "reason": "no dealer gamma surface"}
    gam = prof["gx_shares_per_usd"][_nearest(prof["levels"], spot)]
    if not gam or abs(gam) * 0.01 * spot < 0.01 * abs(charm):
        return {"drift_usd_per_day": None, "drift_pct": None,
                "reason": "dealer gamma at spot is too small for charm to set a path (a 1% move re-hedges less than 1% of a day's charm)"}  # fmt: skip
    drift = -charm / gam
    return {
        "drift_usd_per_day": drift,
        "drift_pct": drift / spot,
        "reason": None,
        "gamma_shares_per_usd": gam,
    }
