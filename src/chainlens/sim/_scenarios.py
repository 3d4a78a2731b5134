"""Planted scenarios: flow patterns from seeds 002 and 003, with their ground truth.

Each scenario is a set of *forced* orders (their true side and open/close flag are never
changed by the OI engine) on contracts chosen from the listing at the first session, plus,
where the pattern needs it, a pre-existing position (rolls, closes) or a change to the price
path (a catalyst gap, a rally day, pinning). Number and placement vary with the seed.

Kinds (``scenarios.json`` ``kind``; pinned strings)
-----------------------------------------------------
``accumulation``           calls ~6-12% OTM bought to open over 3-5 sessions (each session
                           +20-60% of the strike's baseline OI), a catalyst gap up (an
                           earnings pre-announcement, +8-19%), then 60-85% of it sold to
                           close within two sessions (seed 002, case 1).
``deep_otm_put_build``     puts 15-20% OTM bought to open over 3-5 sessions while the nearer
                           strike (~6% OTM) gets no planted flow (case 2).
``bullish_roll``           a pre-existing near-month call position; over 2-3 sessions 60-100%
                           of it is sold to close and 80-100% of that re-bought, as calendar
                           spreads, in a later expiry at the same or a higher strike (case 3).
``bearish_roll``           the same with puts, to the same or a lower strike.
``naked_close``            a pre-existing near-month position sold to close (70-100%) over 1-2
                           sessions with nothing opened elsewhere.
``call_selling_rally``     on a market rally day (+1.8-2.4 daily sigmas), calls 2-8% OTM sold to open at the bid for
                           about 1.2x the name's ordinary premium: call premium dominates (a
                           naive read says bullish) while the side-adjusted net is bearish
                           (seed 003, "Side before signal").
``earnings_ramp``          OI built in the first expiry after the report over the 3-4
                           sessions before it (accelerating; calls ~1.8x puts), then 60-80%
                           flushed within two sessions of the report (IV crush included).
``max_pain_pin``           the close of the last 3 sessions into a monthly expiry pulled
                           towards that expiry's max-pain strike (computed from the chain
                           three sessions before).
``darkpool_distribution``  on the rally day, a TWAP-like sell program at the bid in the dark
                           pools of a name that closes up (0.5-0.9x its ordinary dark volume, so
                           the day's net is 30-45% of its dark notional, at the bid).
``premium_spike``          a name trades several times its ordinary option premium on a session
                           (seed 004 "Premium/Volume Multiples": 3-5x, 11x, 13x): the day's
                           premium is set to 6.5-10x the name's background premium of that
                           session, bought at the ask (~90% of the planted premium) in three
                           OTM contracts of two expiries 2-9 weeks out, with a further-OTM
                           strike sold against the main one (a spread). One name spikes on one
                           session; a second name has a first hit (3.5-5x) and a second, larger
                           one (9-13x) on the next session (seed 004: "11x daily after several
                           days of 3-5x").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainlens._jsonsafe import jsonable
from chainlens.sim._darkpool import Prints, program_prints
from chainlens.sim._rng import keyed, per_underlying
from chainlens.sim._tape import Legs, Orders
from chainlens.sim._universe import Universe
from chainlens.symbols import format_osi

if TYPE_CHECKING:
    from chainlens.sim._ctx import Ctx
    from chainlens.sim._paths import DailyPaths

__all__ = ["SCENARIO_KINDS", "ScenarioPlan", "plan_scenarios"]

SCENARIO_KINDS = (
    "accumulation",
    "deep_otm_put_build",
    "bullish_roll",
    "bearish_roll",
    "naked_close",
    "call_selling_rally",
    "earnings_ramp",
    "max_pain_pin",
    "darkpool_distribution",
    "premium_spike",
)

_EPOCH = np.datetime64("1970-01-01", "D")
#: Program ids of planted dark-pool programs are ``PROGRAM_BASE + scenario id``.
PROGRAM_BASE = 1_000_000
_BG_PROGRAM_BASE = 10_000_000
_INDEXLIKE = {"SPX", "SPY", "QQQ", "IWM", "NDX", "RUT", "VIX"}


@dataclass(slots=True)
class Scenario:
    """One planted scenario (see module notes)."""

    id: int
    kind: str
    uid: int
    ticker: str
    direction: str
    sessions: list[int]
    params: dict[str, Any] = field(default_factory=dict)
    # resolved contracts: name -> (exp_day, am, strike, put)
    contracts: dict[str, tuple[int, int, float, int]] = field(default_factory=dict)
    # planned orders: (session, contract name, side, open, size, style, partner name | None)
    orders: list[tuple[int, str, int, bool, int, int, str | None]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    resolved: bool = False


class ScenarioPlan:
    """The scenarios of one run and the hooks the market driver calls."""

    def __init__(
        self, scenarios: list[Scenario], seed: int, n_sessions: int, rally: int | None
    ) -> None:
        self.items = scenarios
        self.seed = seed
        self.n_sessions = n_sessions
        self.rally = rally
        self.by_uid: dict[int, list[Scenario]] = {}
        for sc in scenarios:
            self.by_uid.setdefault(sc.uid, []).append(sc)
        self.paths: DailyPaths | None = None
        #: spike names: session -> the name's option premium of the session at the contracts'
        #: values at the close (USD, background + planted), the base of the spike multiples
        self.day_premium: dict[int, dict[int, float]] = {
            sc.uid: {} for sc in scenarios if sc.kind == "premium_spike"
        }

    # ---------------------------------------------------------------- before the run
    def earn_offset(self, eo: np.ndarray) -> np.ndarray:
        """Earnings session per underlying, with the scenarios' catalysts placed."""
        eo = eo.copy()
        for sc in self.items:
            if "earnings_session" in sc.params:
                eo[sc.uid] = sc.params["earnings_session"]
        return eo

    def earn_jump(self, jump: np.ndarray) -> np.ndarray:
        """Report-day gaps, with the scenarios' catalyst gaps."""
        jump = jump.copy()
        for sc in self.items:
            if "earnings_jump" in sc.params:
                jump[sc.uid] = sc.params["earnings_jump"]
        return jump

    def apply_paths(self, paths: DailyPaths, uni: Universe) -> None:
        """The rally day (market factor up 1.8-2.4 daily sigmas) and the names that must close up on it."""
        self.paths = paths
        if self.rally is None:
            return
        r = self.rally
        g = keyed(self.seed, "scenario", 1)
        # a 1.8-2.4 sigma up day at the day's implied vol (about +1.0-1.5% at VIX 14, at most
        # +1.9%)
        sig = 0.72 * 0.15 * (paths.vix[max(r - 1, 0)] / 14.0) ** 0.8 / np.sqrt(252.0)
        target = float(min((1.8 + 0.6 * g.random()) * sig, 0.019))
        delta = target - paths.market[r]
        paths.market[r] = target
        # the vol regime answers the rally: VIX down ~10% on the day, later levels shifted too
        prev_vix = paths.vix[r - 1] if r > 0 else paths.vix[r]
        dv = -0.10 - float(np.log(paths.vix[r] / prev_vix)) if r > 0 else -0.10
        paths.vix[r:] *= np.exp(dv)
        paths.iv_scale[:] = (paths.vix / 14.0) ** 0.8
        for u in range(len(uni)):  # a loop over underlyings, not contracts
            if uni.ticker[u] == "VIX":
                paths.close[u] = paths.vix
                paths.prev_close[u, 1:] = paths.close[u, :-1]
            else:
                paths.shift_return(u, r, float(uni.beta[u] * delta))
        for sc in self.items:
            if sc.kind in ("call_selling_rally", "darkpool_distribution"):
                ret = float(np.log(paths.close[sc.uid, r] / paths.prev_close[sc.uid, r]))
                if ret < 0.012:
                    paths.shift_return(sc.uid, r, 0.012 + 0.01 * g.random() - ret)
                sc.details["return_on_day"] = round(
                    float(np.log(paths.close[sc.uid, r] / paths.prev_close[sc.uid, r])), 5
                )

    # ---------------------------------------------------------------- per session x chunk
    def on_listing(self, ctx: Ctx) -> None:
        """Resolve contracts at the first session, seed pre-existing positions, place pins."""
        lo, hi = int(ctx.uids[0]), int(ctx.uids[-1])
        for uid in range(lo, hi + 1):
            for sc in self.by_uid.get(uid, []):
                if ctx.s == 0 and not sc.resolved:
                    _resolve(sc, ctx, self.seed, None if self.paths is None else self.paths.close)
                if sc.kind == "max_pain_pin" and ctx.s == sc.sessions[0]:
                    _place_pin(sc, ctx, self.paths)

    def orders(self, ctx: Ctx, bg: Orders) -> Orders | None:
        """The planted orders of this session and chunk."""
        rows = []
        lo, hi = int(ctx.uids[0]), int(ctx.uids[-1])
        self._record_premium(ctx, bg)
        for uid in range(lo, hi + 1):
            for sc in self.by_uid.get(uid, []):
                if sc.kind == "call_selling_rally" and ctx.s == self.rally and sc.resolved:
                    _size_call_selling(sc, ctx, bg)
                if sc.kind == "premium_spike" and ctx.s in sc.sessions and sc.resolved:
                    _plan_spike(sc, ctx)
                for o in sc.orders:
                    if o[0] == ctx.s:
                        rows.append((sc, o))
        if not rows:
            return None
        parts: list[Orders] = []
        for sc, (
            s,
            name,
            side,
            is_open,
            size,
            style,
            partner,
        ) in rows:  # a loop over planted orders
            c = ctx.find(sc.uid, *sc.contracts[name])
            if c < 0 or size <= 0:
                continue
            pc = ctx.find(sc.uid, *sc.contracts[partner]) if partner else -1
            g = keyed(self.seed, "scenario", 100 + sc.id, s, len(parts))
            n_clips = int(2 + g.integers(0, 4))
            sizes = np.full(n_clips, size // n_clips, dtype=np.int64)
            sizes[0] += size - sizes.sum()
            sizes = sizes[sizes > 0]
            n = len(sizes)
            ts = ctx.open_ns + (
                (0.03 + 0.9 * np.sort(g.random(n))) * (ctx.close_ns - ctx.open_ns)
            ).astype(np.int64)
            x = np.where(side > 0, 0.85 + 0.15 * g.random(n), 0.15 * g.random(n))
            if style == 3:
                x = np.full(n, 0.35 if side < 0 else 0.65)
            parts.append(
                Orders(
                    cidx=np.full(n, c, np.int64),
                    ts=ts,
                    side=np.full(n, side, np.int8),
                    size=sizes,
                    style=np.full(n, style, np.int8),
                    x=x,
                    n_legs=np.where(style == 1, 2 + g.integers(0, 3, n), 1).astype(np.int64),
                    exch=g.integers(0, 16, n).astype(np.int64),
                    partner=np.full(n, pc, np.int64),
                    partner_side=np.full(n, -side, np.int8),
                    open_pref=np.full(n, 1.0 if is_open else 0.0),
                    forced=np.ones(n, bool),
                    program=np.full(n, sc.id, np.int64),
                )
            )
        return Orders.concat(parts) if parts else None

    def _record_premium(self, ctx: Ctx, bg: Orders) -> None:
        """The background premium of the session of each spike name in the chunk (size x
        value at the close x 100, both legs of spreads)."""
        lo, hi = int(ctx.uids[0]), int(ctx.uids[-1])
        mine = [u for u in self.day_premium if lo <= u <= hi]
        if not mine:
            return
        prem = bg.size * ctx.theo[bg.cidx] * 100.0
        two = (bg.style == 3) & (bg.partner >= 0)
        prem = prem + np.where(two, bg.size * ctx.theo[np.maximum(bg.partner, 0)] * 100.0, 0.0)
        by = np.bincount(ctx.pos[bg.cidx], weights=prem, minlength=len(ctx.uids))
        for u in mine:  # a loop over the spike names only
            self.day_premium[u][ctx.s] = float(by[u - lo])

    def rescale(
        self, ctx: Ctx, planted: Orders, bg: Legs, bg_px: np.ndarray, pl: Legs, pl_px: np.ndarray
    ) -> bool:
        """Scale planted call sales up (in place) until, at the prices they actually trade,
        call premium beats put premium and the side-adjusted net turns bearish."""
        changed = False
        for uid in range(int(ctx.uids[0]), int(ctx.uids[-1]) + 1):
            for sc in self.by_uid.get(uid, []):
                if sc.kind == "premium_spike" and ctx.s in sc.sessions:
                    changed |= _rescale_spike(
                        sc, ctx, planted, bg, bg_px, pl, pl_px, self.day_premium[uid]
                    )
                    continue
                if sc.kind != "call_selling_rally" or ctx.s != self.rally:
                    continue
                mine = ctx.pos[bg.cidx] == uid - int(ctx.uids[0])
                prem = bg_px[mine] * bg.size[mine] * 100.0
                call = ctx.is_call[bg.cidx[mine]]
                buy = bg.side[mine] > 0
                call_p, put_p = float(prem[call].sum()), float(prem[~call].sum())
                net = float(prem[call == buy].sum() - prem[call != buy].sum())
                need = 1.15 * max(put_p - call_p, net, 0.0) + 0.1 * float(prem.sum())
                sel = pl.program == sc.id
                got = float((pl_px[sel] * pl.size[sel] * 100.0).sum())
                if 0 < got < need:
                    f = need / got * 1.02
                    rows = planted.program == sc.id
                    planted.size[rows] = np.ceil(planted.size[rows] * f).astype(np.int64)
                    sc.details["sold"] = {
                        k: int(np.ceil(v * f)) for k, v in sc.details.get("sold", {}).items()
                    }
                    changed = True
                sc.details["premium_usd"] = round(max(got, need), 0)
                sc.details["background_premium_usd"] = round(float(prem.sum()), 0)
        return changed

    def prints(self, ctx: Ctx, bg: Prints) -> Prints | None:
        """Background programs (about 6% of names a day) and the planted distribution."""
        parts: list[Prints] = []
        n = len(ctx.uids)
        u = per_underlying(self.seed, "darkpool", 10_000 + ctx.s, ctx.uids, np.ones(n, np.int64), 4)
        shares = np.bincount(bg.grp, weights=bg.size, minlength=n)
        eq = ctx.uni.kind[ctx.uids] != 0
        for i in np.flatnonzero(eq & (u[:, 0] < 0.06) & (shares > 0)).tolist():
            side = 1 if u[i, 1] < 0.5 else -1
            k = int(12 + u[i, 2] * 20)
            pid = _BG_PROGRAM_BASE + ctx.s * 100_000 + int(ctx.uids[i])
            parts.append(
                program_prints(
                    i,
                    side,
                    int(shares[i] * (0.4 + u[i, 3])),
                    k,
                    ctx.open_ns,
                    ctx.close_ns,
                    pid,
                    keyed(self.seed, "darkpool", 20_000 + ctx.s, int(ctx.uids[i])).random((k, 2)),
                )
            )
        for i, uid in enumerate(ctx.uids.tolist()):
            for sc in self.by_uid.get(uid, []):
                if sc.kind == "darkpool_distribution" and ctx.s == self.rally:
                    g = keyed(self.seed, "scenario", 200 + sc.id, ctx.s)
                    k = int(30 + g.integers(0, 20))
                    # The planted program must make the day a distribution whatever the name's
                    # background tilt (background programs included). With B and S the shares
                    # placed at the ask and at the bid, T all shares, and 80% of the program's
                    # slices at the bid: (B - S - 0.8 P) / (T + P) <= -0.25 needs
                    # P >= (B - S + 0.25 T) / 0.55; a 10% margin on top.
                    day = Prints.concat([bg, *parts])
                    mine = day.grp == i
                    at_ask = float(day.size[mine & (day.x >= 1.0)].sum())
                    at_bid = float(day.size[mine & (day.x <= 0.0)].sum())
                    floor = (at_ask - at_bid + 0.25 * float(day.size[mine].sum())) / 0.55
                    total = int(max(max(shares[i], 1000) * sc.params["multiple"], 1.1 * floor))
                    sc.details["program_shares"] = total
                    sc.details["slices"] = k
                    parts.append(
                        program_prints(
                            i,
                            -1,
                            total,
                            k,
                            ctx.open_ns,
                            ctx.close_ns,
                            PROGRAM_BASE + sc.id,
                            g.random((k, 2)),
                        )
                    )
        return Prints.concat(parts) if parts else None

    def after_session(self, ctx: Ctx, oi_end: np.ndarray) -> None:
        """Nothing to do after a session (kept for symmetry)."""

    def events(self, sessions: list[dt.date]) -> list[tuple[dt.date, str, str, str]]:
        """Extra events: none (catalysts are earnings rows already)."""
        return []

    def to_json(self, sessions: list[dt.date]) -> list[dict[str, Any]]:
        """The ``scenarios.json`` records."""
        out = []
        for sc in self.items:
            if not sc.resolved or (not sc.contracts and sc.kind != "darkpool_distribution"):
                continue
            contracts = []
            for exp_day, am, strike, put in sc.contracts.values():
                root = sc.params["roots"][am]
                contracts.append(
                    format_osi(
                        root,
                        (_EPOCH + np.timedelta64(exp_day, "D")).astype(dt.date),
                        "P" if put else "C",
                        strike,
                    )
                )
            contracts = list(dict.fromkeys(contracts))  # a spike's block on its main strike
            out.append(
                {
                    "id": sc.id,
                    "kind": sc.kind,
                    "ticker": sc.ticker,
                    "contracts": contracts,
                    "sessions": [sessions[s].isoformat() for s in sc.sessions],
                    "direction": sc.direction,
                    "details": jsonable(sc.details),
                }
            )
        return out


# -------------------------------------------------------------------- planning
def plan_scenarios(
    uni: Universe,
    sessions: list[dt.date],
    seed: int,
    *,
    enabled: bool = True,
    story_end: bool = False,
) -> ScenarioPlan:
    """Choose scenarios, tickers and sessions for this seed (nothing is resolved yet).

    ``story_end`` (the demo) places every scenario so that it shows in the last two sessions
    (the ones a demo reports): the rally day is the second-last session; OI builds, rolls and
    closes trade until the second-last session (their flow is in its tape, their OI change in
    the last chain); one earnings ramp is flushed by then and another builds into a report
    on the last session; the max-pain pin is on the last monthly expiry of the run.
    """
    d = len(sessions)
    if not enabled or d < 2:
        return ScenarioPlan([], seed, d, None)
    g = keyed(seed, "scenario", 0)
    stocks = [u for u in np.flatnonzero(uni.kind == 2).tolist()][:400]
    g.shuffle(stocks)
    others = [u for u in np.flatnonzero(uni.kind == 1).tolist() if uni.ticker[u] not in _INDEXLIKE]
    g.shuffle(others)
    free = stocks + others
    items: list[Scenario] = []
    rally = int(g.integers(1, d)) if d >= 3 else d - 1
    if story_end:  # the first reported session; the last one stays an ordinary day
        rally = d - 2
    sdays = [int((np.datetime64(x, "D") - _EPOCH).astype(np.int64)) for x in sessions]

    def take(pred=lambda u: True) -> int | None:
        for i, u in enumerate(free):
            if pred(u):
                return free.pop(i)
        return None

    def add(
        kind: str, uid: int | None, direction: str, sess: list[int], **params: Any
    ) -> Scenario | None:
        if uid is None or not sess:
            return None
        params["sdays"] = sdays
        params["seed"] = seed
        sc = Scenario(len(items), kind, int(uid), str(uni.ticker[uid]), direction, sess, params)
        items.append(sc)
        return sc

    is_stock = lambda u: uni.kind[u] == 2  # noqa: E731
    # multi-session OI scenarios need their last trade session <= d - 2 (seen in the next chain)
    n_acc = 1 + int(g.random() < 0.5)
    for i_acc in range(n_acc):
        L = int(g.integers(3, 6))
        flush = 2 if d >= L + 4 else 1
        if d >= L + flush + 2:
            a = int(g.integers(0, d - L - flush - 1))
            if story_end:  # catalyst and flush two (three) sessions before the end
                flush = 1
                a = d - 2 - i_acc - L
            c = a + L
            add(
                "accumulation",
                take(is_stock),
                "bullish",
                list(range(a, c + flush)),
                acc=L,
                catalyst=c,
                flush=flush,
                earnings_session=c,
                earnings_jump=float(np.log(1.08 + 0.11 * g.random())),
                otm=0.06 + 0.06 * g.random(),
                fracs=list(0.3 + 0.3 * g.random(L)),
                flush_frac=0.6 + 0.25 * g.random(),
            )
    n_put = 1 + int(g.random() < 0.4)
    for i_put in range(n_put):
        L = int(g.integers(3, 6))
        if d >= L + 2:
            a = int(g.integers(0, d - L - 1))
            if story_end:
                a = d - 1 - L - i_put
            add(
                "deep_otm_put_build",
                take(),
                "bearish",
                list(range(a, a + L)),
                otm=0.15 + 0.05 * g.random(),
                fracs=list(0.3 + 0.5 * g.random(L)),
            )
    for kind, right in (("bullish_roll", 0), ("bearish_roll", 1)):
        R = int(g.integers(2, 4))
        if d >= R + 2:
            a = int(g.integers(0, d - R - 1))
            if story_end:
                a = d - 1 - R
            add(
                kind,
                take(),
                "bullish" if right == 0 else "bearish",
                list(range(a, a + R)),
                right=right,
                roll_frac=0.6 + 0.4 * g.random(),
                reopen=0.8 + 0.2 * g.random(),
                up=int(g.integers(0, 3)),
            )
    R = int(g.integers(1, 3))
    if d >= R + 2:
        a = int(g.integers(0, d - R - 1))
        if story_end:
            a = d - 1 - R
        right = int(g.random() < 0.4)
        add(
            "naked_close",
            take(),
            "exit_bullish" if right == 0 else "exit_bearish",
            list(range(a, a + R)),
            right=right,
            close_frac=0.7 + 0.3 * g.random(),
        )
    for _ in range(1 + int(g.random() < 0.5)):
        add(
            "call_selling_rally",
            take(lambda u: uni.beta[u] > 0.8),
            "bearish",
            [rally],
            multiple=1.2 + 0.3 * g.random(),
        )
    if d >= 7:
        ramp = int(g.integers(3, 5))
        e = int(g.integers(ramp, d - 2))
        if story_end:  # the flush ends in the first reported session, seen in the last chain
            e = d - 3
        add(
            "earnings_ramp",
            take(is_stock),
            "bullish",
            list(range(e - ramp, min(e + 2, d - 1))),
            ramp=ramp,
            earnings_session=e,
            earnings_jump=float((1 if g.random() < 0.6 else -1) * (0.04 + 0.05 * g.random())),
            flush_frac=0.6 + 0.2 * g.random(),
        )
        if story_end:  # an event build: OI ramps into a report on the last session
            ramp2 = int(g.integers(3, 5))
            add(
                "earnings_ramp",
                take(is_stock),
                "bullish",
                list(range(d - 1 - ramp2, d)),
                ramp=ramp2,
                earnings_session=d - 1,
                earnings_jump=float((1 if g.random() < 0.6 else -1) * (0.04 + 0.05 * g.random())),
                flush_frac=0.6 + 0.2 * g.random(),
            )
    monthly = [i for i, s in enumerate(sessions) if i >= 3 and _is_monthly(s)]
    if monthly:
        p = monthly[int(g.integers(0, len(monthly)))]
        if story_end:
            p = monthly[-1]
        add(
            "max_pain_pin",
            take(),
            "neutral",
            list(range(p - 3, p + 1)),
            expiry_session=p,
            strength=0.2 + 0.1 * g.random(),
        )
    spy = np.flatnonzero(uni.ticker == "SPY").tolist()
    dp_uid = int(spy[0]) if spy else take(lambda u: uni.beta[u] > 0.6)
    if dp_uid is not None:
        add("darkpool_distribution", dp_uid, "bearish", [rally], multiple=0.5 + 0.4 * g.random())
    # premium spikes (seed 004 multiples scanner): at least 3 earlier sessions in the average
    if d >= 4:
        for j in range(2 if d >= 5 else 1):
            # the demo: a one-day spike on the first reported session, and a first hit there
            # with the second, larger one on the last session
            s1 = d - 2 + j if story_end else int(g.integers(3 + j, d))
            sess = [s1] if j == 0 else [s1 - 1, s1]
            mult = (
                [6.5 + 3.5 * g.random()]
                if j == 0
                else [3.5 + 1.5 * g.random(), 9.0 + 4.0 * g.random()]
            )
            bull = bool(g.random() < 0.75)
            # the least active free name (seed 004: the scanner is for odd flows in names
            # nobody watches, "~850k" of premium at 13x); a stock when one is free
            pool = [u for u in free if uni.kind[u] == 2] or [u for u in free if uni.kind[u] != 0]
            uid = min(pool, key=lambda u: (float(uni.activity[u]), u)) if pool else None
            if uid is not None:
                free.remove(uid)
            add(
                "premium_spike",
                uid,
                "bullish" if bull else "bearish",
                sess,
                right=0 if bull else 1,
                multiples=mult,
            )
    return ScenarioPlan(items, seed, d, rally)


def _date(day: int) -> dt.date:
    return (_EPOCH + np.timedelta64(int(day), "D")).astype(dt.date)


def _is_monthly(day: dt.date) -> bool:
    from chainlens import calendar as cal

    return cal.standard_monthly_expiry(day.year, day.month) == day


# -------------------------------------------------------------------- resolution
def _nearest(ctx: Ctx, sel: np.ndarray, target: float) -> int:
    idx = np.flatnonzero(sel)
    if len(idx) == 0:
        return -1
    return int(idx[np.argmin(np.abs(ctx.strike[idx] - target) + 1e-9 * ctx.strike[idx])])


def _expiries(ctx: Ctx, uid: int, after_day: int, am: int = 0) -> np.ndarray:
    m = (ctx.pos == uid - ctx.uids[0]) & (ctx.am == am) & (ctx.exp_day > after_day)
    return np.unique(ctx.exp_day[m])


def _contract(
    ctx: Ctx, uid: int, exp_day: int, put: int, target: float, *, below: bool = False
) -> tuple[int, int, float, int] | None:
    sel = (
        (ctx.pos == uid - ctx.uids[0])
        & (ctx.exp_day == exp_day)
        & (ctx.am == 0)
        & ((~ctx.is_call) == bool(put))
    )
    if below and (sel & (ctx.strike <= target)).any():
        sel = sel & (ctx.strike <= target)
    if below and (sel & (ctx.strike <= target)).any():
        sel = sel & (ctx.strike <= target)
    i = _nearest(ctx, sel, target)
    if i < 0:
        return None
    return (int(exp_day), 0, float(ctx.strike[i]), int(put))


def _oi_of(ctx: Ctx, uid: int, c: tuple[int, int, float, int]) -> int:
    i = ctx.find(uid, *c)
    return int(ctx.oi_start[i]) if i >= 0 else 0


def _seed_position(ctx: Ctx, uid: int, c: tuple[int, int, float, int], size: int) -> None:
    i = ctx.find(uid, *c)
    ctx.oi_start[i] += size
    ctx.reserved[i] += size


def _resolve(sc: Scenario, ctx: Ctx, seed: int, paths_close: np.ndarray | None = None) -> None:
    """Pick the contracts from the first session's listing and lay out the orders."""
    uid = sc.uid
    p = uid - int(ctx.uids[0])
    spot = float(ctx.spot[p])
    pm_root = sc.ticker
    roots = {"SPX": ("SPXW", "SPX"), "NDX": ("NDXP", "NDX"), "RUT": ("RUTW", "RUT")}.get(
        sc.ticker, (pm_root, pm_root)
    )
    sc.params["roots"] = roots
    sdays = sc.params["sdays"]
    last_day = sdays[sc.sessions[-1]] + 3
    exps = _expiries(ctx, uid, last_day)
    if len(exps) == 0:
        return
    day_vol = float(ctx.extra.get("day_volume", {}).get(uid, 0.0)) or 5000.0
    pr = sc.params
    if sc.kind in ("accumulation", "deep_otm_put_build"):
        far = np.array(
            [e for e in exps.tolist() if e >= last_day + 25 and _is_monthly(_date(e))],
            dtype=np.int64,
        )
        exp = int(far[0] if len(far) else exps[-1])
        put = 1 if sc.kind == "deep_otm_put_build" else 0
        target = spot * (1 + pr["otm"]) if put == 0 else spot * (1 - pr["otm"])
        c = _contract(ctx, uid, exp, put, target, below=put == 1)
        if c is None:
            return
        sc.contracts["target"] = c
        ev = float(ctx.extra["exp_volume"][ctx.find(uid, *c)]) if "exp_volume" in ctx.extra else 0.0
        base = max(_oi_of(ctx, uid, c), int(0.03 * day_vol), int(8 * ev), 300)
        # each session +30-60% of the baseline, and well above the strike's own daily volume
        acc_sizes = [int(round(max(f * base, 4 * ev))) for f in pr["fracs"]]
        style = [1, 1, 2]
        for j, sz in enumerate(acc_sizes):
            sc.orders.append((sc.sessions[j], "target", 1, True, sz, style[j % 3], None))
        sc.details.update(strike=c[2], baseline_oi=base, opened=acc_sizes, spot=round(spot, 2))
        if sc.kind == "deep_otm_put_build":
            near = _contract(ctx, uid, exp, 1, spot * 0.94)
            if near is not None and near[2] != c[2]:
                sc.details["bypassed_strike"] = near[2]
        else:
            total = sum(acc_sizes)
            fl = int(round(pr["flush_frac"] * total))
            k = pr["flush"]
            for j in range(k):
                part = fl // k + (fl % k if j == 0 else 0)
                sc.orders.append(
                    (pr["catalyst"] + j, "target", -1, False, part, 2 if j == 0 else 1, None)
                )
            sc.details.update(
                catalyst_session=pr["catalyst"],
                catalyst_gap=round(pr["earnings_jump"], 4),
                flushed=fl,
            )
    elif sc.kind in ("bullish_roll", "bearish_roll", "naked_close"):
        put = pr["right"]
        monthly = np.array([e for e in exps.tolist() if _is_monthly(_date(e))], dtype=np.int64)
        near_exp = int(monthly[0] if len(monthly) else exps[0])
        later = exps[exps >= near_exp + 45]
        later_m = np.array([e for e in later.tolist() if _is_monthly(_date(e))], dtype=np.int64)
        later = later_m if len(later_m) else later
        mny = 1.04 if put == 0 else 0.96
        c_from = _contract(ctx, uid, near_exp, put, spot * mny)
        if c_from is None:
            return
        sc.contracts["from"] = c_from
        pos = int(max(3 * _oi_of(ctx, uid, c_from), 0.08 * day_vol, 1500))
        _seed_position(ctx, uid, c_from, pos)
        sc.details.update(position=pos, from_expiry=_date(near_exp).isoformat())
        n = len(sc.sessions)
        if sc.kind == "naked_close":
            closed = int(pos * pr["close_frac"])
            for j, s in enumerate(sc.sessions):
                part = closed // n + (closed % n if j == 0 else 0)
                sc.orders.append((s, "from", -1, False, part, 2 if j % 2 == 0 else 1, None))
            sc.details["closed"] = closed
        else:
            if len(later) == 0:
                return
            to_exp = int(later[0])
            # the same or a higher strike for calls, the same or a lower one for puts
            step = float(ctx.strike[ctx.find(uid, *c_from)])
            sel = (
                (ctx.pos == p)
                & (ctx.exp_day == to_exp)
                & (ctx.am == 0)
                & ((~ctx.is_call) == bool(put))
            )
            ks = np.unique(ctx.strike[sel])
            ks = ks[ks >= step] if put == 0 else ks[::-1][ks[::-1] <= step]
            if len(ks) == 0:
                return
            k_to = float(ks[min(pr["up"], len(ks) - 1)])
            sc.contracts["to"] = (to_exp, 0, k_to, put)
            closed = int(pos * pr["roll_frac"])
            reopened = int(closed * pr["reopen"])
            for j, s in enumerate(sc.sessions):
                part_c = closed // n + (closed % n if j == 0 else 0)
                part_o = reopened // n + (reopened % n if j == 0 else 0)
                # calendar spreads: sell the near leg to close, buy the far leg to open
                sc.orders.append((s, "from", -1, False, part_o, 3, "to"))
                if part_c > part_o:
                    sc.orders.append((s, "from", -1, False, part_c - part_o, 1, None))
            sc.details.update(closed=closed, reopened=reopened)
    elif sc.kind == "call_selling_rally":
        pass  # contracts are chosen on the rally day, from that day's chain
    elif sc.kind == "earnings_ramp":
        e = pr["earnings_session"]
        # the first expiry still listed after the flush session (the report is before the open)
        post = _expiries(ctx, uid, sdays[min(e + 1, len(sdays) - 1)])
        exp = int(post[0] if len(post) else exps[-1])
        legs = {"c_atm": (0, 1.0), "c_up": (0, 1.05), "p_atm": (1, 1.0), "p_dn": (1, 0.95)}
        for name, (put, m) in legs.items():
            c = _contract(ctx, uid, exp, put, spot * m)
            if c is not None:
                sc.contracts[name] = c
        ramp = pr["ramp"]
        unit = max(0.01 * day_vol, 150.0)
        w = np.array([1.0, 1.6, 2.6, 4.0])[-ramp:]
        opened: dict[str, int] = {}
        for j in range(ramp):
            for name in sc.contracts:
                sz = int(
                    unit
                    * w[j]
                    * (1.8 if name.startswith("c") else 1.0)
                    * (1.0 if name.endswith("atm") else 0.6)
                )
                sc.orders.append((e - ramp + j, name, 1, True, sz, 1 if j % 2 else 2, None))
                opened[name] = opened.get(name, 0) + sz
        for name, tot in opened.items():
            fl = int(tot * pr["flush_frac"])
            for j, s in enumerate((e, e + 1)):
                if s < len(sc.sessions) + sc.sessions[0]:
                    sc.orders.append(
                        (s, name, -1, False, fl // 2 + (fl % 2 if j == 0 else 0), 1, None)
                    )
        sc.details.update(
            earnings_session=e,
            opened=opened,
            flush_frac=round(pr["flush_frac"], 3),
            gap=round(pr["earnings_jump"], 4),
        )
    elif sc.kind == "max_pain_pin":
        # a large straddle position at the strike nearest where the price will stand three
        # sessions before expiry makes that strike the max-pain strike of the expiry
        exp = sdays[pr["expiry_session"]]
        sel = (ctx.pos == p) & (ctx.exp_day == exp) & (ctx.am == 0)
        if not sel.any() or paths_close is None:
            return
        s_ref = float(paths_close[uid, sc.sessions[0]])
        i = _nearest(ctx, sel & ctx.is_call, s_ref)
        k0 = float(ctx.strike[i])
        other = sel & (ctx.strike != k0)
        m = int(
            3.0
            * max(
                ctx.oi_start[other & ctx.is_call].sum(),
                ctx.oi_start[other & ~ctx.is_call].sum(),
                500,
            )
        )
        for put in (0, 1):
            _seed_position(ctx, uid, (exp, 0, k0, put), m)
        sc.details.update(pin_position=m, seeded_strike=k0)
    sc.resolved = True


def _pick_calls(sc: Scenario, ctx: Ctx) -> bool:
    """Calls to sell on the rally day: the first strikes at or above the morning price whose
    value at the close is at least ``max(0.15, 0.6% of spot)`` (so they never trade at a zero
    bid), in the first expiry 8+ days out."""
    uid = sc.uid
    p = uid - int(ctx.uids[0])
    spot = float(ctx.spot[p])
    morning = float(ctx.grid[p, 0])
    exps = _expiries(ctx, uid, ctx.sday + 8)
    if len(exps) == 0:
        return False
    exp = int(exps[0])
    n_k = int(2 + keyed(sc.params["seed"], "scenario", 300 + sc.id).integers(0, 2))
    sel = (ctx.pos == p) & (ctx.exp_day == exp) & (ctx.am == 0) & ctx.is_call
    sel &= (ctx.strike >= morning) & (ctx.theo >= max(0.15, 0.006 * spot))
    idx = np.flatnonzero(sel)
    idx = idx[np.argsort(ctx.strike[idx], kind="stable")][:n_k]
    for j, i in enumerate(idx.tolist()):
        sc.contracts[f"call{j}"] = (exp, 0, float(ctx.strike[i]), 0)
    if not sc.contracts:
        return False
    sc.details["strikes"] = sorted({c[2] for c in sc.contracts.values()})
    return True


def _size_call_selling(sc: Scenario, ctx: Ctx, bg: Orders) -> None:
    """Size the call sales against the name's background premium of the day."""
    if sc.orders or (not sc.contracts and not _pick_calls(sc, ctx)):
        return
    p = sc.uid - int(ctx.uids[0])
    mine = ctx.pos[bg.cidx] == p
    c_ = bg.cidx[mine]
    prem_each = bg.size[mine] * ctx.theo[c_] * 100.0
    call = ctx.is_call[c_]
    buy = bg.side[mine] > 0
    prem = float(prem_each.sum())
    call_p, put_p = float(prem_each[call].sum()), float(prem_each[~call].sum())
    net = float(
        prem_each[(call & buy) | (~call & ~buy)].sum()
        - prem_each[(call & ~buy) | (~call & buy)].sum()
    )
    # enough call selling to make calls dominate the premium while the signed net turns bearish
    target = sc.params["multiple"] * max(
        abs(net) + 0.2 * prem, 2.5 * (put_p - call_p) + 0.2 * prem, 0.45 * prem, 5e4
    )
    idx = [ctx.find(sc.uid, *c) for c in sc.contracts.values()]
    px = np.maximum(ctx.theo[idx], 0.05)
    share = px / px.sum()  # more premium in the nearer (dearer) strikes
    sold = {}
    for j, name in enumerate(sc.contracts):
        # sales print at the bid, below the value at the close: size for 70% of it
        sz = int(np.ceil(target * share[j] / (0.7 * px[j] * 100.0)))
        sc.orders.append((ctx.s, name, -1, True, sz, 2 if j == 0 else 1, None))
        sold[name] = sz
    sc.details.update(
        sold=sold, premium_usd=round(target, 0), background_premium_usd=round(prem, 0)
    )


#: Premium spike legs: name -> (expiry slot, moneyness for calls (puts mirror it), side,
#: share of the planted premium, order style). Slot 0: the first expiry 14+ days out (the
#: standard monthly when one is within 45 days); slot 1: the next monthly 40+ days out.
_SPIKE_LEGS = {
    "main": (0, 0.03, 1, 0.35, 1),
    "main_block": (0, 0.03, 1, 0.15, 2),  # the main strike again, as a block
    "next": (0, 0.06, 1, 0.20, 1),
    "later": (1, 0.05, 1, 0.20, 2),
    "short": (0, 0.10, -1, 0.10, 0),
}


def _pick_spike(sc: Scenario, ctx: Ctx) -> bool:
    """Contracts of a premium spike from the session's listing (module notes)."""
    uid = sc.uid
    p = uid - int(ctx.uids[0])
    spot = float(ctx.spot[p])
    put = int(sc.params["right"])
    exps = _expiries(ctx, uid, ctx.sday + 14)
    if len(exps) == 0:
        return False
    monthly = [e for e in exps.tolist() if _is_monthly(_date(e))]
    e0 = next((e for e in monthly if e <= ctx.sday + 45), int(exps[0]))
    later = [e for e in monthly if e >= ctx.sday + 40 and e > e0]
    e1 = later[0] if later else int(exps[-1])
    sel_live = ctx.theo >= max(0.05, 0.002 * spot)
    used: set[tuple[int, float]] = set()
    for name, (slot, m, _, _, _) in _SPIKE_LEGS.items():
        if name == "main_block":
            continue
        exp = e0 if slot == 0 else e1
        target = spot * (1 - m if put else 1 + m)
        sel = (
            (ctx.pos == p)
            & (ctx.exp_day == exp)
            & (ctx.am == 0)
            & ((~ctx.is_call) == bool(put))
            & sel_live
        )
        for k in used:
            if k[0] == exp:
                sel &= ctx.strike != k[1]
        i = _nearest(ctx, sel, target)
        if i < 0:
            continue
        used.add((int(exp), float(ctx.strike[i])))
        sc.contracts[name] = (int(exp), 0, float(ctx.strike[i]), put)
    if "main" not in sc.contracts:
        sc.contracts.clear()
        return False
    sc.contracts["main_block"] = sc.contracts["main"]
    sc.details["strikes"] = sorted({c[2] for c in sc.contracts.values()})
    sc.details["expiries"] = sorted({_date(c[0]).isoformat() for c in sc.contracts.values()})
    return True


def _plan_spike(sc: Scenario, ctx: Ctx) -> None:
    """The spike's orders of this session, sized from the contracts' values at the close (the
    sizes are set against the background at traded prices by :func:`_rescale_spike`)."""
    if any(o[0] == ctx.s for o in sc.orders):
        return
    if not sc.contracts and not _pick_spike(sc, ctx):
        return
    unit = 1e6  # planted premium before rescaling (USD); only the proportions matter here
    for name, (_, _, side, share, style) in _SPIKE_LEGS.items():
        if name not in sc.contracts:
            continue
        i = ctx.find(sc.uid, *sc.contracts[name])
        px = max(float(ctx.theo[i]), 0.05) if i >= 0 else 1.0
        sz = max(int(np.ceil(unit * share / (px * 100.0))), 10)
        sc.orders.append((ctx.s, name, side, True, sz, style, None))


def _rescale_spike(
    sc: Scenario,
    ctx: Ctx,
    planted: Orders,
    bg: Legs,
    bg_px: np.ndarray,
    pl: Legs,
    pl_px: np.ndarray,
    day_premium: dict[int, float],
) -> bool:
    """Scale the spike's orders (in place) so that the name's premium of the session, at the
    prices the trades print, is ``multiple`` x its average premium over the (up to 20)
    earlier sessions (the scanner's base: seed 004's rolling average)."""
    j = sc.sessions.index(ctx.s)
    mult = float(sc.params["multiples"][j])
    mine = ctx.pos[bg.cidx] == sc.uid - int(ctx.uids[0])
    bg_prem = float((bg_px[mine] * bg.size[mine] * 100.0).sum())
    sel = pl.program == sc.id
    got = float((pl_px[sel] * pl.size[sel] * 100.0).sum())
    rows = planted.program == sc.id
    if got <= 0 or not rows.any():
        return False
    earlier = [day_premium[s] for s in range(max(0, ctx.s - 20), ctx.s) if s in day_premium]
    est_today = day_premium.get(ctx.s, 0.0)
    # traded prices vs values at the close, from the name's background of the session
    r = bg_prem / est_today if est_today > 0 else 1.0
    base = float(np.mean(earlier)) * r if earlier else bg_prem
    want = max(mult * max(base, 5e4) - bg_prem, 0.5 * bg_prem, 5e4)
    f = want / got
    planted.size[rows] = np.maximum(np.ceil(planted.size[rows] * f), 1).astype(np.int64)
    day_premium[ctx.s] = est_today + want / r
    bought = float((pl_px[sel] * pl.size[sel] * (pl.side[sel] > 0)).sum()) * 100.0
    by = sc.details.setdefault("by_session", {})
    by[str(ctx.day)] = {
        "multiple_planned": round(mult, 3),
        "average_premium_usd": round(base, 0),
        "background_premium_usd": round(bg_prem, 0),
        "background_contracts": int(bg.size[mine].sum()),
        "planted_premium_usd": round(want, 0),
        "planted_contracts": int(planted.size[rows].sum()),
        "planted_bought_share": round(bought / got, 4),
    }
    return True


def _place_pin(sc: Scenario, ctx: Ctx, paths: DailyPaths | None) -> None:
    """Max pain of the expiry from this chain's OI; pull the next closes towards it."""
    if paths is None:
        return
    p = sc.uid - int(ctx.uids[0])
    exp_day = ctx.sday + 0
    sel_u = ctx.pos == p
    # the monthly expiry that is the pin session's date
    target_day = int(sc.params["expiry_day"]) if "expiry_day" in sc.params else None
    if target_day is None:
        exps = np.unique(ctx.exp_day[sel_u])
        exps = exps[exps >= ctx.sday]
        # the pin session is ``expiry_session``: 3 sessions ahead; its date is the first
        # listed expiry at least 3 calendar days out that is a standard monthly
        cands = [
            e
            for e in exps.tolist()
            if _is_monthly((_EPOCH + np.timedelta64(e, "D")).astype(dt.date)) and e > ctx.sday
        ]
        if not cands:
            return
        target_day = cands[0]
    sel = sel_u & (ctx.exp_day == target_day)
    ks = np.unique(ctx.strike[sel])
    oi = ctx.oi_start[sel].astype(np.float64)
    k = ctx.strike[sel]
    call = ctx.is_call[sel]
    pay = (
        np.where(
            call[None, :],
            np.maximum(ks[:, None] - k[None, :], 0.0),
            np.maximum(k[None, :] - ks[:, None], 0.0),
        )
        * oi[None, :]
    ).sum(axis=1)
    kstar = float(ks[int(np.argmin(pay))])
    sess = sc.sessions[1:]
    spot0 = float(ctx.spot[p])
    paths.pull_to(sc.uid, sess, kstar, sc.params["strength"])
    sc.contracts["pin_call"] = (int(target_day), 0, kstar, 0)
    sc.contracts["pin_put"] = (int(target_day), 0, kstar, 1)
    sc.details.update(
        max_pain=kstar,
        expiry=str((_EPOCH + np.timedelta64(target_day, "D")).astype(dt.date)),
        spot_before=round(spot0, 4),
        spot_at_expiry=round(float(paths.close[sc.uid, sess[-1]]), 4),
    )
    sc.resolved = True
    del exp_day
