"""The rule layer of the reports: one table of thresholds and one table of sentence rules.

Every sentence a report writes names the rule that produced it (``Sentence.rule``): the rule's
condition, the thresholds it reads, its sentence template and the seed section it follows are
data here, so that ``docs/rules.md`` (:func:`rules_markdown`) lists them all and a test can
check that no sentence is written outside the table. Thresholds are *looked up* where they
live (:data:`chainlens.market.RULES`, the seed-002 bands of :mod:`chainlens.oi`,
:class:`chainlens.flow.FlowConfig`, :mod:`chainlens.report._narrative`) and never restated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from chainlens.flow import FlowConfig
from chainlens.market import PCR_READING, name_type
from chainlens.market import RULES as MARKET_RULES
from chainlens.oi import PCR_BANDS, VOL_OI_BANDS
from chainlens.outcomes import MIN_EVENTS as OUTCOMES_MIN_EVENTS
from chainlens.report._model import FigureBook, Sentence
from chainlens.report._narrative import NOISE_PREMIUM_USD, PCR_WORDS
from chainlens.report._signals import PIN_NEAR_PCT, SIGNAL_THRESHOLDS

__all__ = [
    "RULES",
    "THRESHOLDS",
    "Rule",
    "band_words",
    "pcr_oi_words",
    "rule",
    "rules_markdown",
    "say",
    "vol_oi_words",
]

_FLOW = FlowConfig()

#: Every threshold a report sentence reads: ``name -> (value, unit, where it lives)``.
THRESHOLDS: Mapping[str, tuple[Any, str, str]] = MappingProxyType(
    {
        "side_confidence_high": (MARKET_RULES["side_confidence_high"], "fraction of premium at mid or unknown side", "market.RULES"),
        "side_confidence_low": (MARKET_RULES["unknown_share_low_confidence"], "fraction of premium at mid or unknown side", "market.RULES"),
        "deep_itm_delta": (_FLOW.deep_itm_delta, "|delta|", "FlowConfig"),
        "deep_itm_pct": (_FLOW.deep_itm_pct, "% of spot in the money", "FlowConfig"),
        "notable_min_premium_usd": (_FLOW.notable_min_premium_usd, "USD", "FlowConfig"),
        "notable_min_premium_share": (_FLOW.notable_min_premium_share, "fraction of the name's premium", "FlowConfig"),
        "noise_premium_usd": (NOISE_PREMIUM_USD, "USD", "report._narrative"),
        "vol_oi_oi_floor": (100, "contracts of open interest", "report.rules"),
        "vol_oi_table_half_width_pct": (5.0, "% of spot either side (Vol/OI by strike table)", "report.rules"),
        "pin_high_pct": (1.0, "% spot from max pain", "report.rules"),
        "pin_near_pct": (PIN_NEAR_PCT, "% spot from max pain", "report.rules"),
        "cluster_band_count": (3, "of the 5 largest OI clusters", "report.rules"),
        "realized_vol_min_returns": (10, "daily returns", "report.rules"),
        "concentration_strikes": (3, "strikes", "report.rules"),
        "gamma_zone_half_width_pct": (MARKET_RULES["gamma_zone_half_width_pct"], "% of spot", "market.RULES"),
        "structure_min_signals": (MARKET_RULES["structure_min_signals"], "aligned signals", "market.RULES"),
        "structure_min_dte": (MARKET_RULES["structure_min_dte"], "calendar days", "market.RULES"),
        "structure_max_dte": (MARKET_RULES["structure_max_dte"], "calendar days", "market.RULES"),
        "pcr_bands": (tuple(b[0] for b in PCR_BANDS), "put/call OI lower bounds", "oi.PCR_BANDS (seed 002)"),
        "vol_oi_bands": (tuple(b[0] for b in VOL_OI_BANDS), "volume/OI lower bounds", "oi.VOL_OI_BANDS (seed 002)"),
    }
)  # fmt: skip


def th(name: str) -> Any:
    """The value of a threshold of :data:`THRESHOLDS`."""
    return THRESHOLDS[name][0]


@dataclass(frozen=True, slots=True)
class Rule:
    """One sentence rule: where it writes, when, which thresholds, the template, the seed."""

    id: str
    section: str
    seed: str
    when: str
    template: str
    thresholds: tuple[str, ...] = ()


def _r(id_: str, section: str, seed: str, when: str, template: str, *ths: str) -> Rule:
    return Rule(id_, section, seed, when, template, tuple(ths))


#: Every sentence rule (templates: ``{0}``.. figure displays, ``{name}`` words).
RULES: tuple[Rule, ...] = (
    # ---- header and common
    _r("header.title", "header", "000 header", "always", "{t} — {lens} lens, report date {0}. Close {1}."),
    _r("header.eod", "header", "000 header", "always", "EOD only. This page reflects {t} options positioning from the market-close snapshot of {d}; intraday price and contract changes are not displayed."),
    _r("header.model", "header", "SPEC dealer model", "always", "Dealer model: {model}; greeks: {greeks}."),
    _r("header.greeks_missing", "header", "SPEC dealer model", "the snapshot carries no usable greeks (OI-only store)", "This store holds open interest without prices or greeks: every greeks-based figure (GEX, DEX, zero gamma, walls by gamma) prints n/a."),
    _r("header.newer", "header", "000 report chain", "a newer report of this ticker exists", "You are viewing an older report from {d}. A newer {lens} report of {t} is available for {newer}."),
    _r("header.latest", "header", "000 report chain", "an older report of this ticker exists and no newer", "This is the latest {lens} report of {t}; the previous one is from {older}."),
    _r("missing", "any", "001 missing data", "an input the section needs is absent", "{text}"),
    # ---- flow summary
    _r("flow.net", "flow_summary", "003 side decomposition", "trades stored", "Directional net premium {0} ({direction}) of {1} traded; deep in the money and box/conversion-like premium is {2} of the total and left out of every directional figure.", "deep_itm_delta", "deep_itm_pct"),
    _r("flow.top_strike", "flow_summary", "000 net premium by strike", "trades stored and directional net premium is not zero", "Largest directional net premium at {0}: {1}."),
    _r("flow.delta", "flow_summary", "issue 10 delta-adjusted notional", "trades stored with deltas", "Delta-adjusted notional (|Δ|·spot·size·multiplier) of the directional trades: bullish {0}, bearish {1}, net {2}."),
    _r("flow.raw", "flow_summary", "003 side decomposition", "trades stored", "Raw totals over all trades: side-adjusted net {0}; naive call/put premium ratio {1} (directional {2})."),
    _r("flow.flip", "flow_summary", "003 side before signal", "directional naive and side-adjusted labels differ", "The naive call/put premium read says {naive}, the side-adjusted read says {side}: a flip (side before signal)."),
    _r("flow.chain_volume", "flow_summary", "002 volume vs OI", "no trades stored, chain volume present", "Chain volume: calls {0}, puts {1} contracts; chain-estimated premium (volume × mid): calls {2}, puts {3}."),
    _r("flow.needs_trades", "flow_summary", "001 missing data", "no trades stored", "Aggressor side, net premium and notable prints need option trades, which this store does not hold for the session."),
    _r("pcr.volume", "flow_summary", "002 PCR bands", "always", "P/C volume ratio: {0} — {words}.", "pcr_bands"),
    _r("pcr.oi", "flow_summary", "002 PCR by name type", "always", "P/C OI ratio: {0} — {words} ({kind} reading, seed 002).", "pcr_bands"),
    # ---- notable prints
    _r("print.read", "notable_prints", "000/001 notable prints", "a print passes the notable rules (minimum premium, live contract, not deep ITM)", "{0} {right} {1} ({2} contracts, {3}, strike {4} vs spot, score {5}): {size} {kind}{clauses}.", "notable_min_premium_usd", "notable_min_premium_share", "noise_premium_usd"),
    _r("print.none", "notable_prints", "000/001 notable prints", "no print passes the notable rules", "No print met the notable-print rules this session (minimum premium {0}, contract alive after the next session, not deep in the money).", "notable_min_premium_usd", "notable_min_premium_share"),
    # ---- positioning
    _r("oi.adds", "institutional_positioning", "002 overnight OI change", "at least two sessions stored and a strike added OI", "Largest overnight OI additions (session {last}): {parts} contracts."),
    _r("oi.no_adds", "institutional_positioning", "002 overnight OI change", "two sessions stored, no addition", "No strike added open interest overnight."),
    _r("prem.concentration", "institutional_positioning", "000 premium concentration", "trades stored; strikes not deep in the money", "Today's directional {kind} premium is concentrated at {parts}.", "concentration_strikes", "deep_itm_pct"),
    _r("gex.regime", "institutional_positioning", "002 GEX regimes", "greeks present", "{consistency}Total GEX {0} and DEX {1}; the gamma profile at spot is {2}: {regime}."),
    _r("gex.na", "institutional_positioning", "002 GEX regimes", "no usable greeks", "GEX, DEX and the gamma profile are n/a: the snapshot carries no usable greeks."),
    _r("oi.clusters", "institutional_positioning", "002 OI clusters", "clusters present", "Largest OI clusters: {parts}.{read}", "cluster_band_count"),
    _r("walls", "institutional_positioning", "002 walls", "always", "Call wall {0}, put wall {1}, zero gamma {2}{reason}."),
    _r("walls.oi", "institutional_positioning", "002 walls", "no greeks, OI by strike present", "Call wall by open interest {0}, put wall by open interest {1}; gamma walls and zero gamma need greeks."),
    _r("hedging", "institutional_positioning", "003 hedging evidence", "trades stored", "{word}: directional puts bought {0} vs sold {1}; calls sold {2}; multi-leg (spreads, possible collars) {3}."),
    _r("max_pain", "institutional_positioning", "002 max pain pin", "a live expiry has max pain", "Max pain over the next expiries: {parts} ({trend}); spot is {last} from the nearest.{pin}", "pin_near_pct"),
    # ---- signal vs noise
    _r("sn.side", "signal_vs_noise", "003 unknown side", "trades stored", "{2} trades; {0} of premium traded at mid or with no usable quote, {3} in multi-leg orders; {1} is directional. Side confidence: {conf}.", "side_confidence_high", "side_confidence_low"),
    _r("sn.vol_oi", "signal_vs_noise", "002 Vol/OI bands", "a contract with OI at or above the floor traded", "Highest Vol/OI among contracts with at least {0} contracts of OI: {1} {right} {2} in the {3} band ({words}).", "vol_oi_oi_floor", "vol_oi_bands"),
    _r("sn.new_series", "signal_vs_noise", "002 Vol/OI bands", "contracts traded with OI below the floor", "{0} traded contracts have less than {1} contracts of OI: new series, not a ratio.", "vol_oi_oi_floor"),
    _r("sn.volume_oi", "signal_vs_noise", "002 volume vs OI", "chain volume present", "Session volume {0} contracts against open interest {1} ({2} of OI)."),
    _r("sn.small", "signal_vs_noise", "000 noise", "listed prints under the noise premium", "{0} of the listed prints are under {1} of premium: noise unless repeated.", "noise_premium_usd"),
    # ---- verdict
    _r("watch.walls", "flow_verdict", "001 watch next session", "both walls exist", "Activity and OI change at the {0} call wall / {1} put wall (GEX concentrations)."),
    _r("watch.acc", "flow_verdict", "002 accumulation", "a live contract accumulated OI over sessions", "Follow-through at the {0} {right} {3} ({2}-session accumulation, {1} contracts)."),
    _r("watch.print", "flow_verdict", "001 watch next session", "a notable print exists", "Executions in the {0} {right} {1} (top notable print, {2}) for follow-through or unwind."),
    _r("watch.none", "flow_verdict", "001 watch next session", "nothing qualifies", "Nothing stands out: no walls, live accumulation or notable prints in the data."),
    # ---- conclusions
    _r("concl.flow", "key_conclusions", "003 side before signal", "trades stored", "Flow is {side} on a directional basis ({0})."),
    _r("concl.gamma", "key_conclusions", "002 GEX regimes", "always", "Dealer gamma at spot is {0} per 1% move (total {1})."),
    _r("concl.missing", "key_conclusions", "001 missing data", "inputs missing", "Missing inputs: {what}; the sections that need them say so."),
    _r("concl.disclaimer", "key_conclusions", "000 disclaimer", "always", "This {lens} lens is an interpretation layer over the market-close snapshot, not an execution guarantee. Validate against chain liquidity, expected move and exposure before sizing risk."),
    # ---- bias
    _r("bias.score", "bias", "004 bias", "always", "Directional bias: {bias} (score {0} of {1} signals)."),
    _r("bias.vote", "bias", "004 bias", "a vote exists", "{why}: {vote}."),
    _r("bias.no_dex_vote", "bias", "SPEC dealer model", "the dealer model fixes the DEX sign (classic, short_all)", "Dealer DEX is not a vote under the {model} dealer model: its sign is fixed by construction."),
    # ---- premium
    _r("iv.rv", "iv_vs_realized", "004 IV vs realized", "ATM IV of a live expiry and realized volatility over enough returns", "ATM IV {0} vs realized {1} ({source}, {n} returns): spread {2}, which {posture}.", "realized_vol_min_returns"),
    _r("iv.rv_short", "iv_vs_realized", "004 IV vs realized", "ATM IV present, too few returns", "ATM IV {0}; realized volatility n/a ({n} returns, needs at least {1}), so no premium-selling read.", "realized_vol_min_returns"),
    _r("rv.only", "iv_vs_realized", "004 IV vs realized", "no IV", "Realized volatility ({source}, {n} returns): {0}.", "realized_vol_min_returns"),
    _r("em.expiry", "expected_move", "004 expected move", "a live expiry with a straddle", "Expiry {e}: straddle implies ±{0}."),
    _r("walls.short", "walls_pin", "004 walls", "always", "Call wall {0}, put wall {1}: short strikes outside them sit behind dealer hedging flows."),
    _r("pin.risk", "walls_pin", "002 max pain pin", "a live expiry has max pain", "Pin risk into {e}: {risk} (max pain {0}, spot {1} from it).", "pin_high_pct", "pin_near_pct"),
    _r("skew.rr", "smile_skew", "004 skew", "25Δ risk reversal of a live expiry", "25Δ risk reversal {0}: {words}."),
    _r("surfaces.none", "dealer_surfaces", "001 missing data", "no surface", "No surface data (no usable greeks)."),
    # ---- earnings
    _r("earn.date", "earnings_setup", "002 earnings OI", "an earnings date is stored", "Next earnings: {0}."),
    _r("earn.build", "earnings_setup", "002 earnings OI", "a listed expiry after earnings", "Post-earnings expiry {0}: OI change over the stored window {1} contracts."),
    _r("earn.move", "earnings_setup", "002 earnings OI", "a listed expiry after earnings", "Implied move {0} from the {2} straddle (first expiry after the report, {3} days, ordinary volatility included) vs historical mean earnings-day move {1}{note}."),
    _r("earn.kink", "earnings_setup", "issue 19 term-structure kink", "expiries before and after the report with ATM IV", "Event-only move from the term-structure kink: {0} (ATM IV {1} at {2} after the report vs {3} at {4} before it)."),
    _r("earn.kink2", "earnings_setup", "issue 19 term-structure kink", "no expiry before the report, two after it with ATM IV", "Event-only move from the term-structure kink: {0} (ATM IV {1} at {2} and {3} at {4}, both after the report; the ordinary volatility is the forward between them)."),
    _r("earn.kink_na", "earnings_setup", "001 missing data", "no kink measurable", "Event-only move from the term-structure kink: n/a ({reason})."),
    _r("earn.cliff", "earnings_setup", "002 pre-earnings OI cliff", "two or more stored sessions of the post-event expiry", "Pre-earnings build: that expiry held {0} contracts in the first of {3} stored sessions and {1} now (ratio {2}; seed 002 expects 2 to 4 times by the eve of the report)."),
    _r("earn.lean", "earnings_setup", "002 pre-earnings OI cliff", "call and put OI of the post-event expiry", "OI of that expiry: calls {0}, puts {1} (call/put {2}: {lean}).", "earn_cp_calls_lead", "earn_cp_puts_match"),
    _r("earn.skew", "earnings_setup", "002 earnings OI", "a listed expiry after earnings", "Skew of that expiry (25Δ RR): {0}."),
    _r("earn.no_expiry", "earnings_setup", "002 earnings OI", "no listed expiry after earnings", "No listed expiry after the earnings date in the snapshot."),
    # ---- daily
    _r("daily.head", "header", "003 headline", "trades stored", "Daily report {0}. Options {side} (directional) on {1} of premium. Top flow: {2}/{3} names flip direction ({4}). Convergence: {5} bearish vs {6} bullish."),
    _r("daily.head_no_trades", "header", "001 missing data", "no trades stored", "Daily report {0}. No option trades are stored for this session, so aggressor sides, net premium and notable prints cannot be computed."),
    _r("daily.lead", "header", "003 headline", "an index has a prior zone", "{t} {0} to {1} ({status} of its expected-move zone)."),
    _r("side.raw", "side_decomposition", "003 side decomposition", "trades stored", "Raw totals: {0} trades; premium {1}; calls {2} | puts {3}; naive C/P ratio {4}; unknown side {5}."),
    _r("side.buckets", "side_decomposition", "003 side decomposition", "trades stored", "Raw calls bought (ask) {0}; calls sold (bid) {1}; puts bought {2}; puts sold {3}; bullish {4}, bearish {5}, net {6}."),
    _r("side.dir", "side_decomposition", "issue 10 moneyness", "trades stored", "Directional (deep in the money {0} and box/conversion-like {1} of premium left out): bullish {2}, bearish {3}, net {4} {side}; naive C/P {5}; delta-adjusted net {6}.", "deep_itm_delta", "deep_itm_pct"),
    _r("side.flip", "side_decomposition", "003 side before signal", "directional labels differ", "The naive print says {naive} (directional C/P {0}); side decomposition says {side} ({1}): side before signal."),
    _r("top.flips", "top_flow", "003 top flow", "trades stored", "{0} of {1} top-flow names flip after side assessment ({2}; raw, deep ITM included: {3})."),
    _r("top.chain_only", "top_flow", "002 volume vs OI", "no trades stored, chain volume present", "Premium here is estimated from the chain (volume × mid); the naive call/put label is all a chain supports: aggressor sides, net premium and flips need option trades."),
    _r("dp.total", "darkpool", "003 dark pool", "prints stored", "Total dark-pool notional {0} across {n} tickers."),
    _r("dp.none", "darkpool", "003 dark pool", "no label cleared the threshold", "No ticker's placed dark-pool flow cleared the labelling threshold."),
    _r("dp.low", "darkpool", "003 dark pool", "low-confidence names", "Low confidence (most notional not placeable at bid or ask): {names}."),
    _r("zones.ceiling", "zones", "003 zones", "zones present", "{n} of {m} tickers are at or above their expected-move ceiling{names}."),
    _r("dealer.zone", "dealer_mechanics", "003 dealer mechanics", "an index with strikes near spot", "{t}: {0}–{1} zone GEX {2}; gamma profile at spot {3}{tail}.", "gamma_zone_half_width_pct"),
    _r("dealer.none", "dealer_mechanics", "003 dealer mechanics", "no index product", "No index product in the session."),
    _r("note.ticker", "ticker_notes", "003 top individual tickers", "single names with trades", "{0} ({1}) — {verdict}. Options {2}{conf} with {3} unknown; GEX {4} per 1% move; {dp}"),
    _r("notes.no_single", "ticker_notes", "003 top individual tickers", "trades stored, but only for index products and VIX", "No single-name ticker traded options in the session; index products and VIX are covered above."),
    _r("sectors.none", "sector_flow", "001 missing data", "no trades", "No option trades are stored for this session, so aggressor sides, net premium and notable prints cannot be computed."),
    _r("conv.tilt", "convergence", "003 convergence", "always", "{0} bearish vs {1} bullish inputs: tilt {tilt}."),
    _r("conv.input", "convergence", "003 convergence", "an input", "{side} {i}: {text}."),
    _r("struct.one", "trade_structures", "004 structures", "aligned signals and a live horizon expiry", "{t} {0}: buy {1} {r} / sell {2} {r} {kind} ({direction}); expiry chosen as {why}. Conviction {3}/{4}: {signals}.", "structure_min_signals", "structure_min_dte", "structure_max_dte"),
    _r("struct.withheld", "trade_structures", "003 convergence", "structures opposed the tilt", "{n} structure(s) against the {tilt} convergence tilt withheld."),
    _r("struct.none", "trade_structures", "004 structures", "no aligned ticker", "No ticker had enough aligned signals for a structure."),
    _r("struct.disclaimer", "trade_structures", "003 disclaimer", "always", "{text}"),
)  # fmt: skip

# ---- seed-002 OI signals (issue 11; report._signals computes, lenses.signals writes)
THRESHOLDS = MappingProxyType({**THRESHOLDS, **SIGNAL_THRESHOLDS})
RULES = RULES + (
    _r("sig.roll", "oi_signals", "002 OI and option rolling patterns", "a near-month decline paired with a later-expiry rise in the same right", "{kind} ({direction}): {0} contracts moved from the {1} {right} {2} to the {3} {right} {4}{over} — watch list: {watch}."),
    _r("sig.close", "oi_signals", "002 OI and option rolling patterns", "a near-month decline with no later-expiry rise", "Naked close ({direction}): {0} contracts of the {1} {right} {2} closed with nothing reopened{over} — watch list: {watch}."),
    _r("sig.acc", "oi_signals", "002 OI changes across multiple sessions", "a live contract grew OI above baseline for the streak minimum", "Accumulation ({direction}): the {1} {right} {2} built {0} contracts over {3} sessions (OI {4} → {5}) — watch list: {watch}."),
    _r("sig.deep_put", "oi_signals", "002 case 2 deep-OTM put build", "a put streak at least deep_otm_put_pct below spot, nearer strikes built less than the bypass share", "Deep-OTM put build (bearish): the {1} P {2}, {3} below spot when the build began, built {0} contracts over {4} sessions while nearer put strikes of that expiry built {5} — tail hedge or informed downside.", "deep_otm_put_pct", "deep_otm_bypass_share"),
    _r("sig.flush", "oi_signals", "002 case 1 OI flush", "an overnight decline of at least the flush fraction and contracts", "OI flush ({direction}): the {1} {right} {2} lost {0} contracts overnight ({3} of its OI) — profit-taking; watch list: {watch}.", "flush_min_fraction", "flush_min_contracts"),
    _r("sig.event", "oi_signals", "002 OI changes around earnings and high-impact events", "a build into the first expiry after an event at least the ratio and contracts", "{event} build ({direction}) into the {1} expiry (event {2}): {0} contracts, build ratio {3} against the other expiries; calls {4}, puts {5}.", "event_build_min_ratio", "event_build_min_contracts"),
    _r("sig.opposite", "oi_signals", "002 opposite-direction build", "calls and puts both accumulating", "Opposite-direction build (mixed): calls {0} and puts {1} contracts accumulating together — straddle, a second party or a partial hedge; watch list: {watch}."),
    _r("sig.pcr_div", "oi_signals", "002 PCR vs flow divergence", "a put-heavy book with call buying (or a call-heavy book with put buying)", "PCR vs call-flow divergence ({direction}): P/C OI {0} while calls take {1} of directional premium bought.", "pcr_div_high", "pcr_div_low", "pcr_div_min_share"),
    _r("sig.call_selling", "oi_signals", "003 side before signal", "naive read bullish, side-adjusted bearish, calls sold exceed calls bought", "Call selling into strength (bearish): directional calls sold {0} vs bought {1} — the call premium is supply, not demand."),
    _r("sig.pin", "oi_signals", "002 max pain pin", "the next standard monthly expiry within pin_max_days and spot within pin_near_pct of its max pain", "Max-pain pin (neutral): spot is {1} from the {2} max pain {0}.", "pin_max_days", "pin_near_pct"),
    _r("sig.term", "oi_signals", "002 OI term structure", "live expiries with OI", "Term structure ({pattern}): {reading}{exp}; the nearest expiry holds {0} of OI."),
    _r("sig.none", "oi_signals", "002 OI signals", "no signal in the stored window", "No roll, close, accumulation, flush or event build in the stored window."),
    _r("daily.signals", "oi_signals", "002 OI signals", "tickers of the session have OI signals", "{0} OI signals across {1} tickers: {parts}."),
    _r("sig.followup", "oi_signals", "002 watch list", "yesterday's report had watch items and today's chain is stored", "Yesterday's watch items: {summary}."),
    _r("view.em", "positioning_views", "004 expected move", "a live expiry with a straddle and delta ranges", "Expiry {e}: straddle ±{0}; 25Δ range {1}–{2}, 15Δ range {3}–{4}; call/put distance {5}."),
    _r("view.skew", "positioning_views", "004 skew term structure", "25Δ risk reversal by live expiry", "25Δ risk reversal {0} and butterfly {1} at {e0}; risk reversal {2} at {e1}."),
    _r("view.signs", "positioning_views", "004 dealer gamma and delta signs", "greeks present, gamma and delta at spot non-zero", "Dealer gamma at spot {0} per 1% move, dealer delta {1}: {reading} (dealer model {model})."),
    _r("view.signs_na", "positioning_views", "004 dealer gamma and delta signs", "no usable greeks or a zero sign", "Dealer gamma/delta sign reading n/a: the snapshot has no usable greeks or one of them is zero at spot."),
    _r("view.charm", "positioning_views", "004 charm", "charm present", "Dealer charm {0} shares of delta per day (all strikes)."),
    _r("view.charm_es", "positioning_views", "004 charm", "charm present, SPX family", "Dealer charm {0} shares of delta per day: an end-of-day re-hedge of about {1} E-mini contracts per day."),
    _r("view.path", "positioning_views", "004 path of least resistance", "charm and dealer gamma at spot large enough", "Path of least resistance: {way}, {0} per day ({1}) keeps dealer delta unchanged given charm."),
    _r("view.path_none", "positioning_views", "004 path of least resistance", "no charm or gamma too small", "No path of least resistance: {reason}."),
    _r("sig.followup_item", "oi_signals", "002 watch list", "a watch item of the previous session", "{0} {right} {1} (watched {2}): {status} — OI {3} → {4}."),
)  # fmt: skip

# ---- issue 11: report-time views (report._extras computes from the store, lenses write)
from chainlens.report._extras import EXTRA_THRESHOLDS  # noqa: E402

THRESHOLDS = MappingProxyType({**THRESHOLDS, **EXTRA_THRESHOLDS})
RULES = RULES + (
    _r("sn.high_oi", "signal_vs_noise", "002 high-OI names", "a high-OI name (index product or mega cap) with an earlier stored session", "{t} is a high-OI name, where Vol/OI is compressed, so volume vs its {n}-session average and the overnight OI change replace it: its busiest near-spot strike against that average is the {1} {right} at {0}× ({2} contracts vs {3} a session){large}.", "high_oi_spike_multiple", "high_oi_min_volume", "high_oi_min_avg", "high_oi_avg_sessions"),
    _r("sn.high_oi_quiet", "signal_vs_noise", "002 high-OI names", "a high-OI name, no strike near spot traded the minimum with an earlier average", "{t} is a high-OI name, where Vol/OI is compressed: no strike near spot traded at least {0} contracts against an earlier {n}-session average of at least {1}, so there is no volume spike to read.", "high_oi_min_volume", "high_oi_min_avg", "high_oi_avg_sessions"),
    _r("sn.high_oi_build", "signal_vs_noise", "002 high-OI names", "a high-OI name with an overnight OI increase near spot", "Overnight OI change: the largest build near spot is {0} contracts at the {1} {right} (new positioning that was held)."),
    _r("sig.event_prepost", "oi_signals", "002 post-earnings OI flush", "a past event with stored sessions on both sides", "{event} {d}: the {e} expiry's OI went {0} → {1} ({2}) and its ATM IV {3} → {4} from {b} to {a}: {reading}.", "flush_min_fraction"),
    _r("view.signs_model", "positioning_views", "004 dealer gamma and delta combinations", "a dealer profile under the model", "Under the {model} model, {scope}: dealer delta {0} and gamma {1} per USD at spot — {reading}."),
    _r("view.zero_dte_none", "positioning_views", "004 0DTE profile", "no expiry settles on the session or the next", "No 0DTE profile: {reason}."),
    _r("view.netvol", "positioning_views", "004 buy/sell netted volume table", "classified trades in the chosen expiry", "Net volume of the {e} expiry: {0} contracts bought minus sold near spot; the largest net is {2} at {1}."),
)  # fmt: skip

# ---- issue 16: outcome tracking (report.lenses.outcomes writes, report._outcomes measures)
THRESHOLDS = MappingProxyType(
    {
        **THRESHOLDS,
        "outcomes_min_events": (
            OUTCOMES_MIN_EVENTS,
            "events of an outcome rule",
            "outcomes.MIN_EVENTS",
        ),
    }
)
RULES = RULES + (
    _r("sn.reliability", "signal_vs_noise", "issue 16 outcome tracking", "an outcome rule this lens fires has at least outcomes_min_events events on the ticker's stored history", "Measured on {t}'s stored history ({frm} to {to}): {what}: {0} of {1} {noun} hit ({2}), baseline {3} of {4}.", "outcomes_min_events"),
    _r("sn.reliability_small", "signal_vs_noise", "issue 16 outcome tracking", "an outcome rule this lens fires has fewer than outcomes_min_events events", "Measured on {t}'s stored history ({frm} to {to}): {what}: {0} of {1} {noun} hit, baseline {3} of {4}; n = {1} is below {5}, too small to say anything.", "outcomes_min_events"),
    _r("sn.reliability_none", "signal_vs_noise", "issue 16 outcome tracking", "an outcome rule this lens fires has no event yet", "{what}: no {noun} to measure yet in {t}'s stored history."),
    _r("daily.yesterday_count", "what_worked_yesterday", "issue 16 outcome tracking", "reads of the previous session have their outcome at this close", "{0} of {1} reads of the previous session held at this close (max-pain pins of the expiry settling today, walls, expected-move zones, flow labels, OI accumulation and rolls)."),
    _r("daily.yesterday", "what_worked_yesterday", "issue 16 outcome tracking", "a read of the previous session checked at this close", "{t}: {text}."),
    _r("daily.yesterday_none", "what_worked_yesterday", "issue 16 outcome tracking", "no read has its outcome at this close", "No read of the previous session could be checked at this close (no earlier stored session of the reported tickers)."),
)  # fmt: skip

# ---- issue 19: market context (report._context computes, report.lenses.context writes)
from chainlens.flow._darkpool import PROGRAM_RULES  # noqa: E402
from chainlens.market import CONTEXT_RULES  # noqa: E402

THRESHOLDS = MappingProxyType(
    {
        **THRESHOLDS,
        "sma_windows": (CONTEXT_RULES["sma_windows"], "sessions", "market.CONTEXT_RULES"),
        "rv_windows": (CONTEXT_RULES["rv_windows"], "daily returns", "market.CONTEXT_RULES"),
        "regime_window": (CONTEXT_RULES["regime_window"], "sessions", "market.CONTEXT_RULES"),
        "regime_dominant": (
            CONTEXT_RULES["regime_dominant"],
            "trend score (efficiency ratio x 100)",
            "market.CONTEXT_RULES",
        ),
        "regime_trend": (
            CONTEXT_RULES["regime_trend"],
            "trend score (efficiency ratio x 100)",
            "market.CONTEXT_RULES",
        ),
        "earn_cp_calls_lead": (
            1.5,
            "call/put OI of the post-event expiry (seed 002: 1.8 reads bullish)",
            "report.rules",
        ),
        "earn_cp_puts_match": (
            1.0,
            "call/put OI of the post-event expiry (seed 002: puts matching calls)",
            "report.rules",
        ),
        "program_min_slices": (
            PROGRAM_RULES["min_slices"],
            "prints",
            "flow._darkpool.PROGRAM_RULES",
        ),
        "program_size_band": (
            PROGRAM_RULES["size_band"],
            "size ratio - 1",
            "flow._darkpool.PROGRAM_RULES",
        ),
        "program_max_interval_cv": (
            PROGRAM_RULES["max_interval_cv"],
            "sd/mean of intervals",
            "flow._darkpool.PROGRAM_RULES",
        ),
        "program_side_edge": (
            PROGRAM_RULES["side_edge"],
            "fraction of the spread",
            "flow._darkpool.PROGRAM_RULES",
        ),
    }
)
RULES = RULES + (
    _r("ctx.price", "price_context", "003 price action summary", "closes of an index up to the session", "{t} {0} ({1} on the day; closes from {source}, {n} sessions)."),
    _r("ctx.sma", "price_context", "003 200DMA status", "at least n closes stored", "{t} {w}-session average {0}: close {1} from it, {2} sessions {side}{every}.", "sma_windows"),
    _r("ctx.sma_na", "price_context", "001 missing data", "fewer than n closes stored", "{t} {w}-session average{plural}: n/a ({reason}).", "sma_windows"),
    _r("ctx.regime", "price_context", "003 range regime", "regime_window + 1 closes stored", "{t} trend score {0} over {w} sessions: {regime}, {direction} (efficiency ratio x 100; dominant at {1} and above, range below {2}).", "regime_window", "regime_dominant", "regime_trend"),
    _r("ctx.regime_na", "price_context", "001 missing data", "too few closes", "{t} trend score over {w} sessions: n/a ({reason}).", "regime_window"),
    _r("ctx.rv", "price_context", "004 realized volatility", "closes stored", "{t} realized volatility (annualised close-to-close): {parts}.", "rv_windows"),
    _r("ctx.price_missing", "price_context", "001 missing data", "no close of the ticker on the session", "{t}: no close stored for the session (no daily bar and no chain spot), so its price context is n/a."),
    _r("ctx.no_prices", "price_context", "001 missing data", "no index in the session", "No index product in the session, so there is no price context."),
    _r("dealer.0dte", "dealer_mechanics", "003 dealer mechanics (0DTE GEX)", "the next expiry settles on the next session and greeks present", "{t}: 0DTE GEX of the {e} expiry (settles next session) {0} to {1} per 1% move across {2}–{3} (±{hw} of spot); {4} at spot.", "gamma_zone_half_width_pct"),
    _r("dealer.0dte_na", "dealer_mechanics", "001 missing data", "the next expiry settles later than the next session, or no greeks", "{t}: 0DTE GEX zone n/a ({reason})."),
    _r("dealer.npg", "dealer_mechanics", "003 dealer mechanics (nearest positive gamma)", "the gamma profile has a positive level away from spot", "{t}: nearest positive gamma {0}–{1}{edge}, {2} from spot; {meaning}."),
    _r("dealer.npg_in", "dealer_mechanics", "003 dealer mechanics (nearest positive gamma)", "spot inside a positive-gamma band", "{t}: nearest positive gamma {0}–{1}{edge}, spot inside it: dealer hedging leans against moves until price leaves the band."),
    _r("dealer.npg_none", "dealer_mechanics", "003 dealer mechanics (nearest positive gamma)", "no positive level in the profile grid", "{t}: no positive gamma anywhere in the profile grid {0}–{1}, so no dealer cushion within it."),
    _r("dp.program", "darkpool", "003 TWAP programs", "a program detected", "{t} {side} program: {0} slices of about {1} shares every {2} minutes, {3} notional at VWAP {4} (interval CV {5}).", "program_min_slices", "program_size_band", "program_max_interval_cv", "program_side_edge"),
    _r("dp.programs_none", "darkpool", "003 TWAP programs", "prints stored, no program", "No TWAP/VWAP-like program in the session's prints (at least {0} similar-size slices at regular intervals on one side).", "program_min_slices", "program_max_interval_cv"),
    _r("deep.pick_share", "sector_deep_dive", "003 energy sector deep-dive", "a sector's share of premium moved most vs its average", "{sector} has the most unusual flow: {0} of market option premium vs {1} on average over the {n} earlier stored sessions; options net {2}, dark-pool net {3} (premium {4})."),
    _r("deep.pick_net", "sector_deep_dive", "003 energy sector deep-dive", "no earlier rollup: the largest net relative to premium", "{sector} has the most one-sided flow (no earlier session stored to compare shares): options net {0} on {1} of premium; dark-pool net {2}."),
    _r("deep.single", "sector_deep_dive", "003 energy sector deep-dive", "one name holds single_name_share of the sector's absolute dark-pool net and names disagree", "{t} holds {0} of the sector's absolute dark-pool net ({1}) while other {sector} names lean the other way: a single-name {what}, not sector conviction."),
    _r("deep.conviction", "sector_deep_dive", "003 energy sector deep-dive", "every name's dark-pool net has one sign and the options net agrees", "Every {sector} name with dark-pool flow is {direction} ({0} net) and the sector's options net agrees ({1}): sector conviction."),
    _r("deep.split", "sector_deep_dive", "003 energy sector deep-dive", "every name's dark-pool net has one sign, the options net does not agree", "Every {sector} name with dark-pool flow is {direction} ({0} net) but the sector's options net is {1}: dark pool and options disagree, so no sector conviction."),
    _r("deep.mixed", "sector_deep_dive", "003 energy sector deep-dive", "otherwise", "{sector} names disagree with no dominant name (dark-pool net {0}, options net {1}): no sector-wide conviction."),
    _r("deep.none", "sector_deep_dive", "001 missing data", "no sector with options net", "No sector beyond the index products has side-adjusted option flow this session."),
    _r("thesis.result", "thesis_checklist", "003 bull thesis checklist", "a thesis file given", "{title}: {0} of {1} conditions confirmed ({2} with data)."),
    _r("thesis.sma", "thesis_checklist", "003 bull thesis checklist", "a price-vs-average condition with data", "{mark} {i}. {name}: {t} close {0} vs {w}-session average {1}, {2} sessions {side} (needs {need} {want})."),
    _r("thesis.cmp", "thesis_checklist", "003 bull thesis checklist", "a threshold condition with data", "{mark} {i}. {name}: {0} ({test} {1} needed)."),
    _r("thesis.na", "thesis_checklist", "001 missing data", "a condition whose input is absent", "— {i}. {name}: n/a ({reason})."),
    _r("edit.head", "header", "003 opening editorial", "an index close and trades stored", "{t} {0} on the day; directional options net {1} and index dark-pool net {2}: the flow {verdict}."),
    _r("edit.none", "header", "001 missing data", "no index close or no trades", "No editorial: it needs an index close and option trades of the session."),
    _r("bl.trend", "bottom_line", "003 bottom line (200DMA)", "the average is computed", "{t} is {0} from its {w}-session average, {1} sessions {side}.", "sma_windows"),
    _r("bl.trend_na", "bottom_line", "001 missing data", "too few closes for the long average", "{t} vs its {w}-session average: n/a ({reason}).", "sma_windows"),
    _r("bl.gamma", "bottom_line", "003 bottom line (gamma)", "index gamma profiles present", "Gamma profile negative at spot (hedging amplifies moves): {short}; positive at spot (hedging dampens moves): {long}."),
    _r("bl.dp", "bottom_line", "003 bottom line (dark pool)", "labelled index dark-pool flow", "Index dark-pool net {0}: {word} in the index vehicles."),
    _r("bl.programs", "bottom_line", "003 TWAP programs", "programs detected", "{n} dark-pool program(s) worked {0} ({sells} selling, {buys} buying)."),
    _r("bl.conv", "bottom_line", "003 convergence", "always", "Convergence {0} bearish vs {1} bullish: tilt {tilt}."),
    _r("bl.thesis", "bottom_line", "003 bull thesis checklist", "a thesis file given", "{title}: {0} of {1} confirmed."),
    _r("bl.verdict", "bottom_line", "003 bottom line", "at least one reading above has a sign", "Taken together, {0} of the readings above lean bearish ({bears}) and {1} bullish ({bulls}): {closing}."),
)  # fmt: skip

# ---- issue 11: premium/volume multiples scanner hits (report._unusual reads, lenses.unusual writes)
from chainlens.report._unusual import UNUSUAL_THRESHOLDS  # noqa: E402

THRESHOLDS = MappingProxyType({**THRESHOLDS, **UNUSUAL_THRESHOLDS})
_UN = (
    "unusual_min_multiple",
    "unusual_min_sessions",
    "unusual_top_contracts",
    "unusual_min_contract_share",
    "unusual_history_sessions",
)
RULES = RULES + (
    _r("unusual.hit", "unusual_activity", "004 premium/volume multiples", "the ticker's premium or volume multiple of its rolling average reaches the scanner threshold (stored scan_unusual part) and trades are stored", "{kind} spike ({direction}): {t} option premium {0}, {1}× its {2}-session average of {3}; volume {4} contracts, {5}× its average of {6}; {7} of the premium bought at the ask{conc}{repeat} — {watch}.", *_UN),
    _r("unusual.hit_chain", "unusual_activity", "004 premium/volume multiples", "a scanner hit without trades (premium estimated from the chain)", "{kind} spike (side n/a): {t} option premium {0} (chain volume × mid), {1}× its {2}-session average of {3}; volume {4} contracts, {5}× its average of {6}{repeat} — aggressor sides and the contracts traded need option trades.", "unusual_min_multiple", "unusual_min_sessions", "unusual_history_sessions"),
    _r("unusual.below", "flow_summary", "004 premium/volume multiples", "the ticker has a stored scan_unusual row below the threshold", "Premium {0} is {1}× its {2}-session average of {3} and volume {4}× its average: below the multiples scanner's {5}× (seed 004).", "unusual_min_multiple"),
    _r("unusual.daily", "unusual_activity", "004 premium/volume multiples", "scanner hits on the session", "{0} ticker(s) traded at least {1}× their rolling-average option premium or volume: {names}.", "unusual_min_multiple", "unusual_max_rows"),
    _r("unusual.none", "unusual_activity", "004 premium/volume multiples", "the scan_unusual part is stored and selects no ticker", "No ticker traded {0}× its rolling-average option premium or volume (at least {1} earlier sessions in the average).", "unusual_min_multiple", "unusual_min_sessions"),
)  # fmt: skip

_BY_ID: Mapping[str, Rule] = {r.id: r for r in RULES}
assert len(_BY_ID) == len(RULES), "duplicate rule id"


def rule(id_: str) -> Rule:
    """The rule with this id (KeyError if absent)."""
    return _BY_ID[id_]


def say(fb: FigureBook, id_: str, *keys: str, label: str | None = None, **words: Any) -> Sentence:
    """The sentence of rule ``id_``: its template filled with figure displays and words."""
    r = _BY_ID[id_]
    text = r.template.format(*(fb.d(k) for k in keys), **words)
    return Sentence(text=text, keys=list(keys), label=label, rule=id_)


def band_words(key: str | None, bands: tuple[tuple[float, str, str, str], ...]) -> str:
    """A band key as prose (``"1.2_2.0"`` → ``"1.2–2.0"``, ``"above_10x"`` → ``"above 10×"``)."""
    if key is None or key not in {b[1] for b in bands}:
        return "n/a"
    words = key.replace("below_", "below ").replace("above_", "above ").replace("_", "–")
    return words.replace("x", "×")


def vol_oi_words(key: str | None) -> tuple[str, str]:
    """Display band and seed-002 interpretation of a Vol/OI band key."""
    for _, k, interp, _ in VOL_OI_BANDS:
        if k == key:
            return band_words(k, VOL_OI_BANDS), interp.lower()
    return "n/a", "not available"


def pcr_oi_words(ticker: str, band: str | None) -> tuple[str, str]:
    """Seed-002 put/call OI reading by name type: ``(words, kind)``."""
    kind = name_type(ticker)
    if band is None:
        return "not available", "index" if kind == "index" else "single-name"
    return PCR_READING[(kind, band)][
        1
    ], "index/index-ETF hedging" if kind == "index" else "single-name directional"


def pcr_volume_words(band: str | None) -> str:
    """Seed-002 put/call volume words."""
    return PCR_WORDS["volume"].get(band or "", "not available")


def rules_markdown() -> str:
    """``docs/rules.md``: every threshold and every sentence rule with its seed section."""
    out = [
        "# Report rules",
        "",
        "Generated from `chainlens.report.rules` (`python -m chainlens.report.rules > docs/rules.md`).",
        "Every report sentence carries the id of the rule that wrote it (`sentence.rule` in the JSON).",
        "",
        "## Thresholds",
        "",
        "| name | value | unit | lives in |",
        "|---|---|---|---|",
    ]
    out += [f"| `{k}` | {v!r} | {u} | {w} |" for k, (v, u, w) in THRESHOLDS.items()]
    out += [
        "",
        "## Sentence rules",
        "",
        "| id | section | seed | when | thresholds | template |",
        "|---|---|---|---|---|---|",
    ]
    for r in RULES:
        t = r.template.replace("|", "\\|")
        out.append(
            f"| `{r.id}` | {r.section} | {r.seed} | {r.when} | {', '.join(r.thresholds)} | {t} |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(rules_markdown())
