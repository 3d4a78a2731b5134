"""The simulation driver: sessions outside, chunks of underlyings inside.

For each session and chunk: list the series, carry the OI over, price the chain from the
SSVI surface, generate the tape and dark-pool prints, plant the scenario flow, flag every
trade opening or closing, and append the canonical tables to the session's Parquet files.
Memory is bounded by one chunk plus the per-contract OI state.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtri

from chainlens import calendar as cal
from chainlens import schema
from chainlens.conventions import DEFAULT_RATE
from chainlens.errors import ConfigError
from chainlens.sim._config import ProgressFn, SimConfig, SimManifest
from chainlens.sim._ctx import Ctx
from chainlens.sim._darkpool import VENUES, Prints, background_prints, nbbo
from chainlens.sim._listing import decode_keys, listing_for_session
from chainlens.sim._oi import (
    assign_open_close,
    initial_oi,
    oi_after,
    stable_argsort,
    strike_spacing,
)
from chainlens.sim._paths import DailyPaths, daily_paths, intraday_grid
from chainlens.sim._rng import per_underlying
from chainlens.sim._scenarios import ScenarioPlan, plan_scenarios
from chainlens.sim._tape import (
    CONDITIONS,
    EXCHANGES,
    STYLE_NAMES,
    Legs,
    Orders,
    expand_orders,
    price_legs,
    sample_orders,
)
from chainlens.sim._universe import DAILY_EXPIRY, INDEX_ROOTS, Universe, build_universe
from chainlens.sim._vol import atm_theta, black76, quote, ssvi_w
from chainlens.sim._writer import TRUTH_PRINTS, TRUTH_TRADES, SessionWriters, write_table
from chainlens.symbols import format_osi_array

__all__ = ["MACRO_EVENTS", "build_demo_market", "macro_schedule", "simulate_market"]

_EPOCH = np.datetime64("1970-01-01", "D")
_YEAR_NS = 365.0 * 86400.0 * 1e9
#: Half-spread as a fraction of the option's value near the money, by listing tier (tier 0:
#: SPX/SPY/QQQ/IWM, full spread ~1.5-2% as in the real Cboe files; tier 1: large caps ~2.5%).
_SPREAD_FRAC = np.array([0.0075, 0.011, 0.02, 0.03])
#: Per-ticker overrides (the real NDX files quote 3.6-6.7% wide, RUT 3.3-3.9%, VIX ~18%).
_SPREAD_TICKER = {"NDX": 0.021, "RUT": 0.015, "VIX": 0.075}
_SNAPSHOT_LAG_NS = 15 * 60 * 1_000_000_000  # chain snapshot 15 min after the close
_R = DEFAULT_RATE
#: Dark-pool notional per session per unit of activity (USD): SPY (activity 55) ~ 10 bn,
#: a large cap (activity 3-16) 0.5-3 bn; the 30-name demo ~ 45 bn a session.
_DARK_USD_PER_ACTIVITY = 0.18e9
#: Expected orders per chunk (bounds peak memory: ~1 KB per order in flight).
_CHUNK_ORDERS = 600_000.0
#: Chunks generated concurrently (threads).
_IN_FLIGHT = 2


@dataclass(slots=True)
class ChunkState:
    """Per-contract state carried from one session to the next (sorted keys)."""

    keys: np.ndarray | None = None
    oi: np.ndarray | None = None  # OI at the end of the last simulated session
    reserved: np.ndarray | None = None  # contracts held by planted positions


def _sessions(start: dt.date, n: int) -> list[dt.date]:
    days = cal.sessions_in_range(start, start + dt.timedelta(days=int(n * 1.6) + 15))
    out = [d.astype(dt.date) for d in days[:n]]
    if len(out) < n:
        raise ConfigError(f"not enough sessions after {start} in the calendar")
    return out


def _root_arrays(uni: Universe) -> tuple[np.ndarray, np.ndarray]:
    """PM root and AM root per underlying."""
    pm = uni.ticker.copy()
    am = uni.ticker.copy()
    for t, (a, p) in INDEX_ROOTS.items():
        sel = uni.ticker == t
        pm[sel] = p
        am[sel] = a or p
    return pm, am


class _Market:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.sessions = _sessions(cfg.start, cfg.sessions)
        ext = _sessions(cfg.start, cfg.sessions + 70)
        self.ext_open = np.asarray([_ns(cal.session_open(d)) for d in ext], dtype=np.int64)
        uni = build_universe(cfg.underlyings, cfg.seed, cfg.sessions)
        self.plan: ScenarioPlan = plan_scenarios(
            uni, self.sessions, cfg.seed, enabled=cfg.scenarios, story_end=cfg.story_end
        )
        uni = replace(uni, earn_offset=self.plan.earn_offset(uni.earn_offset))
        self.uni = uni
        n = len(uni)
        u8 = per_underlying(cfg.seed, "universe", 99, np.arange(n), np.ones(n, np.int64), 2)
        self.earn_move = np.where(
            uni.kind == 2, uni.iv0 / np.sqrt(252.0) * (2.5 + 2.0 * u8[:, 0]), 0.0
        )
        sign = np.where(u8[:, 1] < 0.55, 1.0, -1.0)
        jump = self.plan.earn_jump(sign * self.earn_move * (0.6 + 0.8 * u8[:, 0]))
        # scheduled macro events: instants (ns) and implied SPX move, over the extended calendar
        sched = macro_schedule(ext)
        self.macro_ns = np.array(
            [_ns(_et(ext[j], MACRO_EVENTS[k][0])) for j, k in sched], dtype=np.int64
        )
        self.macro_move = np.array([MACRO_EVENTS[k][1] for _, k in sched])
        ev_sd = np.zeros(cfg.sessions)
        for j, k in sched:  # a loop over events only
            if j < cfg.sessions:
                ev_sd[j] = np.hypot(ev_sd[j], MACRO_EVENTS[k][1])
        self.paths: DailyPaths = daily_paths(uni, cfg.sessions, cfg.seed, jump, event_sd=ev_sd)
        self.plan.apply_paths(self.paths, uni)
        self.pm_root, self.am_root = _root_arrays(uni)
        act = uni.activity
        self.trade_mean = cfg.trades_per_underlying * n * act / act.sum()
        self.mean_size = 10.0
        self.is_index_like = np.isin(uni.ticker, ["SPX", "SPY", "QQQ", "IWM", "NDX", "RUT"]) | (
            uni.kind == 1
        )
        self.total_oi = 20.0 * self.trade_mean * self.mean_size * np.where(uni.kind == 0, 1.6, 1.0)
        self.exclusive = np.full(n, -1, dtype=np.int64)
        ex = list(EXCHANGES)
        for t in ("SPX", "RUT", "VIX"):
            self.exclusive[uni.ticker == t] = ex.index("CBOE")
        self.exclusive[uni.ticker == "NDX"] = ex.index("PHLX")
        self.put_buy_bias = np.where(uni.kind == 2, 0.0, 0.06)
        # OI spread in moneyness: single names wider (the real AMD/TSLA/NFLX chains hold 8-17%
        # of OI within 5% of spot, SPX 20-31%, SPY 30-44%)
        self.oi_width = np.where(self.is_index_like, 1.0, 2.5)
        self.oi_width = np.where(uni.ticker == "SPY", 1.0, self.oi_width)
        self.oi_shape = _oi_shape(uni, self.is_index_like)
        self.spread_frac = _SPREAD_FRAC[uni.tier]
        for t, f in _SPREAD_TICKER.items():
            self.spread_frac = np.where(uni.ticker == t, f, self.spread_frac)
        self.states: dict[int, ChunkState] = {}
        self.n_contracts = 0
        self.n_trades = 0
        self.n_prints = 0
        self.trade_seq = 0
        self._print_row = 0
        self._pool = ThreadPoolExecutor(max_workers=_IN_FLIGHT)

    # ------------------------------------------------------------------ session x chunk
    def chunk(self, s: int, day: dt.date, uids: np.ndarray, st: ChunkState) -> dict[str, pa.Table]:
        cfg, uni, paths = self.cfg, self.uni, self.paths
        sday = int((np.datetime64(day, "D") - _EPOCH).astype(np.int64))
        open_ns = _ns(cal.session_open(day))
        close_ns = _ns(cal.session_close(day))
        snap_ns = close_ns + _SNAPSHOT_LAG_NS
        iv_scale = paths.iv_scale[s]
        iv30 = uni.iv0[uids] * np.where(uni.ticker[uids] == "VIX", iv_scale**0.3, iv_scale)
        spot = paths.close[uids, s]
        keys = listing_for_session(uni, uids, day, paths.prev_close[uids, s], iv30, st.keys)
        n_c = len(keys)
        uid, exp_day, am, km, put = decode_keys(keys)
        pos = uid - uids[0]
        strike = km / 1000.0
        is_call = put == 0
        exp_dates = _EPOCH + exp_day.astype("timedelta64[D]")
        settle_ns = cal.settlement_instants(exp_dates, np.where(am == 1, "AM", "PM")).astype(
            np.int64
        )
        t_snap = (settle_ns - snap_ns) / _YEAR_NS
        # carry over OI
        if st.keys is None or st.oi is None or st.reserved is None:
            oi_start = None
            reserved = np.zeros(n_c, np.int64)
        else:
            j = np.searchsorted(st.keys, keys)
            j = np.minimum(j, len(st.keys) - 1)
            hit = st.keys[j] == keys
            oi_start = np.where(hit, st.oi[j], 0)
            reserved = np.where(hit, st.reserved[j], 0)
        vix_like = (uni.ticker[uids] == "VIX")[pos]
        carry = (_R - uni.div_yield[uids])[pos]
        s_c = spot[pos]
        tp = np.maximum(t_snap, 0.0)
        fwd = np.where(vix_like, s_c, s_c * np.exp(carry * tp))
        lk = np.log(strike / fwd)
        # earnings bump: expiries settling after a report still ahead of this snapshot
        eo = uni.earn_offset[uids]
        ev_ahead = (eo > s) & (eo < len(self.ext_open))
        ev_ns = np.where(
            ev_ahead, self.ext_open[np.clip(eo, 0, len(self.ext_open) - 1)], np.iinfo(np.int64).max
        )
        ev_var = np.where(settle_ns > ev_ns[pos], self.earn_move[uids][pos] ** 2, 0.0)
        # scheduled macro events still ahead of this snapshot: their implied move (scaled by
        # the name's beta; VIX and names with |beta| < 0.3 left out) for expiries settling after
        beta_ev = np.where(
            (uni.ticker[uids] == "VIX") | (np.abs(uni.beta[uids]) < 0.3), 0.0, uni.beta[uids]
        )[pos]
        for t_ev, mv in zip(self.macro_ns.tolist(), self.macro_move.tolist(), strict=True):
            if t_ev > snap_ns:  # a loop over the few scheduled events
                ev_var = ev_var + np.where(settle_ns > t_ev, (beta_ev * mv) ** 2, 0.0)
        term_beta = np.full(len(uids), 0.06 - 0.35 * max(iv_scale - 1.0, 0.0))[pos]
        theta = atm_theta(iv30[pos], tp, term_beta, ev_var)
        w = ssvi_w(lk, theta, uni.rho[uids][pos])
        iv = np.sqrt(np.where(tp > 0, w / np.maximum(tp, 1e-12), np.nan))
        theo, dlt, gam = black76(fwd, strike, tp, _R, w, is_call, s_c)
        z = lk / np.sqrt(np.maximum(w, 1e-8))
        tier = uni.tier[uids][pos]
        sfrac = self.spread_frac[uids][pos] * np.where(tp < 3.0 / 365.0, 1.4, 1.0)
        penny = tier <= 1
        bid, ask, _ = quote(theo, z, sfrac, penny)
        grid = intraday_grid(paths, uids, s, cfg.seed, iv30 / np.sqrt(252.0))
        # starting OI
        blk_r = (keys >> 26) * 2 + put  # sort block for spacing: (uid, exp, am) then right
        order_r = np.lexsort((strike, blk_r))
        sp = np.empty(n_c)
        sp[order_r] = strike_spacing(blk_r[order_r], strike[order_r])
        sp_rel = sp / s_c
        third = np.isin(exp_day, self._monthly_days(exp_day))
        if oi_start is None:
            u_oi = per_underlying(
                cfg.seed, "oi", 0, uids, np.bincount(pos, minlength=len(uids)), 1
            )[:, 0]
            r_win, r_level = _round_levels(strike, s_c)
            # one bin per (underlying, expiry, root, right, window): dense block codes, then a
            # single int64 key (np.unique on rows would sort a structured copy: slow)
            blk_code = np.unique(blk_r, return_inverse=True)[1].reshape(-1).astype(np.int64)
            r_key = blk_code * (int(r_win.max() - r_win.min()) + 1) + (r_win - r_win.min())
            r_bin = np.unique(r_key, return_inverse=True)[1].reshape(-1)
            oi_start = initial_oi(
                self.total_oi[uids][pos],
                tp,
                third,
                np.log(strike / s_c),
                put == 1,
                self.is_index_like[uids][pos],
                uni.pc_tilt[uids][pos],
                sp_rel,
                pos,
                u_oi,
                iv=iv30[pos],
                round_mult=_ROUND_X[r_level]
                * _near_round(np.log(strike / s_c), r_level, self.oi_shape[4][uids][pos] > 0),
                round_bin=r_bin,
                round_w=_ROUND_W[r_level],
                width=self.oi_width[uids][pos],
                leaps_w=np.where(self.is_index_like[uids], 0.12, 0.6)[pos],
                put_mu=self.oi_shape[0][uids][pos],
                near_share=self.oi_shape[1][uids][pos],
                tail_sd=self.oi_shape[2][uids][pos],
                call_sd=self.oi_shape[3][uids][pos],
                deep_thin=self.oi_shape[4][uids][pos],
            )
        ctx = Ctx(
            s=s,
            day=day,
            sday=sday,
            uids=uids,
            uni=uni,
            keys=keys,
            pos=pos,
            exp_day=exp_day,
            am=am,
            strike=strike,
            is_call=is_call,
            settle_ns=settle_ns,
            t_snap=t_snap,
            spot=spot,
            fwd=fwd,
            iv=iv,
            theo=theo,
            delta=dlt,
            gamma=gam,
            bid=bid,
            ask=ask,
            oi_start=oi_start,
            reserved=reserved,
            grid=grid,
            open_ns=open_ns,
            close_ns=close_ns,
        )
        # ---------------------------------------------------------------- the tape
        ret = np.abs(np.log(spot / paths.prev_close[uids, s])) / np.maximum(
            iv30 / np.sqrt(252.0), 1e-6
        )
        n_ord = np.round(self.trade_mean[uids] * (0.75 + 0.25 * np.minimum(ret, 4.0))).astype(
            np.int64
        )
        n_ord = np.maximum(n_ord, 1)
        t_days = exp_day - sday
        zero_dte = (t_days == 0) & (am == 0)
        daily_u = np.isin(uni.ticker[uids], list(DAILY_EXPIRY))[pos]
        w_t = (
            (t_days + 1.0) ** -0.9
            * np.where(third, 2.0, 1.0)
            * np.where(zero_dte & daily_u, 9.0, 1.0)
        )
        t_floor = np.where(self.is_index_like[uids][pos], 1.0 / 365.0, 7.0 / 365.0)
        z_eff = np.log(strike / s_c) / (iv30[pos] * np.sqrt(np.maximum(tp, t_floor)))
        # in-the-money series trade far less than out-of-the-money ones at the same distance
        itm_side = np.where(is_call, z_eff < 0, z_eff > 0)
        # index puts beyond 2 DTE trade mostly out of the money (hedges): their weight peaks
        # ~0.8 monthly sigmas below spot (about -3.5% for SPX, whatever the expiry), so the put
        # OI that flow builds sits below spot, as in the real SPX files (0DTE stays at the money)
        z_m = np.log(strike / s_c) / (iv30[pos] * np.sqrt(np.maximum(tp, 1.0 / 12.0)))
        idx_put = (put == 1) & self.is_index_like[uids][pos]
        z_c = np.where(idx_put & (z_eff <= 0) & (t_days >= 3), z_m + 0.8, z_eff)
        # single names trade further from spot (real AMD/TSLA/NFLX: ~38% of volume within 5%
        # of spot, SPX/SPY/QQQ 75-90%)
        lam_k = np.where(itm_side, 0.3, np.where(is_call, 0.7, 1.1))
        lam_k = lam_k * np.where(self.is_index_like[uids][pos] | itm_side, 1.0, 3.5)
        w_k = np.exp(-np.abs(z_c) / lam_k)
        # series deep in the money hardly trade (their premium share would otherwise dwarf
        # the real figures for > 10% ITM: median 8% over the real index, ETF and large-cap
        # snapshots; single names 11-27%, SPY/QQQ 0-16%)
        lm = np.log(strike / s_c)
        w_k = w_k * np.where(
            itm_side,
            np.where(
                self.is_index_like[uids][pos],
                np.exp(-np.maximum(np.abs(lm) - 0.05, 0.0) / 0.03),
                np.exp(-np.abs(lm) / 0.05),
            ),
            1.0,
        )
        put_w = np.where(put == 1, np.where(self.is_index_like[uids][pos], 0.8, 0.75), 1.0)
        # no background trades in contracts without a bid (nobody sells at zero); the snapshot
        # quotes of series expiring today or tomorrow say little about their trading day
        wc = w_t * w_k * put_w * sp_rel * ((bid > 0) | (t_days <= 1)) + 1e-12
        # AM-settled series trade until the session before expiry; PM 0DTE until settlement.
        norm = np.bincount(pos, weights=wc, minlength=len(uids))
        cum = np.cumsum(wc)
        start_cum = np.r_[0.0, np.cumsum(norm)[:-1]]
        wcum = pos + (cum - start_cum[pos]) / norm[pos]
        wcum[np.r_[pos[1:] != pos[:-1], True]] = pos[np.r_[pos[1:] != pos[:-1], True]] + 1.0
        t_close = np.where(uni.kind[uids] == 0, close_ns + _SNAPSHOT_LAG_NS, close_ns)
        size_scale = np.where(uni.kind[uids] == 0, 1.8, 1.0)
        u = per_underlying(cfg.seed, "tape", s, uids, n_ord, 13)
        orders = sample_orders(
            u[:, :12],
            wcum,
            n_ord,
            open_ns,
            t_close,
            size_scale,
            self.exclusive[uids],
            keys >> 26,
            self.put_buy_bias[uids],
        )
        exp_v = wc / norm[pos] * self.trade_mean[uids][pos] * self.mean_size
        ctx.extra["day_volume"] = {
            int(x): float(v)
            for x, v in zip(uids, self.trade_mean[uids] * self.mean_size, strict=True)
        }
        ctx.extra["exp_volume"] = exp_v
        self.plan.on_listing(ctx)
        # no background blocks or sweeps on contracts that hold planted positions (they would
        # blur the planted pattern); ordinary small prints stay
        held = reserved[orders.cidx] > 0
        if held.any():
            orders.style = np.where(held & (orders.style != 3), 0, orders.style).astype(np.int8)
            orders.n_legs = np.where(held, 1, orders.n_legs)
            orders.size = np.where(held, np.minimum(orders.size, 20), orders.size)
        # planted positions are invisible to the background's wish to open or close
        free_oi = np.maximum(oi_start - reserved, 0)
        # equilibrium OI / daily volume: ~1 for 0-2 DTE, 3 beyond (the real SPX files:
        # short-dated OI is about half to one day's volume)
        eq_m = np.where(t_days <= 2, 1.0, 3.0)
        r_eq = 1.0 / (1.0 + eq_m)
        orders.open_pref = np.clip(
            # sweeps open more often than they close; blocks mostly open (institutional)
            0.47
            + 0.35
            * (
                exp_v[orders.cidx] / (exp_v[orders.cidx] + free_oi[orders.cidx] + 1.0)
                - r_eq[orders.cidx]
            )
            + np.where(orders.style == 1, 0.12, 0.0)
            + np.where(orders.style == 2, 0.25, 0.0),
            0.0,
            0.95,
        )
        # a sweep, block or spread rarely closes most of a contract's open interest at once
        big = (orders.style != 0) & (orders.size > 0.4 * free_oi[orders.cidx])
        orders.open_pref = np.where(big, np.maximum(orders.open_pref, 0.9), orders.open_pref)
        u_open = u[:, 12]
        w_year = np.where(tp > 0, w / np.maximum(tp, 1e-12), iv30[pos] ** 2)

        def priced(
            o: Orders, u_o: np.ndarray, group_base: int
        ) -> tuple[Legs, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            lg = expand_orders(o, u_o, group_base)
            # a PM 0DTE series stops trading at its settlement
            lg.ts = np.minimum(lg.ts, settle_ns[lg.cidx] - 1_000_000_000)
            sp_t = ctx.spot_at(pos[lg.cidx], lg.ts)
            b_, a_, px_ = price_legs(
                lg, sp_t, strike, is_call, settle_ns, carry, vix_like, w_year, _R, sfrac, penny
            )
            # nobody sells at a zero bid: such background sells become buys at the ask
            fix = (b_ <= 0) & (lg.side < 0) & ~lg.forced
            if fix.any():
                lg.side = np.where(fix, 1, lg.side).astype(np.int8)
                px_ = np.where(fix, a_, px_)
            return lg, sp_t, b_, a_, px_

        legs, spot_t, lbid, lask, lpx = priced(orders, u_open, 0)
        # planted flow is sized against the background it must stand out from
        planted = self.plan.orders(ctx, orders)
        if planted is not None:
            n_bg = len(orders.cidx)
            pl = priced(planted, np.zeros(len(planted.cidx)), n_bg)
            if self.plan.rescale(ctx, planted, legs, lpx, pl[0], pl[4]):
                pl = priced(planted, np.zeros(len(planted.cidx)), n_bg)
            legs = Legs.concat([legs, pl[0]])
            spot_t, lbid, lask, lpx = (
                np.concatenate([x, y])
                for x, y in zip((spot_t, lbid, lask, lpx), pl[1:], strict=True)
            )
        is_open = assign_open_close(
            legs.cidx, legs.size, legs.want_open, legs.forced, oi_start, reserved
        )
        oi_end = oi_after(n_c, legs.cidx, legs.size, is_open, oi_start)
        signed_pl = np.where(legs.forced, np.where(is_open, legs.size, -legs.size), 0)
        reserved_end = np.maximum(
            reserved + np.bincount(legs.cidx, weights=signed_pl, minlength=n_c).astype(np.int64), 0
        )
        reserved_end = np.minimum(reserved_end, oi_end)
        # order the tape by time
        o = stable_argsort(legs.ts)
        n_t = len(o)
        # chunk-local ids; _finalize adds the session offsets in chunk order (deterministic)
        tid_base = np.int64(0)
        tid = np.arange(n_t, dtype=np.int64)
        # ---------------------------------------------------------------- chain table
        vol = np.bincount(legs.cidx, weights=legs.size, minlength=n_c).astype(np.int64)
        last = np.full(n_c, np.nan)
        last[legs.cidx[o]] = lpx[o]  # later trades overwrite earlier ones
        roots = np.where(am == 1, self.am_root[uid], self.pm_root[uid])
        roots_a = pa.array(roots, pa.string())
        symbols = format_osi_array(
            roots_a,
            pa.array(exp_dates.astype("datetime64[D]")),
            pa.array(np.where(is_call, "C", "P"), pa.string()),
            pa.array(strike),
        )
        und_a = pa.array(uni.ticker[uid], pa.string())
        settle_a = pa.array(np.where(am == 1, "AM", "PM"), pa.string())
        right_a = pa.array(np.where(is_call, "C", "P"), pa.string())
        exp_a = pa.array(exp_dates.astype("datetime64[D]"), pa.date32())
        day_a = pa.array(np.full(n_c, np.datetime64(day, "D")), pa.date32())
        live = tp > 0
        chain = pa.Table.from_arrays(
            [
                day_a,
                pa.array(np.full(n_c, snap_ns), pa.timestamp("ns", tz="UTC")),
                und_a,
                roots_a,
                symbols,
                exp_a,
                settle_a,
                pa.array(strike),
                right_a,
                pa.array(np.full(n_c, 100, np.int32)),
                pa.array(bid),
                pa.array(ask),
                pa.array(last, mask=np.isnan(last)),
                pa.array(vol),
                pa.array(oi_start),
                pa.array(iv, mask=~live),
                pa.array(dlt),
                pa.array(gam),
                pa.array(s_c),
                pa.array(np.zeros(n_c, bool)),
            ],
            schema=schema.CHAIN,
        )
        # ---------------------------------------------------------------- trades table
        c = legs.cidx[o]
        ci = pa.array(c)
        trades = pa.Table.from_arrays(
            [
                pa.array(legs.ts[o], pa.timestamp("ns", tz="UTC")),
                pa.array(np.full(n_t, np.datetime64(day, "D")), pa.date32()),
                und_a.take(ci),
                roots_a.take(ci),
                symbols.take(ci),
                exp_a.take(ci),
                settle_a.take(ci),
                pa.array(strike[c]),
                right_a.take(ci),
                pa.array(np.full(n_t, 100, np.int32)),
                pa.array(lpx[o]),
                pa.array(legs.size[o]),
                pa.array(lbid[o]),
                pa.array(lask[o]),
                pa.array(EXCHANGES, pa.string()).take(pa.array(legs.exch[o])),
                pa.array(CONDITIONS, pa.string()).take(pa.array(legs.cond[o])),
                pa.array(np.round(spot_t[o], 4)),
                pa.array(tid),
            ],
            schema=schema.TRADES,
        )
        grp = legs.group[o]
        prog = legs.program[o]
        truth = pa.Table.from_arrays(
            [
                pa.array(tid),
                pa.array(np.array(["sell", "buy"], dtype=object))
                .take(pa.array((legs.side[o] > 0).astype(np.int64)))
                .cast(pa.string()),
                pa.array(np.array(["close", "open"], dtype=object))
                .take(pa.array(is_open[o].astype(np.int64)))
                .cast(pa.string()),
                pa.array(STYLE_NAMES, pa.string()).take(pa.array(legs.style[o].astype(np.int64))),
                pa.array(grp + tid_base, mask=grp < 0),
                pa.array(prog, mask=prog < 0),
            ],
            schema=TRUTH_TRADES,
        )
        # ---------------------------------------------------------------- dark pool
        prints, truth_p = self._prints(ctx, s)
        self.plan.after_session(ctx, oi_end)
        st.keys, st.oi, st.reserved = keys, oi_end, reserved_end
        return {
            "chain": chain,
            "trades": trades,
            "truth_trades": truth,
            "prints": prints,
            "truth_prints": truth_p,
        }

    def _finalize(self, t: dict[str, pa.Table], sday: int) -> dict[str, pa.Table]:
        """Offset a chunk's local trade ids, group ids and print rows; count rows."""
        base = np.int64(sday) * 10_000_000_000 + self.trade_seq
        n_t = t["trades"].num_rows
        tr = t["trades"]
        t["trades"] = tr.set_column(
            tr.schema.get_field_index("trade_id"),
            tr.schema.field("trade_id"),
            pc.add(tr["trade_id"], base),
        )
        tt = t["truth_trades"]
        for name in ("trade_id", "group_id"):
            i = tt.schema.get_field_index(name)
            tt = tt.set_column(i, tt.schema.field(name), pc.add(tt[name], base))
        t["truth_trades"] = tt
        tp = t["truth_prints"]
        t["truth_prints"] = tp.set_column(
            0, tp.schema.field("row"), pc.add(tp["row"], np.int64(self._print_row))
        )
        self.trade_seq += n_t
        self._print_row += tp.num_rows
        self.n_contracts += t["chain"].num_rows
        self.n_trades += n_t
        self.n_prints += t["prints"].num_rows
        return t

    def _prints(self, ctx: Ctx, s: int) -> tuple[pa.Table, pa.Table]:
        cfg, uni = self.cfg, self.uni
        uids = ctx.uids
        eq = uni.kind[uids] != 0
        n_p = np.where(
            eq,
            np.round(
                cfg.prints_per_underlying
                * np.sqrt(uni.activity[uids] / np.median(uni.activity))
                * 0.5
            ),
            0,
        ).astype(np.int64)
        u = per_underlying(cfg.seed, "darkpool", s, uids, n_p, 5)
        # lots so the day's expected dark notional is _DARK_USD_PER_ACTIVITY x activity
        # (E[exp(1.5 + 0.9 z)] = exp(1.905) round lots per print)
        usd = _DARK_USD_PER_ACTIVITY * uni.activity[uids]
        lot = usd / (np.maximum(n_p, 1) * ctx.spot * 100.0 * np.exp(1.905))
        one = np.ones(len(uids), np.int64)
        z_name = ndtri(per_underlying(cfg.seed, "darkbias", 0, uids, one, 1)[:, 0])
        z_day = ndtri(per_underlying(cfg.seed, "darkbias", s + 1, uids, one, 1)[:, 0])
        bias = 0.06 * z_name + 0.06 * z_day
        parts = [background_prints(u[:, :4], n_p, ctx.open_ns, ctx.close_ns, lot, bias)]
        extra = self.plan.prints(ctx, parts[0])
        if extra is not None:
            parts.append(extra)
        p = Prints.concat(parts)
        o = np.lexsort((p.grp, p.ts))
        g = p.grp[o]
        spot = ctx.spot_at(g, p.ts[o])
        bid, ask = nbbo(spot, np.abs(np.sin(p.ts[o] * 1e-9 + g)))
        px = np.round(bid + p.x[o] * (ask - bid), 4)
        n = len(o)
        tick_a = pa.array(uni.ticker[uids][g], pa.string())
        ts_a = pa.array(p.ts[o], pa.timestamp("ns", tz="UTC"))
        prints = pa.Table.from_arrays(
            [
                ts_a,
                pa.array(np.full(n, np.datetime64(ctx.day, "D")), pa.date32()),
                tick_a,
                pa.array(px),
                pa.array(p.size[o]),
                pa.array(bid),
                pa.array(ask),
                pa.array(VENUES, pa.string()).take(pa.array(p.venue[o])),
            ],
            schema=schema.PRINTS,
        )
        prog = p.program[o]
        scen = np.where((prog >= 1_000_000) & (prog < 2_000_000), prog - 1_000_000, -1)
        truth = pa.Table.from_arrays(
            [
                pa.array(np.arange(n, dtype=np.int64)),
                tick_a,
                ts_a,
                pa.array(np.array(["sell", "none", "buy"], dtype=object))
                .take(pa.array(p.side[o].astype(np.int64) + 1))
                .cast(pa.string()),
                pa.array(prog, mask=prog < 0),
                pa.array(scen, mask=scen < 0),
            ],
            schema=TRUTH_PRINTS,
        )
        return prints, truth

    _monthly_cache: dict[int, bool] = {}

    def _monthly_days(self, exp_day: np.ndarray) -> np.ndarray:
        """Standard monthly expiry days among ``exp_day``."""
        uniq = np.unique(exp_day)
        out = []
        for d in uniq.tolist():
            if d not in self._monthly_cache:
                date = (_EPOCH + np.timedelta64(d, "D")).astype(dt.date)
                self._monthly_cache[d] = cal.standard_monthly_expiry(date.year, date.month) == date
            if self._monthly_cache[d]:
                out.append(d)
        return np.asarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ whole run
    def run(self, out_dir: Path, progress: ProgressFn | None) -> SimManifest:
        try:
            return self._run(out_dir, progress)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, out_dir: Path, progress: ProgressFn | None) -> SimManifest:
        t0 = time.perf_counter()
        cfg = self.cfg
        out_dir.mkdir(parents=True, exist_ok=True)
        n = len(self.uni)
        chunks = _chunks(self.trade_mean[:n], cfg.chunk_underlyings, _CHUNK_ORDERS)
        files: dict[str, list[Path]] = {"chain": [], "trades": [], "prints": []}
        truth: list[Path] = []
        for s, day in enumerate(self.sessions):
            w = SessionWriters(out_dir, day.isoformat())
            self._print_row = 0
            self.trade_seq = 0
            sday = int((np.datetime64(day, "D") - _EPOCH).astype(np.int64))
            try:
                # chunks are generated two at a time on threads (NumPy releases the GIL) and
                # written in chunk order; every id is assigned in that order
                futs: deque[Future[dict[str, pa.Table]]] = deque()
                for ci, uids in enumerate(chunks):
                    st = self.states.setdefault(ci, ChunkState())
                    futs.append(self._pool.submit(self.chunk, s, day, uids, st))
                    if len(futs) >= _IN_FLIGHT:
                        w.write_many(self._finalize(futs.popleft().result(), sday))
                    if progress is not None:
                        progress(f"session {day.isoformat()}", ci + 1, len(chunks))
                while futs:
                    w.write_many(self._finalize(futs.popleft().result(), sday))
            finally:
                while futs:
                    futs.popleft().cancel()
                w.close()
            for k in ("chain", "trades", "prints"):
                files[k].append(w.paths[k])
            truth += [w.paths["truth_trades"], w.paths["truth_prints"]]
            if progress is not None:
                progress("sessions", s + 1, len(self.sessions))
        files["bars"] = [write_table(self._bars(), out_dir / "bars.parquet")]
        files["events"] = [write_table(self._events(), out_dir / "events.parquet")]
        files["sectors"] = [write_table(self._sectors(), out_dir / "sectors.parquet")]
        scen = self.plan.to_json(self.sessions)
        sp = out_dir / "scenarios.json"
        sp.write_text(
            json.dumps(
                {
                    "seed": cfg.seed,
                    "sessions": [d.isoformat() for d in self.sessions],
                    "scenarios": scen,
                },
                indent=1,
            )
        )
        return SimManifest(
            out_dir=out_dir,
            config=cfg,
            sessions=list(self.sessions),
            underlyings=list(self.uni.ticker),
            files=files,
            truth=truth,
            scenarios_path=sp,
            scenarios=scen,
            n_contracts=self.n_contracts,
            n_trades=self.n_trades,
            n_prints=self.n_prints,
            elapsed_s=time.perf_counter() - t0,
        )

    def _bars(self) -> pa.Table:
        uni, p = self.uni, self.paths
        n, d = p.close.shape
        uids = np.arange(n)
        hi = np.empty((n, d))
        lo = np.empty((n, d))
        op = np.empty((n, d))
        for s in range(d):  # a loop over sessions; the grid is regenerated from its stream
            iv30 = uni.iv0 * p.iv_scale[s]
            g = intraday_grid(p, uids, s, self.cfg.seed, iv30 / np.sqrt(252.0))
            hi[:, s], lo[:, s], op[:, s] = g.max(axis=1), g.min(axis=1), g[:, 0]
        days = np.array([np.datetime64(x, "D") for x in self.sessions])
        vol = np.round(
            1e6 * uni.activity[:, None] * (1 + np.abs(np.log(p.close / p.prev_close)) * 50)
        ).astype(np.int64)
        return pa.Table.from_arrays(
            [
                pa.array(np.tile(days, n), pa.date32()),
                pa.array(np.repeat(uni.ticker, d), pa.string()),
                pa.array(np.round(op.ravel(), 4)),
                pa.array(np.round(hi.ravel(), 4)),
                pa.array(np.round(lo.ravel(), 4)),
                pa.array(np.round(p.close.ravel(), 4)),
                pa.array(vol.ravel()),
            ],
            schema=schema.BARS,
        )

    def _events(self) -> pa.Table:
        uni = self.uni
        ext = _sessions(self.cfg.start, self.cfg.sessions + 70)
        rows: list[tuple[dt.date, str, str, str]] = []
        for i in np.flatnonzero((uni.earn_offset >= 0) & (uni.earn_offset < len(ext))).tolist():
            rows.append(
                (ext[int(uni.earn_offset[i])], str(uni.ticker[i]), "earnings", "before open")
            )
        for j, kind in macro_schedule(ext):
            rows.append((ext[j], "*", kind, MACRO_EVENTS[kind][2]))
        rows += self.plan.events(self.sessions)
        rows.sort()
        return pa.Table.from_arrays(
            [
                pa.array([r[0] for r in rows], pa.date32()),
                pa.array([r[1] for r in rows]),
                pa.array([r[2] for r in rows]),
                pa.array([r[3] for r in rows]),
            ],
            schema=schema.EVENTS,
        )

    def _sectors(self) -> pa.Table:
        return pa.Table.from_arrays(
            [
                pa.array(list(self.uni.ticker), pa.string()),
                pa.array(list(self.uni.sector), pa.string()),
            ],
            schema=schema.SECTORS,
        )


#: Scheduled macro events: (kind, time of day ET, implied SPX move in the event, as a daily
#: log-return sd). The implied move is priced into every expiry that settles after the event
#: (its variance is added to the ATM total variance, scaled by the name's beta) and vanishes
#: once the event is past (the IV crush); the market factor's return on the event's session
#: gets the realized part (_VRP x the implied move) as an extra shock. Real CPI/FOMC days:
#: SPX implied event moves ~0.8-1.2%, realized absolute moves ~1% (2022-2024).
MACRO_EVENTS = {
    "CPI": (dt.time(8, 30), 0.0085, "consumer price index, 08:30 ET"),
    "FOMC": (dt.time(14, 0), 0.0075, "rate decision, 14:00 ET"),
}


def macro_schedule(days: list[dt.date]) -> list[tuple[int, str]]:
    """``(index into days, kind)`` of every CPI and FOMC event among ``days`` (sessions in
    order): CPI on the first Tuesday/Wednesday session dated the 10th-12th of its month,
    FOMC on every Wednesday session whose index is 12 modulo 30."""
    out: list[tuple[int, str]] = []
    cpi_months: set[tuple[int, int]] = set()
    for j, d in enumerate(days):  # a loop over sessions only
        if d.day in (10, 11, 12) and d.weekday() in (1, 2) and (d.year, d.month) not in cpi_months:
            cpi_months.add((d.year, d.month))
            out.append((j, "CPI"))
        if j % 30 == 12 and d.weekday() == 2:
            out.append((j, "FOMC"))
    return out


def _round_levels(strike: np.ndarray, spot0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How round each strike is at its name's price scale ``L = 10^floor(log10(spot))``
    (SPX 1000, SPY/QQQ 100, NDX 10000), as ``(bin, level)``: ``bin`` the index of the nearest
    multiple of ``L/10`` (the window the strike belongs to), ``level`` 0 plain, 1 on
    ``L/100``, 2 ``L/40``, 3 ``L/20``, 4 ``L/10``, 5 ``L/2``, 6 ``L``."""
    lvl = 10.0 ** np.floor(np.log10(np.maximum(spot0, 1e-9)))
    level = np.zeros(len(strike), np.int64)
    for i, frac in enumerate((100.0, 40.0, 20.0, 10.0, 2.0, 1.0)):
        q = lvl / frac
        on = np.abs(np.remainder(strike / q + 0.5, 1.0) - 0.5) < 1e-6
        level = np.where(on, i + 1, level)
    return np.floor(strike / (lvl / 10.0) + 0.5).astype(np.int64), level


#: Share weight of a strike within its window, by roundness level (plain, L/100, L/40, L/20,
#: L/10, L/2, L): the real SPX files hold, within 15% of spot, a median OI per strike on
#: multiples of 10/25/50/100 of 2/9/26/50 times that of a plain 5-point strike.
_ROUND_W = np.array([1.0, 2.0, 7.0, 16.0, 35.0, 35.0, 35.0])
#: Extra weight of the roundest strikes (L/2, L: SPX 4500/5000/4000, SPY 450/400): the real
#: files' largest OI strikes are these when they are near spot.
_ROUND_X = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.15, 1.15])


#: Put/call OI shape per product (:func:`chainlens.sim._oi.initial_oi`): put centre ``z``,
#: near-the-money share of the puts, sd of the put tail and of the calls (OTM sides).
#: Calibrated on the real Cboe files (docs/sim-calibration.md): SPX puts 0-5% below spot hold
#: ~10% of OI, 5-10% below 9%, beyond 10% 41% (a density falling away from spot); calls 0-5%
#: above 7%, beyond 5% 14%. NDX/RUT (put/call OI near 1 and 1.7) hold more of their puts near
#: the money, which keeps their zero gamma within 5% of spot (real NDX: 5-9% below).
_OI_SHAPE = {
    "SPX": (-1.15, 0.0, 2.0, 0.8, 0.5),
    "index": (-0.6, 0.3, 1.6, 0.8, 0.0),
    "index_etf": (-0.6, 0.0, 1.8, 0.8, 0.5),
    "other": (-0.5, 0.0, 1.0, 0.8, 0.0),
}


#: Extra weight of the round strikes (multiples of ``L/10``) near spot, for the products whose
#: deep put tail is thinned (SPX, SPY/QQQ/IWM): ``1 + NEAR_ROUND_X exp(-(ln(K/S)/sd)^2/2)``,
#: sd :data:`NEAR_ROUND_SD`. The real SPX/SPY/QQQ files' largest OI strike is a round strike
#: 0-16% from spot (SPX 4000 at 2-11% below, QQQ 300, SPY 400): positions are rolled to the
#: round strikes near the money, and without this the largest OI landed on whichever deep
#: round strike the flat put tail (20-35% below spot) happened to favour.
NEAR_ROUND_X = 0.25
NEAR_ROUND_SD = 0.06


def _near_round(log_m: np.ndarray, level: np.ndarray, on: np.ndarray) -> np.ndarray:
    """The near-spot round-strike factor (:data:`NEAR_ROUND_X`) per contract."""
    bump = NEAR_ROUND_X * np.exp(-0.5 * (log_m / NEAR_ROUND_SD) ** 2)
    return np.where(on & (level >= 4), 1.0 + bump, 1.0)


def _oi_shape(uni: Universe, index_like: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(put_mu, near_share, tail_sd, call_sd, deep_thin)`` per underlying
    (:data:`_OI_SHAPE`)."""
    cls = np.where(
        uni.ticker == "SPX",
        "SPX",
        np.where(uni.kind == 0, "index", np.where(index_like, "index_etf", "other")),
    )
    tab = np.array([_OI_SHAPE[c] for c in ("SPX", "index", "index_etf", "other")])
    code = np.searchsorted(np.array(["SPX", "index", "index_etf", "other"]), cls)
    return tuple(tab[code, j] for j in range(tab.shape[1]))


def _chunks(load: np.ndarray, max_names: int, max_load: float) -> list[np.ndarray]:
    """Contiguous ranges of underlyings with at most ``max_names`` names and, where possible,
    at most ``max_load`` expected orders (the heavy index names get chunks of their own)."""
    out: list[np.ndarray] = []
    a = 0
    n = len(load)
    while a < n:
        b = a + 1
        tot = float(load[a])
        while b < n and b - a < max_names and tot + load[b] <= max_load:
            tot += float(load[b])
            b += 1
        out.append(np.arange(a, b))
        a = b
    return out


def _et(day: dt.date, t: dt.time) -> dt.datetime:
    """``day`` at ``t`` New York time (aware)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, t, tzinfo=ZoneInfo("America/New_York"))


def _ns(x: dt.datetime) -> int:
    return int(x.timestamp()) * 1_000_000_000


def simulate_market(
    config: SimConfig, out_dir: Path, *, progress: ProgressFn | None = None
) -> SimManifest:
    """Simulate a multi-session options market and write its canonical Parquet files.

    Writes, in ``out_dir``: per session ``chain-YYYY-MM-DD.parquet``,
    ``trades-YYYY-MM-DD.parquet`` and ``prints-YYYY-MM-DD.parquet`` (schemas
    :data:`chainlens.schema.CHAIN`, ``TRADES``, ``PRINTS``); ``bars.parquet``,
    ``events.parquet``, ``sectors.parquet``; and apart from them the ground truth
    ``truth/trades-*.parquet``, ``truth/prints-*.parquet`` and ``scenarios.json``.

    Deterministic for a given config: the same seed gives byte-identical tables.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> m = simulate_market(SimConfig(underlyings=3, sessions=2, scenarios=False),
    ...                     pathlib.Path(tempfile.mkdtemp()))
    >>> len(m.files["chain"]), m.n_trades > 0
    (2, True)
    """
    return _Market(config).run(Path(out_dir), progress)


#: Underlyings of the demo market (``chainlens demo``).
DEMO_UNDERLYINGS = 33


def build_demo_market(
    out_dir: Path,
    *,
    seed: int = 7,
    underlyings: int = DEMO_UNDERLYINGS,
    sessions: int = 10,
    progress: ProgressFn | None = None,
) -> SimManifest:
    """The small demo market (SPX, SPY, QQQ, IWM, index products, ETFs, large caps; every
    scenario kind planted, all of them visible in the last two sessions, the ones the demo
    reports) that ``chainlens demo`` ingests and reports on.

    33 names (:data:`DEMO_UNDERLYINGS`, the universe's first 33: XLV, XLY and ORCL after the
    30 of earlier versions): with 30 the demo's last report read "6/16 names flip direction
    (37.5%)", seed 003's own figure, and with 32 its raw flip rate did; a demo must not repeat
    a seed's numbers (``tests/test_sim_calibration.py`` checks its headline figures
    against them)."""
    cfg = SimConfig(
        underlyings=underlyings,
        sessions=sessions,
        seed=seed,
        trades_per_underlying=2500,
        prints_per_underlying=80,
        story_end=True,
    )
    return simulate_market(cfg, Path(out_dir), progress=progress)
