"""The results contract: every stored results part has a declared Arrow schema, and the
per-underlying and market documents are typed structures.

The daily pipeline (:mod:`chainlens.pipeline`) stores, per session, the results name
:data:`RESULTS_NAME` with the parts of :data:`PART_SCHEMAS`, and the market rollup
(:mod:`chainlens.market`) stores :data:`MARKET_RESULTS` with one ``doc`` part. Each part is
cast to its schema by :func:`conform` before it is written (a mismatch is an error naming the
part and the column, never a silent promotion), so every runner (local, Spark) writes the
same tables. Columns carry their unit in the name where the name says it (``_usd``,
``_shares``, ``_usd_per_1pct``, ``_days``) and always in the field metadata (``unit``);
docs/results.md documents every column. These tables and documents are a public interface,
as the CLI JSON is: columns and keys are added, never renamed.

Units: shares of a fraction are fractions (0.25 = 25 %); implied and realized volatilities
are decimals (0.20 = 20 %); the few columns whose name ends in ``_pct`` are percents (1.0 =
1 %), a unit kept because the names are pinned by the reports and the CLI JSON.

The per-underlying document (the ``docs`` part's ``doc`` column, JSON) is
:class:`UnderlyingDoc`; the market rollup is :class:`MarketDoc`. Both are nested
:class:`~typing.TypedDict` classes: static types for the lenses, and a runtime check,
:func:`doc_errors`, used by the tests (a key nobody declared is reported with its full path).

Examples
--------
>>> import pyarrow as pa
>>> PART_SCHEMAS["oi_changes"].field("oi_change").metadata[b"unit"]
b'contracts'
>>> doc_errors({"doc_version": 1}, RealizedVolDoc, "rv")[:1]
['rv.doc_version: key not declared in RealizedVolDoc (chainlens.results)']
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Sequence
from typing import Any, NotRequired, Protocol, TypedDict, Union

import numpy as np
import pyarrow as pa

from chainlens._jsonsafe import json_bytes
from chainlens.errors import ChainlensError

__all__ = [
    "DOC_VERSION",
    "MARKET_RESULTS",
    "MARKET_SCHEMAS",
    "PART_SCHEMAS",
    "RESULTS_NAME",
    "SUMMARY_FIELDS",
    "AnalysisDoc",
    "EarningsDoc",
    "FlowDoc",
    "MarketDoc",
    "MarketFacts",
    "OiDoc",
    "PriorZoneDoc",
    "RealizedVolDoc",
    "ReportDoc",
    "ResultSchemaError",
    "UnderlyingDoc",
    "check_doc",
    "conform",
    "doc_errors",
    "docs_to_table",
    "prune_doc",
    "schema_of",
    "summary_covers",
    "with_summaries",
]

#: Results name under which the pipeline stores its parts (``Store.write_results``).
RESULTS_NAME = "pipeline"
#: Results name of the market-wide rollup (part ``doc``: one JSON document).
MARKET_RESULTS = "market"
#: Version of the per-underlying document stored in the ``docs`` part.
DOC_VERSION = "1"

#: A JSON value whose shape is not declared further (empty in every run seen so far, or
#: free-form); the checker accepts anything there.
JSONValue = Any


class ResultSchemaError(ChainlensError):
    """A results part or document does not match its declared contract (``part`` and
    ``column`` name where)."""

    def __init__(
        self,
        message: str,
        *,
        part: str | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.part = part
        self.column = column


# --------------------------------------------------------------------------- units

_PRICE = "USD per share (index points for index options)"
_UNITS: dict[str, str] = {
    "underlying": "ticker",
    "session": "date (the as-of session)",
    "expiry": "date",
    "ts": "instant (UTC, ns)",
    "symbol": "OSI symbol",
    "root": "option root",
    "right": "C or P",
    "strike": _PRICE,
    "price": _PRICE,
    "spot": _PRICE,
    "max_pain": _PRICE,
    "atm_strike": _PRICE,
    "straddle_mid": _PRICE,
    "straddle_last": _PRICE,
    "oi_call_wall": _PRICE,
    "oi_put_wall": _PRICE,
    "from_strike": _PRICE,
    "to_strike": _PRICE,
    "gex_usd_per_1pct": "USD per 1% spot move",
    "call_gex_usd_per_1pct": "USD per 1% spot move",
    "put_gex_usd_per_1pct": "USD per 1% spot move",
    "dealer_gex_usd_per_1pct": "USD per 1% spot move",
    "dex_shares": "shares",
    "vanna_usd_per_vol_pt": "USD per vol point",
    "charm_shares_per_day": "shares per day",
    "gex_short_all_usd_per_1pct": "USD per 1% spot move",
    "dex_short_all_shares": "shares",
    "vanna_short_all_usd_per_vol_pt": "USD per vol point",
    "charm_short_all_shares_per_day": "shares per day",
    "spot_level": _PRICE,
    "asof": "date (the as-of session)",
    "n": "count",
    "delta_shares": "shares",
    "cum_delta_shares": "shares",
    "cum_delta_prev_shares": "shares",
    "increase": "fraction (0.5 = +50%)",
    "top_symbols": "OSI symbols",
    "top_net_contracts": "contracts",
    "top_gross_contracts": "contracts",
    "avg_volume": "contracts per session",
    "volume_multiple": "ratio",
    "premium_multiple": "ratio",
    "sessions_in_average": "count of sessions",
    "contracts": "contracts",
    "call_oi": "contracts",
    "put_oi": "contracts",
    "oi": "contracts",
    "open_interest": "contracts",
    "call_volume": "contracts",
    "put_volume": "contracts",
    "volume": "contracts",
    "oi_change": "contracts",
    "oi_start": "contracts",
    "oi_end": "contracts",
    "oi_change_next": "contracts",
    "size": "contracts",
    "from_change": "contracts",
    "to_change": "contracts",
    "avg_volume_5d": "contracts per session",
    "calls_bought_contracts": "contracts",
    "calls_sold_contracts": "contracts",
    "puts_bought_contracts": "contracts",
    "puts_sold_contracts": "contracts",
    "net_call_contracts": "contracts (bought - sold)",
    "net_put_contracts": "contracts (bought - sold)",
    "net_contracts": "contracts (bought - sold)",
    "atm_iv": "decimal volatility (0.20 = 20%)",
    "rr_25d": "decimal volatility (call IV - put IV)",
    "held_fraction": "fraction",
    "oi_share": "fraction",
    "vol_oi": "ratio",
    "size_to_oi": "ratio",
    "size_to_avg_volume": "ratio",
    "naive_cp_ratio": "ratio",
    "dir_naive_cp_ratio": "ratio",
    "trades": "count",
    "n_exchanges": "count",
    "rank": "rank (1 = first)",
    "sessions": "count of sessions",
    "dte_days": "calendar days",
    "score": "score (0-100)",
    "doc": "JSON document",
    "summary": "JSON document",
    "kind": "label",
    "side": "label: buy, sell, mid or unknown",
    "flip": "flag",
    "dir_flip": "flag",
    "is_sweep": "flag",
    "multileg": "flag",
}


def _unit(name: str) -> str:
    if name in _UNITS:
        return _UNITS[name]
    if name.endswith("_usd"):
        return "USD"
    if name.endswith("_share"):
        return "fraction"
    if name.endswith("_pct") or name.endswith("_pct_last"):
        return "percent (1.0 = 1%)"
    if name.endswith("_label") or name.endswith("_class"):
        return "label"
    if name.endswith("_session") or name.endswith("_expiry"):
        return "date"
    if name.endswith("_symbol"):
        return "OSI symbol"
    return ""


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    fields = []
    for name, ty in cols:
        unit = _unit(name)
        if not unit:
            raise AssertionError(f"no unit declared for results column {name!r}")
        fields.append(pa.field(name, ty, metadata={"unit": unit}))
    return pa.schema(fields)


_F, _I, _S, _B, _D = pa.float64(), pa.int64(), pa.string(), pa.bool_(), pa.date32()
_TS = pa.timestamp("ns", tz="UTC")


def _L(t: pa.DataType) -> pa.DataType:
    """A list column as Parquet stores it (child named ``element``: same type after a round
    trip)."""
    return pa.list_(pa.field("element", t))


#: Declared schema of every part of the pipeline results (:data:`RESULTS_NAME`), in the
#: column order stored. Each table holds ``underlying`` and ``session``.
PART_SCHEMAS: dict[str, pa.Schema] = {
    "docs": _schema(("underlying", _S), ("session", _D), ("doc", _S), ("summary", _S)),
    "by_strike": _schema(
        ("strike", _F), ("call_oi", _I), ("put_oi", _I), ("gex_usd_per_1pct", _F),
        ("dex_shares", _F), ("call_volume", _I), ("put_volume", _I),
        ("call_gex_usd_per_1pct", _F), ("put_gex_usd_per_1pct", _F),
        ("vanna_usd_per_vol_pt", _F), ("charm_shares_per_day", _F), ("underlying", _S),
        ("session", _D),
    ),
    "by_expiry": _schema(
        ("expiry", _D), ("contracts", _I), ("call_oi", _I), ("put_oi", _I),
        ("call_volume", _I), ("put_volume", _I), ("max_pain", _F), ("gex_usd_per_1pct", _F),
        ("dex_shares", _F), ("vanna_usd_per_vol_pt", _F), ("charm_shares_per_day", _F),
        ("atm_strike", _F), ("straddle_mid", _F), ("expected_move_pct", _F),
        ("straddle_last", _F), ("expected_move_pct_last", _F), ("oi_call_wall", _F),
        ("oi_put_wall", _F), ("rr_25d", _F), ("atm_iv", _F), ("underlying", _S),
        ("session", _D),
    ),
    "flow_by_strike": _schema(
        ("underlying", _S), ("expiry", _D), ("strike", _F), ("calls_bought_usd", _F),
        ("calls_sold_usd", _F), ("puts_bought_usd", _F), ("puts_sold_usd", _F),
        ("mid_usd", _F), ("unknown_usd", _F), ("multileg_usd", _F), ("total_usd", _F),
        ("call_premium_usd", _F), ("put_premium_usd", _F), ("trades", _I),
        ("deep_itm_usd", _F), ("synthetic_usd", _F), ("excluded_usd", _F),
        ("dir_calls_bought_usd", _F), ("dir_calls_sold_usd", _F), ("dir_puts_bought_usd", _F),
        ("dir_puts_sold_usd", _F), ("dir_call_premium_usd", _F), ("dir_put_premium_usd", _F),
        ("delta_bullish_usd", _F), ("delta_bearish_usd", _F), ("delta_notional_usd", _F),
        ("bullish_usd", _F), ("bearish_usd", _F), ("net_usd", _F), ("unknown_share", _F),
        ("directional_share", _F), ("naive_cp_ratio", _F), ("naive_label", _S),
        ("side_label", _S), ("flip", _B), ("dir_bullish_usd", _F), ("dir_bearish_usd", _F),
        ("excluded_share", _F), ("dir_naive_cp_ratio", _F), ("dir_naive_label", _S),
        ("delta_net_usd", _F), ("dir_net_usd", _F), ("dir_side_label", _S), ("dir_flip", _B),
        ("calls_bought_contracts", _F), ("calls_sold_contracts", _F),
        ("puts_bought_contracts", _F), ("puts_sold_contracts", _F), ("net_call_contracts", _F),
        ("net_put_contracts", _F), ("net_contracts", _F),
        ("session", _D),
    ),
    "notable": _schema(
        ("ts", _TS), ("symbol", _S), ("expiry", _D), ("strike", _F), ("right", _S),
        ("side", _S), ("size", _I), ("premium_usd", _F), ("price", _F), ("spot", _F),
        ("is_sweep", _B), ("multileg", _B), ("n_exchanges", _I), ("distance_pct", _F),
        ("otm_pct", _F), ("dte_days", _I), ("expiry_class", _S), ("open_interest", _I),
        ("size_to_oi", _F), ("vol_oi", _F), ("avg_volume_5d", _F), ("size_to_avg_volume", _F),
        ("oi_change_next", _I), ("held_fraction", _F), ("dealer_gex_usd_per_1pct", _F),
        ("score", _F), ("rank", _I), ("underlying", _S), ("session", _D),
    ),
    "oi_changes": _schema(
        ("symbol", _S), ("expiry", _D), ("strike", _F), ("right", _S), ("oi_change", _I),
        ("volume", _I), ("vol_oi", _F), ("underlying", _S), ("session", _D),
    ),
    "accumulation": _schema(
        ("underlying", _S), ("expiry", _D), ("strike", _F), ("right", _S), ("sessions", _I),
        ("oi_change", _I), ("root", _S), ("symbol", _S), ("oi_start", _I), ("oi_end", _I),
        ("first_session", _D), ("last_session", _D), ("session", _D),
    ),
    "clusters": _schema(
        ("underlying", _S), ("strike", _F), ("call_oi", _F), ("put_oi", _F), ("oi", _F),
        ("oi_share", _F), ("rank", _I), ("session", _D),
    ),
    "by_strike_expiry": _schema(
        ("expiry", _D), ("strike", _F), ("call_oi", _I), ("put_oi", _I), ("call_volume", _I),
        ("put_volume", _I), ("gex_usd_per_1pct", _F), ("call_gex_usd_per_1pct", _F),
        ("put_gex_usd_per_1pct", _F), ("dex_shares", _F), ("vanna_usd_per_vol_pt", _F),
        ("charm_shares_per_day", _F), ("gex_short_all_usd_per_1pct", _F),
        ("dex_short_all_shares", _F), ("vanna_short_all_usd_per_vol_pt", _F),
        ("charm_short_all_shares_per_day", _F), ("underlying", _S), ("session", _D),
    ),
    "profile_by_expiry": _schema(
        ("expiry", _D), ("spot_level", _F), ("gex_usd_per_1pct", _F),
        ("gex_short_all_usd_per_1pct", _F), ("underlying", _S), ("session", _D),
    ),
    "scan_unusual": _schema(
        ("underlying", _S), ("session", _D), ("volume", _F), ("premium_usd", _F),
        ("avg_volume", _F), ("avg_premium_usd", _F), ("volume_multiple", _F),
        ("premium_multiple", _F), ("sessions_in_average", _I),
    ),
    "scan_netdelta": _schema(
        ("underlying", _S), ("n", _I), ("asof", _D), ("expiry", _D), ("delta_shares", _F),
        ("cum_delta_shares", _F), ("cum_delta_prev_shares", _F), ("increase", _F),
        ("top_symbols", _L(_S)), ("top_net_contracts", _L(_F)),
        ("top_gross_contracts", _L(_F)), ("session", _D),
    ),
    "scan_netdelta_daily": _schema(
        ("underlying", _S), ("expiry", _D), ("delta_shares", _F), ("trades", _I),
        ("session", _D),
    ),
    "rolls": _schema(
        ("underlying", _S), ("kind", _S), ("right", _S), ("from_expiry", _D),
        ("from_strike", _F), ("to_expiry", _D), ("to_strike", _F), ("contracts", _I),
        ("from_symbol", _S), ("to_symbol", _S), ("from_change", _F), ("to_change", _F),
        ("start_session", _D), ("end_session", _D), ("session", _D),
    ),
}  # fmt: skip

#: Declared schema of the market rollup's parts (:data:`MARKET_RESULTS`).
MARKET_SCHEMAS: dict[str, pa.Schema] = {"doc": _schema(("doc", _S))}


def schema_of(part: str) -> pa.Schema:
    """The declared schema of ``part`` (``"by_strike"``...; ``"market.doc"`` for the rollup).

    Raises
    ------
    ResultSchemaError
        For a part nobody declared.
    """
    if part.startswith(MARKET_RESULTS + "."):
        sch = MARKET_SCHEMAS.get(part.split(".", 1)[1])
    else:
        sch = PART_SCHEMAS.get(part)
    if sch is None:
        raise ResultSchemaError(
            f"results part {part!r} has no declared schema",
            part=part,
            hint="declare it in chainlens.results.PART_SCHEMAS and docs/results.md",
        )
    return sch


def conform(part: str, table: pa.Table) -> pa.Table:
    """``table`` cast to the declared schema of ``part`` (columns in the declared order, with
    the declared types and unit metadata).

    A column of type ``null`` (every row null in this batch) takes the declared type; other
    types are cast safely (``large_string`` -> ``string``, ``int32`` -> ``int64``...).

    Raises
    ------
    ResultSchemaError
        Naming the part and the column: a declared column is missing, a column is not
        declared, or a value does not cast to the declared type.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"underlying": ["SPY"], "session": [dt.date(2024, 3, 15)], "doc": ["{}"],
    ...               "summary": ["{}"]})
    >>> conform("docs", t).schema.field("doc").metadata
    {b'unit': b'JSON document'}
    >>> conform("docs", t.drop_columns(["doc"]))
    Traceback (most recent call last):
    ...
    chainlens.results.ResultSchemaError: results part 'docs': column 'doc' is missing...
    """
    sch = schema_of(part)
    if table.schema.equals(sch, check_metadata=True):
        return table  # conformed already (a part read back, or conformed twice)
    have = set(table.column_names)
    missing = [f.name for f in sch if f.name not in have]
    extra = [c for c in table.column_names if sch.get_field_index(c) < 0]
    if missing or extra:
        what = (
            f"column {missing[0]!r} is missing"
            if missing
            else f"column {extra[0]!r} is not declared"
        )
        raise ResultSchemaError(
            f"results part {part!r}: {what} (declared: {', '.join(sch.names)}; "
            f"got: {', '.join(table.column_names)})",
            part=part,
            column=(missing or extra)[0],
            hint="declare the column in chainlens.results.PART_SCHEMAS and docs/results.md",
        )
    cols = []
    for f in sch:
        col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ResultSchemaError(
                    f"results part {part!r}: column {f.name!r} of type {col.type} does not "
                    f"cast to the declared {f.type} ({exc})",
                    part=part,
                    column=f.name,
                ) from None
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=sch)


class _HasDoc(Protocol):
    @property
    def underlying(self) -> str: ...

    @property
    def session(self) -> dt.date: ...

    @property
    def doc(self) -> UnderlyingDoc: ...


#: The document keys stored a second time, pruned, in the ``docs`` part's ``summary`` column:
#: those the daily report reads of every document (``chainlens.report._shared.DAILY_FIELDS``).
#: At 5,000 underlyings the whole documents are ~700 MB of JSON and these keys ~57 MB, so a
#: market-wide reader of them (:meth:`chainlens.store.Store.read_doc_fields`) parses the
#: summaries, not the documents.
SUMMARY_FIELDS: tuple[str, ...] = (
    "underlying", "session", "analysis.spot", "analysis.totals", "analysis.max_pain_trend",
    "analysis.darkpool_only", "flow.totals", "flow.darkpool", "oi.rolls", "oi.accumulation",
    "oi.spot_by_session", "oi.changes", "oi.events", "oi.opposite",
)  # fmt: skip


def prune_doc(doc: Any, fields: Sequence[str]) -> dict[str, Any]:
    """``doc`` pruned to the dotted key paths ``fields``: each path the document holds (its
    value, ``None`` included), with the objects on the way to it and none of their other
    keys; a path the document lacks (or that goes through a value that is not an object) is
    absent, and so is an object none of whose paths exist.

    >>> prune_doc({"a": {"b": 1, "c": 2}, "d": None, "e": 3}, ["a.b", "d", "d.x", "f"])
    {'a': {'b': 1}, 'd': None}
    """
    out: dict[str, Any] = {}
    for f in fields:
        ks = f.split(".")
        cur = doc
        for k in ks:
            if not isinstance(cur, dict) or k not in cur:
                break
            cur = cur[k]
        else:
            node = out
            for k in ks[:-1]:
                node = node.setdefault(k, {})
            node[ks[-1]] = cur
    return out


def summary_covers(fields: Sequence[str]) -> bool:
    """Whether every dotted path of ``fields`` lies within one of :data:`SUMMARY_FIELDS` (the
    path itself or below it), so a summary holds it as the whole document does.

    >>> summary_covers(["flow.totals.total_usd", "underlying"]), summary_covers(["flow"])
    (True, False)
    """
    return all(any(f == s or f.startswith(s + ".") for s in SUMMARY_FIELDS) for f in fields)


def docs_to_table(results: Sequence[_HasDoc]) -> pa.Table:
    """The ``docs`` results part: ``underlying``, ``session``, ``doc`` (strict JSON text) and
    ``summary`` (the document pruned to :data:`SUMMARY_FIELDS`, :func:`prune_doc`, same text).

    The text is :func:`chainlens._jsonsafe.json_bytes` (orjson): compact, UTF-8, and
    ``json.loads`` of it equals ``json.loads(json.dumps(jsonable(doc), allow_nan=False))``
    (a document is JSON-ready already, so that is the document itself)."""
    return conform(
        "docs",
        pa.table(
            {
                "underlying": pa.array([r.underlying for r in results], pa.string()),
                "session": pa.array([r.session for r in results], pa.date32()),
                "doc": _utf8_array([json_bytes(r.doc) for r in results]),
                "summary": _utf8_array(
                    [json_bytes(prune_doc(r.doc, SUMMARY_FIELDS)) for r in results]
                ),
            }
        ),
    )


def with_summaries(docs: pa.Table) -> pa.Table:
    """A stored ``docs`` part as this version stores it: with its ``summary`` column, made
    from the documents when the part was stored before there was one."""
    if "summary" in docs.column_names:
        return docs
    import orjson

    texts = [json_bytes(prune_doc(orjson.loads(s), SUMMARY_FIELDS))
             for s in docs.column("doc").to_pylist()]  # fmt: skip
    return docs.append_column("summary", _utf8_array(texts))


def _utf8_array(texts: list[bytes]) -> pa.Array:
    """``pa.array(texts, pa.string())`` of UTF-8 texts, built from one joined data buffer and
    its offsets (``pa.array`` converts each ``bytes`` object on its own, ~15x slower on
    documents), then validated as UTF-8 in full; ``pa.array`` itself when the texts exceed
    the 2 GiB of 32-bit offsets."""
    lens = np.fromiter(map(len, texts), np.int64, len(texts))
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    if offsets[-1] >= 2**31:
        return pa.array(texts, pa.string())
    arr = pa.StringArray.from_buffers(
        len(texts), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(texts))
    )
    arr.validate(full=True)  # raises on text that is not UTF-8, as pa.array does
    return arr


# --------------------------------------------------------------------------- checker


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return "null" if tp is type(None) else tp.__name__
    if typing.get_origin(tp) is Union or isinstance(tp, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp)).replace("null", "None")
    return str(tp).replace("typing.", "").replace("chainlens.results.", "")


def doc_errors(value: Any, tp: Any = None, path: str = "doc") -> list[str]:
    """Where ``value`` departs from the typed document ``tp`` (default
    :class:`UnderlyingDoc`): one message per departure, each starting with the key's full
    path (``doc.flow.totals.net_usd: expected float | None, got str``). An empty list when
    it conforms.

    Rules: a TypedDict is a dict with every required key and no undeclared key; ``float``
    accepts a JSON integer; ``JSONValue`` accepts anything.
    """
    if tp is None:
        tp = UnderlyingDoc
    out: list[str] = []
    _check(value, tp, path, out)
    return out


def check_doc(value: Any, tp: Any = None, path: str = "doc") -> None:
    """Raise :class:`ResultSchemaError` listing (up to ten of) :func:`doc_errors`."""
    errs = doc_errors(value, tp, path)
    if errs:
        more = f" (and {len(errs) - 10} more)" if len(errs) > 10 else ""
        raise ResultSchemaError(
            "document does not match its declared type: " + "; ".join(errs[:10]) + more,
            hint="declare new keys in the TypedDicts of chainlens.results and docs/results.md",
        )


_HINTS: dict[type, tuple[dict[str, Any], frozenset[str]]] = {}


def _hints(tp: type) -> tuple[dict[str, Any], frozenset[str]]:
    """``(key -> type, required keys)`` of a TypedDict. Required-ness is read from the
    ``NotRequired`` wrappers here: with postponed annotations, Python 3.11's
    ``__required_keys__`` counts every key as required."""
    h = _HINTS.get(tp)
    if h is None:
        raw = typing.get_type_hints(tp, include_extras=True)
        hints, required = {}, set()
        for k, t in raw.items():
            if typing.get_origin(t) is NotRequired:
                (t,) = typing.get_args(t)
            else:
                required.add(k)
            hints[k] = t
        h = _HINTS[tp] = (hints, frozenset(required))
    return h


def _check(v: Any, tp: Any, path: str, out: list[str]) -> None:
    if tp is Any:
        return
    origin = typing.get_origin(tp)
    if origin is Union or isinstance(tp, types.UnionType):
        arms = typing.get_args(tp)
        for arm in arms:
            trial: list[str] = []
            _check(v, arm, path, trial)
            if not trial:
                return
        # report the deepest mismatch when exactly one non-None arm is a container
        non_none = [a for a in arms if a is not type(None)]
        inner = non_none[0] if len(non_none) == 1 else None
        container = inner is not None and (
            typing.is_typeddict(inner) or typing.get_origin(inner) in (list, dict)
        )
        if container and isinstance(v, dict | list):
            _check(v, inner, path, out)
        else:
            out.append(f"{path}: expected {_type_name(tp)}, got {type(v).__name__}")
        return
    if typing.is_typeddict(tp):
        if not isinstance(v, dict):
            out.append(f"{path}: expected {tp.__name__} (an object), got {type(v).__name__}")
            return
        hints, required = _hints(tp)
        for k in v:
            if k not in hints:
                out.append(f"{path}.{k}: key not declared in {tp.__name__} (chainlens.results)")
        for k in sorted(required):
            if k not in v:
                out.append(f"{path}.{k}: required key missing ({tp.__name__})")
        for k, sub in v.items():
            if k in hints:
                _check(sub, hints[k], f"{path}.{k}", out)
        return
    if origin is list:
        if not isinstance(v, list):
            out.append(f"{path}: expected a list, got {type(v).__name__}")
            return
        (et,) = typing.get_args(tp)
        for i, x in enumerate(v):
            _check(x, et, f"{path}[{i}]", out)
        return
    if origin is dict:
        if not isinstance(v, dict):
            out.append(f"{path}: expected an object, got {type(v).__name__}")
            return
        _, vt = typing.get_args(tp)
        for k, x in v.items():
            _check(x, vt, f"{path}.{k}", out)
        return
    if tp is type(None):
        if v is not None:
            out.append(f"{path}: expected null, got {type(v).__name__}")
        return
    if tp is float:
        ok = isinstance(v, int | float) and not isinstance(v, bool)
    elif tp is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, tp)
    if not ok:
        out.append(f"{path}: expected {_type_name(tp)}, got {type(v).__name__} ({v!r:.40})")


# --------------------------------------------------------------------------- documents
# Generated once from the stored documents of simulated and hand-built runs, then edited:
# the key order is the stored order; NotRequired keys are absent from some documents.


class AnalysisVolExpiriesRowZone(TypedDict):
    """``doc.analysis.vol.expiries[].zone``."""

    low: float | None
    mid: float | None
    high: float | None
    price: float | None
    upside_room_pct: float | None
    downside_room_pct: float | None
    status: str


class ZeroGammaLevel(TypedDict):
    """``doc.analysis.profile.zero_gamma.ex_next_expiry``."""

    level: float | None
    reason: str | None


class OiTermSignalsRowClassShareRow(TypedDict):
    """``doc.oi.term_signals[].class_share[]``."""

    key: str
    value: float | None


class AnalysisVolSmileRow(TypedDict):
    """``doc.analysis.vol.smile[]``."""

    expiry: str
    strike: float | None
    call_iv: float | None
    put_iv: float | None


class AnalysisVolExpiriesRow(TypedDict):
    """``doc.analysis.vol.expiries[]``."""

    expiry: str
    atm_strike: float | None
    straddle_mid: float | None
    expected_move_pct: float | None
    zone: AnalysisVolExpiriesRowZone
    range_50: list[float | None]
    range_70: list[float | None]
    range_50_pct: float | None
    range_70_pct: float | None
    atm_iv: float | None
    iv_25d_call: float | None
    iv_25d_put: float | None
    rr_25d: float | None
    bf_25d: float | None


class AnalysisProfileZeroGamma(TypedDict):
    """``doc.analysis.profile.zero_gamma``."""

    all: ZeroGammaLevel
    ex_0dte: ZeroGammaLevel
    ex_next_expiry: ZeroGammaLevel


class AnalysisProfileGexUsdPer1pct(TypedDict):
    """``doc.analysis.profile.gex_usd_per_1pct``."""

    all: list[float | None]
    ex_0dte: list[float | None]
    ex_next_expiry: list[float | None]


class MarketConvergenceRow(TypedDict):
    """``market.convergence.bearish[]``."""

    rule: str
    text: str
    tickers: NotRequired[list[str]]


class MarketDealersRowNearestPositiveGamma(TypedDict):
    """``market.dealers[].nearest_positive_gamma``."""

    level: float | None
    distance_pct: float | None


class MarketDarkpoolRow(TypedDict):
    """``market.darkpool.distribution[]``."""

    ticker: str
    notional_usd: float | None
    net_usd: float | None
    pct_at_ask: float | None
    pct_at_bid: float | None
    label: str
    confidence: float | None
    prints: int | None


class MarketTopFlowRowsRow(TypedDict):
    """``market.top_flow.rows[]``."""

    ticker: str
    naive_label: str
    side_label: str
    raw_naive_label: str
    raw_side_label: str
    premium_usd: float | None
    net_usd: float | None
    raw_net_usd: float | None
    excluded_share: float | None
    unknown_share: float | None
    directional_share: float | None
    flip: bool
    raw_flip: bool
    signal: str


class OiChangeByStrikeRow(TypedDict):
    """``doc.oi.change_by_strike_live[]``."""

    strike: float | None
    call_oi_change: int | None
    put_oi_change: int | None


class OiSummary(TypedDict):
    """``doc.oi.summary``."""

    session: str
    underlyings: int
    contracts: int
    accumulating_contracts: int
    rolls: dict[str, int]
    stale_sessions: list[JSONValue]


class OiEventsRow(TypedDict):
    """``doc.oi.events[]``."""

    underlying: str
    date: str
    kind: str
    target_expiry: str
    call_build: float | None
    put_build: float | None
    build: float | None
    baseline: float | None
    build_ratio: float | None
    call_put_build_ratio: float | None


class OiPcr(TypedDict):
    """``doc.oi.pcr``."""

    underlying: str
    trade_date: str
    call_volume: float | None
    put_volume: float | None
    call_oi: float | None
    put_oi: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    pcr_volume: float | None
    pcr_oi: float | None
    pcr_premium: float | None
    pcr_volume_band: str
    pcr_oi_band: str
    pcr_premium_band: str


class OiTermSignalsRow(TypedDict):
    """``doc.oi.term_signals[]``."""

    underlying: str
    class_share: list[OiTermSignalsRowClassShareRow]
    weekly_concentration_expiries: list[str] | None
    far_expiry: JSONValue
    skipped_near_term: bool
    leaps_call_growth: float | None
    leaps_building: bool


class OiTermRow(TypedDict):
    """``doc.oi.term[]``."""

    underlying: str
    trade_date: str
    expiry: str
    call_oi: float | None
    put_oi: float | None
    oi: float | None
    oi_share: float | None
    call_share: float | None
    dte_days: int | None
    expiry_class: str


class OiOppositeRow(TypedDict):
    """``doc.oi.opposite[]``."""

    underlying: str
    call_build: float | None
    put_build: float | None
    put_call_build_ratio: float | None
    mixed: bool


class OiRollsRow(TypedDict):
    """``doc.oi.rolls[]``."""

    underlying: str
    kind: str
    right: str
    from_expiry: str
    from_strike: float | None
    to_expiry: str | None
    to_strike: float | None
    contracts: int | None
    from_symbol: str
    to_symbol: str | None
    from_change: float | None
    to_change: float | None
    start_session: str
    end_session: str


class OiAccumulationRow(TypedDict):
    """``doc.oi.accumulation[]``."""

    underlying: str
    expiry: str
    strike: float | None
    right: str
    sessions: int | None
    oi_change: int | None
    root: str
    symbol: str
    oi_start: int | None
    oi_end: int | None
    first_session: str
    last_session: str


class OiClustersRow(TypedDict):
    """``doc.oi.clusters[]``."""

    underlying: str
    strike: float | None
    call_oi: float | None
    put_oi: float | None
    oi: float | None
    oi_share: float | None
    rank: int | None


class OiVolOiTopRow(TypedDict):
    """``doc.oi.vol_oi_top[]``."""

    symbol: str
    expiry: str
    strike: float | None
    right: str
    volume: int | None
    open_interest: int | None
    vol_oi: float | None
    vol_oi_band: str
    volume_multiple: float | None


class OiChangesRow(TypedDict):
    """``doc.oi.changes[]``."""

    symbol: str
    expiry: str
    strike: float | None
    right: str
    oi_change: int | None
    open_interest: int | None
    volume: int | None
    vol_oi: float | None


class FlowNetByStrikeRow(TypedDict):
    """``doc.flow.net_by_strike[]``."""

    strike: float | None
    net_usd: float | None
    total_usd: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    dir_net_usd: float | None
    dir_call_premium_usd: float | None
    dir_put_premium_usd: float | None
    excluded_usd: float | None


class FlowDarkpool(TypedDict):
    """``doc.flow.darkpool``."""

    ticker: str
    prints: int
    notional_usd: float | None
    at_ask_usd: float | None
    at_bid_usd: float | None
    net_usd: float | None
    pct_at_ask: float | None
    pct_at_bid: float | None
    imbalance: float | None
    unplaced_share: float | None
    label: str
    confidence: float | None
    confidence_band: str


class FlowTopStrikesRow(TypedDict):
    """``doc.flow.top_strikes[]``."""

    underlying: str
    expiry: str
    strike: float | None
    calls_bought_usd: float | None
    calls_sold_usd: float | None
    puts_bought_usd: float | None
    puts_sold_usd: float | None
    mid_usd: float | None
    unknown_usd: float | None
    multileg_usd: float | None
    total_usd: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    trades: int | None
    deep_itm_usd: float | None
    synthetic_usd: float | None
    excluded_usd: float | None
    dir_calls_bought_usd: float | None
    dir_calls_sold_usd: float | None
    dir_puts_bought_usd: float | None
    dir_puts_sold_usd: float | None
    dir_call_premium_usd: float | None
    dir_put_premium_usd: float | None
    delta_bullish_usd: float | None
    delta_bearish_usd: float | None
    delta_notional_usd: float | None
    bullish_usd: float | None
    bearish_usd: float | None
    net_usd: float | None
    unknown_share: float | None
    directional_share: float | None
    naive_cp_ratio: float | None
    naive_label: str
    side_label: str
    flip: bool
    dir_bullish_usd: float | None
    dir_bearish_usd: float | None
    excluded_share: float | None
    dir_naive_cp_ratio: float | None
    dir_naive_label: str
    delta_net_usd: float | None
    dir_net_usd: float | None
    dir_side_label: str
    dir_flip: bool
    #: issue 11: contracts per side bucket (seed 004 buy/sell netted volume; absent before)
    calls_bought_contracts: NotRequired[float | None]
    calls_sold_contracts: NotRequired[float | None]
    puts_bought_contracts: NotRequired[float | None]
    puts_sold_contracts: NotRequired[float | None]
    net_call_contracts: NotRequired[float | None]
    net_put_contracts: NotRequired[float | None]
    net_contracts: NotRequired[float | None]


class FlowByExpiryRow(TypedDict):
    """``doc.flow.by_expiry[]``."""

    underlying: str
    expiry: str
    calls_bought_usd: float | None
    calls_sold_usd: float | None
    puts_bought_usd: float | None
    puts_sold_usd: float | None
    mid_usd: float | None
    unknown_usd: float | None
    multileg_usd: float | None
    total_usd: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    trades: int | None
    deep_itm_usd: float | None
    synthetic_usd: float | None
    excluded_usd: float | None
    dir_calls_bought_usd: float | None
    dir_calls_sold_usd: float | None
    dir_puts_bought_usd: float | None
    dir_puts_sold_usd: float | None
    dir_call_premium_usd: float | None
    dir_put_premium_usd: float | None
    delta_bullish_usd: float | None
    delta_bearish_usd: float | None
    delta_notional_usd: float | None
    bullish_usd: float | None
    bearish_usd: float | None
    net_usd: float | None
    unknown_share: float | None
    directional_share: float | None
    naive_cp_ratio: float | None
    naive_label: str
    side_label: str
    flip: bool
    dir_bullish_usd: float | None
    dir_bearish_usd: float | None
    excluded_share: float | None
    dir_naive_cp_ratio: float | None
    dir_naive_label: str
    delta_net_usd: float | None
    dir_net_usd: float | None
    dir_side_label: str
    dir_flip: bool
    #: issue 11: contracts per side bucket (seed 004 buy/sell netted volume; absent before)
    calls_bought_contracts: NotRequired[float | None]
    calls_sold_contracts: NotRequired[float | None]
    puts_bought_contracts: NotRequired[float | None]
    puts_sold_contracts: NotRequired[float | None]
    net_call_contracts: NotRequired[float | None]
    net_put_contracts: NotRequired[float | None]
    net_contracts: NotRequired[float | None]


class FlowNotableRow(TypedDict):
    """``doc.flow.notable[]``."""

    ts: str
    symbol: str
    expiry: str
    strike: float | None
    right: str
    side: str
    size: int | None
    premium_usd: float | None
    price: float | None
    spot: float | None
    is_sweep: bool
    multileg: bool
    n_exchanges: int | None
    distance_pct: float | None
    otm_pct: float | None
    dte_days: int | None
    expiry_class: str
    open_interest: int | None
    size_to_oi: float | None
    vol_oi: float | None
    avg_volume_5d: float | None
    size_to_avg_volume: float | None
    oi_change_next: JSONValue
    held_fraction: JSONValue
    dealer_gex_usd_per_1pct: float | None
    score: float | None
    rank: int | None


class FlowSideMix(TypedDict):
    """``doc.flow.side_mix``."""

    trades: int
    premium_usd: float | None
    buy_trades: int
    buy_share: float | None
    buy_premium_share: float | None
    sell_trades: int
    sell_share: float | None
    sell_premium_share: float | None
    mid_trades: int
    mid_share: float | None
    mid_premium_share: float | None
    unknown_trades: int
    unknown_share: float | None
    unknown_premium_share: float | None


class FlowTotals(TypedDict):
    """``doc.flow.totals``."""

    calls_bought_usd: float | None
    calls_sold_usd: float | None
    puts_bought_usd: float | None
    puts_sold_usd: float | None
    mid_usd: float | None
    unknown_usd: float | None
    multileg_usd: float | None
    total_usd: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    trades: int
    deep_itm_usd: float | None
    synthetic_usd: float | None
    excluded_usd: float | None
    dir_calls_bought_usd: float | None
    dir_calls_sold_usd: float | None
    dir_puts_bought_usd: float | None
    dir_puts_sold_usd: float | None
    dir_call_premium_usd: float | None
    dir_put_premium_usd: float | None
    delta_bullish_usd: float | None
    delta_bearish_usd: float | None
    delta_notional_usd: float | None
    bullish_usd: float | None
    bearish_usd: float | None
    net_usd: float | None
    unknown_share: float | None
    directional_share: float | None
    naive_cp_ratio: float | None
    naive_label: str
    side_label: str
    flip: bool
    dir_bullish_usd: float | None
    dir_bearish_usd: float | None
    excluded_share: float | None
    dir_naive_cp_ratio: float | None
    dir_naive_label: str
    delta_net_usd: float | None
    dir_net_usd: float | None
    dir_side_label: str
    dir_flip: bool
    tickers: int
    flips: int
    flip_rate: float | None
    notable_min_premium_usd: float | None
    #: issue 11: contracts per side bucket (seed 004 buy/sell netted volume; absent before)
    calls_bought_contracts: NotRequired[float | None]
    calls_sold_contracts: NotRequired[float | None]
    puts_bought_contracts: NotRequired[float | None]
    puts_sold_contracts: NotRequired[float | None]
    net_call_contracts: NotRequired[float | None]
    net_put_contracts: NotRequired[float | None]
    net_contracts: NotRequired[float | None]


class AnalysisByStrikeLiveRow(TypedDict):
    """``doc.analysis.by_strike_live[]``."""

    strike: float | None
    call_oi: int | None
    put_oi: int | None
    gex_usd_per_1pct: float | None
    dex_shares: float | None
    call_volume: int | None
    put_volume: int | None
    call_gex_usd_per_1pct: float | None
    put_gex_usd_per_1pct: float | None
    vanna_usd_per_vol_pt: float | None
    charm_shares_per_day: float | None


class AnalysisSettings(TypedDict):
    """``doc.analysis.settings``."""

    rate: float | None
    t_floor_years: JSONValue
    vendor_fallback: str


class AnalysisSurfaces(TypedDict):
    """``doc.analysis.surfaces``."""

    spot_levels: list[float | None]
    times: list[str]
    hours_ahead: list[float | None]
    dx_shares: list[list[float | None]]
    gx_shares_per_usd: list[list[float | None]]
    iv: str
    futures_usd_per_point: NotRequired[float | None]
    dx_futures_contracts: NotRequired[list[list[float | None]]]
    gx_futures_contracts_per_point: NotRequired[list[list[float | None]]]


class AnalysisVol(TypedDict):
    """``doc.analysis.vol``."""

    expiries: list[AnalysisVolExpiriesRow]
    atm_term_structure: list[list[str | float]]
    skew_term_structure: list[list[str | float]]
    smile: list[AnalysisVolSmileRow]


class AnalysisProfile(TypedDict):
    """``doc.analysis.profile``."""

    levels: list[float | None]
    gex_usd_per_1pct: AnalysisProfileGexUsdPer1pct
    zero_gamma: AnalysisProfileZeroGamma
    next_expiry: str
    contracts_used: int
    iv: str


class AnalysisMaxPainTrendRow(TypedDict):
    """``doc.analysis.max_pain_trend[]``."""

    expiry: str
    max_pain: float | None
    spot_distance_pct: float | None


class AnalysisByExpiryRow(TypedDict):
    """``doc.analysis.by_expiry[]``."""

    expiry: str
    contracts: int | None
    call_oi: int | None
    put_oi: int | None
    call_volume: int | None
    put_volume: int | None
    max_pain: float | None
    gex_usd_per_1pct: float | None
    dex_shares: float | None
    vanna_usd_per_vol_pt: float | None
    charm_shares_per_day: float | None
    atm_strike: float | None
    straddle_mid: float | None
    expected_move_pct: float | None
    straddle_last: float | None
    expected_move_pct_last: float | None
    oi_call_wall: float | None
    oi_put_wall: float | None
    rr_25d: float | None
    atm_iv: float | None


class AnalysisLevels(TypedDict):
    """``doc.analysis.levels``."""

    zero_gamma: float | None
    call_wall: float | None
    put_wall: float | None
    oi_call_wall: float | None
    oi_put_wall: float | None
    zero_gamma_reason: str | None


class AnalysisTotals(TypedDict):
    """``doc.analysis.totals``."""

    contracts: int
    call_oi: int
    put_oi: int
    call_volume: int
    put_volume: int
    pc_oi_ratio: float | None
    pc_volume_ratio: float | None
    gex_usd_per_1pct: float | None
    dex_shares: float | None
    vanna_usd_per_vol_pt: float | None
    charm_shares_per_day: float | None
    dex_futures_contracts: NotRequired[float | None]


class EarningsPostExpiryOiBySessionRow(TypedDict):
    """``doc.earnings.post_expiry_oi_by_session[]``."""

    session: str
    oi: int | None


class MarketRules(TypedDict):
    """``market.rules``."""

    top_flow_n: int
    extreme_directional_share: float | None
    extreme_min_premium_usd: float | None
    unknown_share_low_confidence: float | None
    darkpool_min_confidence: float | None
    gamma_zone_half_width_pct: float | None
    structure_min_signals: int
    structure_max: int
    rr_not_directional: list[str]
    side_confidence_high: float | None
    structure_min_dte: int
    structure_max_dte: int


class MarketTickerNotesRow(TypedDict):
    """``market.ticker_notes[]``."""

    ticker: str
    close: float | None
    change_pct: float | None
    premium_usd: float | None
    options_net_usd: float | None
    unknown_share: float | None
    options_confident: bool
    darkpool_net_usd: float | None
    darkpool_label: str
    gex_usd_per_1pct: float | None
    verdict: str
    verdict_text: str


class MarketStructuresRow(TypedDict):
    """``market.structures[]``."""

    ticker: str
    direction: str
    expiry: str
    expiry_reason: str
    structure: str
    long_strike: float | None
    short_strike: float | None
    conviction: int | None
    conviction_of: int | None
    signals: list[str]
    disclaimer: str


class MarketConvergence(TypedDict):
    """``market.convergence``."""

    bullish: list[MarketConvergenceRow]
    bearish: list[MarketConvergenceRow]
    bullish_count: int
    bearish_count: int
    tilt: str


class MarketSectorsRow(TypedDict):
    """``market.sectors[]``."""

    sector: str
    premium_usd: float | None
    net_usd: float | None
    tickers: list[str]
    direction: str
    basis: str
    share_of_market: float | None


class MarketDealersRow(TypedDict):
    """``market.dealers[]``."""

    ticker: str
    spot: float | None
    zone_low: float | None
    zone_high: float | None
    zone_gex_usd_per_1pct: float | None
    gex_at_spot_usd_per_1pct: float | None
    total_gex_usd_per_1pct: float | None
    zero_gamma: float | None
    nearest_positive_gamma: MarketDealersRowNearestPositiveGamma


class MarketZonesRow(TypedDict):
    """``market.zones[]``."""

    ticker: str
    expiry: str
    low: float | None
    mid: float | None
    high: float | None
    close: float | None
    upside_room_pct: float | None
    downside_room_pct: float | None
    downside_upside_ratio: float | None
    change_pct: float | None
    status: str
    expected_move_pct: float | None
    basis: str


class MarketDarkpool(TypedDict):
    """``market.darkpool``."""

    total_notional_usd: float | None
    tickers: int
    accumulation: list[MarketDarkpoolRow]
    distribution: list[MarketDarkpoolRow]
    low_confidence: list[str]


class MarketTopFlow(TypedDict):
    """``market.top_flow``."""

    rows: list[MarketTopFlowRowsRow]
    raw_flips: int
    raw_flip_rate: float | None
    flips: int
    names: int
    flip_rate: float | None
    all_tickers: int
    all_flips: int
    all_flip_rate: float | None


class MarketSide(TypedDict):
    """``market.side``."""

    calls_bought_usd: float | None
    calls_sold_usd: float | None
    puts_bought_usd: float | None
    puts_sold_usd: float | None
    mid_usd: float | None
    unknown_usd: float | None
    multileg_usd: float | None
    total_usd: float | None
    call_premium_usd: float | None
    put_premium_usd: float | None
    deep_itm_usd: float | None
    synthetic_usd: float | None
    excluded_usd: float | None
    dir_calls_bought_usd: float | None
    dir_calls_sold_usd: float | None
    dir_puts_bought_usd: float | None
    dir_puts_sold_usd: float | None
    dir_call_premium_usd: float | None
    dir_put_premium_usd: float | None
    delta_bullish_usd: float | None
    delta_bearish_usd: float | None
    trades: int
    bullish_usd: float | None
    bearish_usd: float | None
    net_usd: float | None
    unknown_share: float | None
    naive_cp_ratio: float | None
    naive_label: str
    side_label: str
    flip: bool
    dir_bullish_usd: float | None
    dir_bearish_usd: float | None
    dir_net_usd: float | None
    delta_net_usd: float | None
    excluded_share: float | None
    dir_naive_cp_ratio: float | None
    dir_naive_label: str
    dir_side_label: str
    dir_flip: bool
    tickers: int


class OiDoc(TypedDict):
    """``doc.oi``."""

    sessions: int
    change_session: str | None
    changes: list[OiChangesRow]
    change_by_strike: list[OiChangeByStrikeRow]
    vol_oi_top: list[OiVolOiTopRow]
    clusters: list[OiClustersRow]
    accumulation: list[OiAccumulationRow]
    rolls: list[OiRollsRow]
    opposite: list[OiOppositeRow]
    term: list[OiTermRow]
    term_signals: list[OiTermSignalsRow]
    pcr: OiPcr | None
    events: list[OiEventsRow]
    summary: OiSummary
    spot_by_session: dict[str, float | None]
    change_by_strike_live: NotRequired[list[OiChangeByStrikeRow]]


class FlowDoc(TypedDict):
    """``doc.flow``."""

    totals: FlowTotals
    side_mix: FlowSideMix
    notable: list[FlowNotableRow]
    by_expiry: list[FlowByExpiryRow]
    top_strikes: list[FlowTopStrikesRow]
    darkpool: FlowDarkpool | None
    twap: list[JSONValue]
    net_by_strike: list[FlowNetByStrikeRow]


class AnalysisDoc(TypedDict):
    """``doc.analysis``."""

    schema_version: str
    underlying: str
    session: str
    snapshot_ts: str
    spot: float | None
    greeks: str
    dealer_model: str
    totals: AnalysisTotals
    levels: AnalysisLevels
    by_expiry: list[AnalysisByExpiryRow]
    by_strike: list[AnalysisByStrikeLiveRow]
    excluded: dict[str, int]
    max_pain_trend: list[AnalysisMaxPainTrendRow]
    profile: AnalysisProfile
    vol: AnalysisVol
    surfaces: AnalysisSurfaces
    settings: AnalysisSettings
    by_strike_live: NotRequired[list[AnalysisByStrikeLiveRow]]
    #: set without trades but with dark-pool prints (the ``flow`` key is then null)
    darkpool_only: NotRequired[FlowDarkpool | None]


class PriorZoneDoc(TypedDict):
    """``doc.prior_zone``."""

    set_on: str
    expiry: str
    atm_strike: float | None
    straddle_mid: float | None
    low: float | None
    mid: float | None
    high: float | None
    price: float | None
    upside_room_pct: float | None
    downside_room_pct: float | None
    status: str


class EarningsDoc(TypedDict):
    """``doc.earnings``."""

    next_date: str | None
    past_dates: list[str]
    event_timing: NotRequired[str]
    post_expiry: NotRequired[str | None]
    implied_move_pct: NotRequired[float | None]
    rr_25d: NotRequired[float | None]
    atm_iv: NotRequired[float | None]
    pre_expiry: NotRequired[str | None]
    pre_atm_iv: NotRequired[float | None]
    days_to_post_expiry: NotRequired[int | None]
    second_post_expiry: NotRequired[str | None]
    second_post_atm_iv: NotRequired[float | None]
    kink_move_pct: NotRequired[float | None]
    kink_reason: NotRequired[str | None]
    kink_method: NotRequired[str | None]
    post_expiry_call_oi: NotRequired[int | float | None]
    post_expiry_put_oi: NotRequired[int | float | None]
    post_expiry_oi_by_session: NotRequired[list[EarningsPostExpiryOiBySessionRow]]
    post_expiry_oi_build: NotRequired[int | float | None]
    historical_moves_pct: list[float | None]
    historical_mean_move_pct: float | None


class RealizedVolDoc(TypedDict):
    """``doc.realized_vol``."""

    value: float | None
    source: str
    returns: int


class MarketDoc(TypedDict):
    """``market``."""

    session: str
    underlyings: int
    tickers: list[str]
    spots: dict[str, float | None]
    side: MarketSide
    top_flow: MarketTopFlow
    darkpool: MarketDarkpool
    zones: list[MarketZonesRow]
    dealers: list[MarketDealersRow]
    sectors: list[MarketSectorsRow]
    chain_activity: list[JSONValue]
    convergence: MarketConvergence
    structures: list[MarketStructuresRow]
    structures_withheld: int
    ticker_notes: list[MarketTickerNotesRow]
    macro: JSONValue
    rules: MarketRules
    missing: list[JSONValue]


class UnderlyingDoc(TypedDict):
    """``doc``."""

    doc_version: str
    underlying: str
    session: str
    close: float | None
    realized_vol: RealizedVolDoc
    earnings: EarningsDoc | None
    prior_zone: PriorZoneDoc | None
    missing: list[str]
    analysis: AnalysisDoc
    flow: FlowDoc | None
    oi: OiDoc


class FactsVolExpiry(TypedDict):
    """``facts.analysis.vol.expiries[]``: the keys of ``doc.analysis.vol.expiries[]`` the
    market rollup reads (zones, trade structures)."""

    expiry: str
    atm_strike: NotRequired[float | None]
    expected_move_pct: NotRequired[float | None]
    zone: NotRequired[AnalysisVolExpiriesRowZone]
    range_50: NotRequired[list[float | None]]
    rr_25d: NotRequired[float | None]


class FactsVol(TypedDict):
    """``facts.analysis.vol``."""

    expiries: list[FactsVolExpiry]


class FactsProfile(TypedDict):
    """``facts.analysis.profile``: whether the gamma profile used contracts with greeks."""

    contracts_used: int


class FactsTotals(TypedDict):
    """``facts.analysis.totals``."""

    gex_usd_per_1pct: float | None


class FactsAnalysis(TypedDict):
    """``facts.analysis`` of a name the dealer mechanics do not read (the index tickers of
    :data:`chainlens.market.INDEX_TICKERS` keep their whole :class:`AnalysisDoc`)."""

    spot: NotRequired[float | None]
    greeks: NotRequired[str]
    totals: NotRequired[FactsTotals]
    profile: NotRequired[FactsProfile | None]
    vol: NotRequired[FactsVol]
    darkpool_only: NotRequired[FlowDarkpool | None]


class FactsFlowByExpiry(TypedDict):
    """``facts.flow.by_expiry[]``."""

    expiry: str
    net_usd: NotRequired[float | None]
    dir_net_usd: NotRequired[float | None]


class FactsFlow(TypedDict):
    """``facts.flow``."""

    totals: FlowTotals
    darkpool: NotRequired[FlowDarkpool | None]
    by_expiry: NotRequired[list[FactsFlowByExpiry]]


class FactsOiAccumulation(TypedDict):
    """``facts.oi.accumulation[]``."""

    expiry: str
    oi_change: NotRequired[int | None]


class FactsOi(TypedDict):
    """``facts.oi``."""

    pcr: NotRequired[OiPcr | None]
    accumulation: NotRequired[list[FactsOiAccumulation]]


class MarketFacts(TypedDict):
    """The part of one :class:`UnderlyingDoc` the market rollup reads
    (:func:`chainlens.market.market_facts`): what a runner's task hands back for the rollup
    instead of the whole document (the documents themselves travel as the ``docs`` part,
    already JSON). Every key keeps the document's path and value, so
    ``market_rollup(facts) == market_rollup(docs)``."""

    underlying: str
    session: str
    flow: FactsFlow | None
    analysis: FactsAnalysis | AnalysisDoc
    prior_zone: PriorZoneDoc | None
    oi: FactsOi


class ReportHighOi(TypedDict):
    """``doc.high_oi`` (report step, issue 11): volume vs the trailing average at each strike
    and the overnight OI change (seed 002 "High-OI names"; :mod:`chainlens.report._extras`)."""

    high_oi_name: bool
    sessions: list[str]
    #: strike, {call,put}_volume, _avg (contracts per session), _multiple (ratio), _oi_change
    rows: list[dict[str, float | None]]
    spike: dict[str, float | str | None] | None
    spike_is_large: bool
    oi_build: dict[str, float | str | None] | None


class ReportDealerProfile(TypedDict):
    """One dealer profile against spot (``dx_shares``: shares; ``gx_shares_per_usd``)."""

    dx_shares: list[float]
    gx_shares_per_usd: list[float]
    dx_at_spot: float | None
    gx_at_spot: float | None
    reading: str | None


class ReportDealerProfiles(TypedDict):
    """``doc.dealer_profiles`` (report step, issue 11): per dealer model, all expiries and
    0DTE (seed 004 "dealers 0DTE gamma and Delta profile ... and overall")."""

    levels: list[float]
    spot: float | None
    zero_dte_expiry: str | None
    zero_dte_label: str
    models: dict[str, dict[str, ReportDealerProfile | None]]


class ReportVolCurve(TypedDict):
    """``doc.vol_curves[]``: call and put IV (decimal) by strike of one expiry."""

    expiry: str
    strikes: list[float]
    call_iv: list[float | None]
    put_iv: list[float | None]


class ReportNetVolume(TypedDict):
    """``doc.net_volume``: contracts bought minus sold by strike of one expiry (seed 004)."""

    expiry: str
    #: strike and the CONTRACT_COLUMNS of flow_by_strike (contracts)
    rows: list[dict[str, float | None]]
    #: every live expiry with its contracts traded (bought + sold)
    expiries: list[dict[str, str | float | None]]


class ReportEventPrePost(TypedDict):
    """``doc.event_prepost[]``: an event's expiry before vs after the event (seed 002)."""

    kind: str
    date: str
    target_expiry: str | None
    before_session: str
    after_session: str
    before_oi: float | None
    before_volume: float | None
    before_atm_iv: float | None
    before_total_oi: float | None
    after_oi: float | None
    after_volume: float | None
    after_atm_iv: float | None
    after_total_oi: float | None
    oi_change_pct: float | None
    iv_change: float | None


class ReportDoc(UnderlyingDoc):
    """An :class:`UnderlyingDoc` as the report lenses render it: the stored document plus what
    the report step adds (never stored)."""

    #: yesterday's watch items checked on this session (:func:`chainlens.report._watch.watch_followup`)
    watch_followup: NotRequired[JSONValue]
    #: the measured outcome rules of the ticker (:func:`chainlens.report._outcomes.session_outcomes`)
    outcomes: NotRequired[JSONValue]
    #: issue 11, report-time views read from the store (:mod:`chainlens.report._extras`)
    high_oi: NotRequired[ReportHighOi]
    event_prepost: NotRequired[list[ReportEventPrePost]]
    dealer_profiles: NotRequired[ReportDealerProfiles]
    vol_curves: NotRequired[list[ReportVolCurve]]
    net_volume: NotRequired[ReportNetVolume]
    #: the premium/volume multiples scanner's reading of the ticker (:mod:`chainlens.report._unusual`)
    unusual: NotRequired[JSONValue]
