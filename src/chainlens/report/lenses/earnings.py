"""The earnings lens (seed 002 "OI changes around earnings"): next date, post-earnings expiry
OI build, implied vs historical move, skew of that expiry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlens.report._model import FigureBook, Section
from chainlens.report.lenses.common import no_data, oi_chart, skew_chart
from chainlens.report.lenses.flow import conclusions, flow_summary
from chainlens.report.rules import say, th

__all__ = ["earnings_lens"]


def _pct(x: Any) -> float | None:
    return None if x is None else x / 100.0


def earnings_lens(fb: FigureBook, doc: Mapping[str, Any]) -> list[Section]:
    """Earnings setup, flow summary, conclusions."""
    e = doc.get("earnings")
    if not e or not e.get("next_date"):
        return [
            no_data(fb, "earnings_setup", "Earnings Setup", "earnings"),
            conclusions(fb, doc, "earnings"),
        ]
    sents = [
        say(
            fb,
            "earn.date",
            fb.add("earn.date", e["next_date"], "date", "date", "next earnings date"),
        )
    ]
    if e.get("post_expiry"):
        kx = fb.add("earn.expiry", e["post_expiry"], "date", "date", "first expiry after earnings")
        kb = fb.add(
            "earn.oi_build",
            e.get("post_expiry_oi_build"),
            "contracts",
            "int_signed",
            "OI build in that expiry over the window",
        )
        sents.append(say(fb, "earn.build", kx, kb))
        ob = [
            r.get("oi") for r in e.get("post_expiry_oi_by_session") or [] if r.get("oi") is not None
        ]
        if len(ob) >= 2 and ob[0]:
            k0 = fb.add(
                "earn.oi_first",
                ob[0],
                "contracts",
                "int",
                "OI of that expiry, first stored session",
            )
            k1 = fb.add(
                "earn.oi_last", ob[-1], "contracts", "int", "OI of that expiry, this session"
            )
            kr = fb.add("earn.oi_ratio", ob[-1] / ob[0], "ratio", "ratio", "OI now / OI then")
            kn = fb.add("earn.oi_sessions", len(ob), "sessions", "int", "stored sessions")
            sents.append(say(fb, "earn.cliff", k0, k1, kr, kn))
        ki = fb.add(
            "earn.implied",
            _pct(e.get("implied_move_pct")),
            "fraction",
            "pct",
            "implied move (straddle)",
        )
        kh = fb.add(
            "earn.hist",
            _pct(e.get("historical_mean_move_pct")),
            "fraction",
            "pct",
            "mean historical earnings move",
        )
        note = (
            ""
            if e.get("historical_mean_move_pct") is not None
            else " (no past earnings in the stored bars)"
        )
        kx2 = fb.add(
            "earn.expiry_days",
            e.get("days_to_post_expiry"),
            "calendar days",
            "int",
            "days to that expiry",
        )
        sents.append(say(fb, "earn.move", ki, kh, kx, kx2, note=note))
        if e.get("kink_move_pct") is not None and e.get("kink_method") == "two_post":
            kk = fb.add(
                "earn.kink",
                _pct(e["kink_move_pct"]),
                "fraction",
                "pct",
                "event-only move (term-structure kink)",
            )
            k1 = fb.add(
                "earn.iv_post",
                e.get("atm_iv"),
                "1/yr (decimal)",
                "iv",
                "ATM IV of the first post-event expiry",
            )
            k2 = fb.add(
                "earn.iv_post2",
                e.get("second_post_atm_iv"),
                "1/yr (decimal)",
                "iv",
                "ATM IV of the second",
            )
            kp = fb.add(
                "earn.post2_expiry",
                e.get("second_post_expiry"),
                "date",
                "date",
                "second post-event expiry",
            )
            sents.append(say(fb, "earn.kink2", kk, k1, kx, k2, kp))
        elif e.get("kink_move_pct") is not None:
            kk = fb.add(
                "earn.kink",
                _pct(e["kink_move_pct"]),
                "fraction",
                "pct",
                "event-only move (term-structure kink)",
            )
            k1 = fb.add(
                "earn.iv_post", e.get("atm_iv"), "1/yr (decimal)", "iv", "ATM IV after the report"
            )
            k0 = fb.add(
                "earn.iv_pre",
                e.get("pre_atm_iv"),
                "1/yr (decimal)",
                "iv",
                "ATM IV before the report",
            )
            kp = fb.add(
                "earn.pre_expiry",
                e.get("pre_expiry"),
                "date",
                "date",
                "last expiry before the report",
            )
            sents.append(say(fb, "earn.kink", kk, k1, kx, k0, kp))
        elif "kink_reason" in e:
            sents.append(say(fb, "earn.kink_na", reason=e.get("kink_reason") or "n/a"))
        co, po = e.get("post_expiry_call_oi"), e.get("post_expiry_put_oi")
        if co is not None and po is not None:
            kc = fb.add("earn.call_oi", co, "contracts", "int", "call OI of the post-event expiry")
            kq = fb.add("earn.put_oi", po, "contracts", "int", "put OI of the post-event expiry")
            ratio = co / po if po else None
            kr = fb.add("earn.cp_oi", ratio, "ratio", "ratio", "call/put OI of that expiry")
            if ratio is None:
                lean = "no put OI"
            elif ratio >= th("earn_cp_calls_lead"):
                lean = "calls lead: the market leans to a beat"
            elif ratio <= th("earn_cp_puts_match"):
                lean = "puts match or lead calls: uncertain or bearish lean"
            else:
                lean = "calls modestly ahead"
            sents.append(say(fb, "earn.lean", kc, kq, kr, lean=lean))
        krr = fb.add(
            "earn.rr", e.get("rr_25d"), "1/yr (decimal)", "iv", "25Δ risk reversal of that expiry"
        )
        sents.append(say(fb, "earn.skew", krr))
    else:
        sents.append(say(fb, "earn.no_expiry"))
    s = Section(id="earnings_setup", title="Earnings Setup", sentences=sents,
                charts=[c for c in (oi_chart(doc), skew_chart(doc)) if c])  # fmt: skip
    return [s, flow_summary(fb, doc), conclusions(fb, doc, "earnings")]
