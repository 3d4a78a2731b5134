"""Issue 13: the session report writer reads once and shares (:mod:`chainlens.report._shared`).

Every shared or batched read is checked against the per-ticker path it replaces:

* :meth:`Store.read_doc_fields` against the whole documents of :meth:`Store.read_docs`, pruned
  here by the definition (each requested path that exists, nothing else);
* :meth:`Store.read_results_of` and :class:`SessionReads` against :meth:`Store.read_results` of
  one underlying;
* :func:`earlier_strike_volumes` against a reference written from :meth:`Store.chain_history`
  of each ticker (the read it replaces);
* :func:`bar_closes` against :func:`closes_of` of each ticker;
* the reports :func:`write_session_reports` writes against :func:`daily_report` and
  :func:`ticker_report` (whole documents, one ticker's reads at a time), byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from chainlens.errors import InputError
from chainlens.report import render, write_session_reports
from chainlens.report._context import bar_closes, closes_of, market_context
from chainlens.report._extras import earlier_strike_volumes
from chainlens.report._session import daily_report, ticker_report
from chainlens.report._shared import DAILY_FIELDS, SessionReads, daily_docs
from chainlens.report._unusual import market_unusual
from chainlens.report.lenses.signals import market_signals
from chainlens.runners.local import run_local
from chainlens.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dt.date]]:
    """The demo market (seed 7), 8 underlyings, 4 sessions; the last two run (so the watch
    follow-up reads the previous session's documents)."""
    from chainlens.sim import build_demo_market

    tmp = tmp_path_factory.mktemp("shared_reads")
    m = build_demo_market(tmp / "sim", seed=7, underlyings=8, sessions=4)
    with Store(tmp / "store") as st:
        st.ingest_many(m.all_paths())
        for d in m.sessions[-2:]:
            run_local(st, d)
    return tmp / "store", list(m.sessions)


def _prune(doc: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The reference pruning: each requested path the document holds, with the objects on the
    way to it (none of their other keys)."""
    out: dict[str, Any] = {}
    for f in fields:
        ks = f.split(".")
        cur: Any = doc
        for k in ks:
            if not isinstance(cur, dict) or k not in cur:
                break
            cur = cur[k]
        else:
            o = out
            for k in ks[:-1]:
                o = o.setdefault(k, {})
            o[ks[-1]] = cur
    return out


def test_read_doc_fields_is_the_pruned_document(market: tuple[Path, list[dt.date]]) -> None:
    root, days = market
    with Store(root, read_only=True) as st:
        full = st.read_docs(days[-1])
        whole = [full[0]["underlying"], full[3]["underlying"]]
        fields = [*DAILY_FIELDS, "analysis.no_such_key", "no_such_top.x", "earnings"]
        got = st.read_doc_fields(days[-1], fields, whole=whole)
        with pytest.raises(InputError):
            st.read_doc_fields(days[-1], ["flow.totals'); DROP"])
    assert [d["underlying"] for d in got] == [d["underlying"] for d in full]
    for g, f in zip(got, full, strict=True):
        want = f if f["underlying"] in whole else _prune(dict(f), fields)
        # the same JSON: an int stays an int, a float a float
        assert json.dumps(g, sort_keys=True) == json.dumps(want, sort_keys=True)
        if f["underlying"] not in whole:
            assert "analysis" in g and "by_strike" not in g["analysis"]  # pruned


def test_daily_readers_equal_on_pruned_documents(market: tuple[Path, list[dt.date]]) -> None:
    root, days = market
    with Store(root, read_only=True) as st:
        full = st.read_docs(days[-1])
        pruned = daily_docs(st, days[-1])
        assert market_signals(pruned) == market_signals(full)
        assert market_signals(full)  # the demo plants OI signals
        assert market_unusual(st, days[-1], pruned) == market_unusual(st, days[-1], full)
        m = st.read_market(days[-1])
        assert market_context(st, days[-1], pruned, m) == market_context(st, days[-1], full, m)


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal schemas and rows (a NaN equal to a NaN, unlike ``Table.equals``)."""
    rows = [json.dumps(t.to_pylist(), default=str) for t in (a, b)]
    return a.schema.equals(b.schema) and rows[0] == rows[1]


def test_read_results_of_equals_per_underlying_reads(market: tuple[Path, list[dt.date]]) -> None:
    root, days = market
    with Store(root, read_only=True) as st:
        names = st.underlyings(days[-1])
        some = names[1:5]
        reads = SessionReads(st, some)
        for part in ("by_expiry", "by_strike", "scan_unusual", "flow_by_strike", "notable"):
            many = st.read_results_of("pipeline", days[-1], part, some)
            one = [st.read_results("pipeline", days[-1], part, underlying=u) for u in some]
            if "underlying" in many.column_names:
                assert _same(many, pa.concat_tables(one))
            for u, t in zip(some, one, strict=True):
                assert _same(reads.read_results("pipeline", days[-1], part, underlying=u), t)
        for u in (names[0], *some):
            assert reads.read_docs(days[-2], u) == st.read_docs(days[-2], u)
            assert reads.session_dates(u) == st.session_dates(u)
        assert reads.result_sessions() == st.result_sessions()


def test_session_reads_a_missing_part_is_looked_up_once(
    market: tuple[Path, list[dt.date]],
) -> None:
    """A part never written raises the store's NotFoundError for every reported ticker, and
    the store is asked once (the reports of 50 tickers asked it 200 times per session)."""
    from chainlens.errors import NotFoundError

    root, days = market
    with Store(root, read_only=True) as st:
        some = st.underlyings(days[-1])[1:4]
        calls: list[str] = []

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(st, name)

            def read_results_of(self, *a: Any, **k: Any) -> pa.Table:
                calls.append(a[2])
                return st.read_results_of(*a, **k)

        reads = SessionReads(Counting(), some)
        with pytest.raises(NotFoundError) as ref:
            st.read_results_of("pipeline", days[-1], "no_such_part", some)
        for u in some:
            with pytest.raises(NotFoundError) as got:
                reads.read_results("pipeline", days[-1], "no_such_part", underlying=u)
            assert str(got.value) == str(ref.value)
        assert calls == ["no_such_part"]


def _earlier_reference(st: Store, t: str, session: dt.date, n: int) -> tuple[list, list]:
    """Volume by strike of each of the ``n`` sessions of ``t`` before ``session``, from
    :meth:`Store.chain_history` of the one ticker (the per-ticker read)."""
    before = [d for d in st.session_dates(t) if d < session][-n:]
    if not before:
        return [], []
    h = pl.from_arrow(st.chain_history(t, start=before[0], end=before[-1]))
    assert isinstance(h, pl.DataFrame)
    days, parts = [], []
    for d in before:
        g = h.filter(pl.col("trade_date") == d)
        if not g.height:
            continue
        v = pl.col("volume").cast(pl.Float64).fill_null(0.0)
        agg = g.group_by("strike").agg(
            v.filter(pl.col("right") == "C").sum().alias("call_volume"),
            v.filter(pl.col("right") == "P").sum().alias("put_volume"),
        )
        days.append(d)
        parts.append(agg.sort("strike").to_arrow())
    return days, parts


@pytest.mark.parametrize("n", [1, 2, 5])
def test_earlier_strike_volumes_equal_per_ticker_reads(
    market: tuple[Path, list[dt.date]], n: int
) -> None:
    root, days = market
    with Store(root, read_only=True) as st:
        names = st.underlyings()
        got = earlier_strike_volumes(st, names, days[-1], n)
        assert set(got) == set(names)
        for t in names:
            ds, ps = _earlier_reference(st, t, days[-1], n)
            assert got[t][0] == ds
            assert len(got[t][1]) == len(ps) and len(ds) == min(n, len(days) - 1)
            for a, b in zip(got[t][1], ps, strict=True):
                assert _same(a, b)
        # chain_block without open_interest reads no OI-only snapshot: the same rows
        cols = ["underlying", "trade_date", "strike", "right", "volume"]
        lean = st.chain_block(names, end=days[-1], n_sessions=n, columns=cols)
        full = st.chain_block(names, end=days[-1], n_sessions=n, columns=[*cols, "open_interest"])
        assert _same(lean, full.select(cols))
        first = earlier_strike_volumes(st, names, days[0], n)
        assert all(v == ([], []) for v in first.values())  # nothing before the first session


def test_bar_closes_equal_closes_of() -> None:
    d = [dt.date(2024, 3, i) for i in (4, 5, 6, 7)]
    bars = pa.table(
        {
            "ticker": ["A", "A", "B", "A", "B", "C", "A", "B", "D", "D"],
            "trade_date": [d[2], d[0], d[0], d[1], d[2], d[1], d[2], d[3], d[2], d[2]],
            "close": [10.5, 9.0, 50.0, 9.5, 51.0, 7.0, 10.25, 52.0, 3.0, 3.5],
        },
        schema=pa.schema(
            [("ticker", pa.string()), ("trade_date", pa.date32()), ("close", pa.float64())]
        ),
    )
    got = bar_closes(bars, d[2])
    for t in ("A", "B", "C", "D", "E"):
        ds, cs, src = closes_of(None, t, d[2], bars)  # no store: only the bars path counts
        if src == "bars":
            assert got[t] == (ds, cs)
        else:
            assert t not in got
    assert got["A"] == ([d[0], d[1], d[2]], [9.0, 9.5, 10.25])  # a repeated session: the last
    assert got["D"] == ([d[2]], [3.5]) and "C" not in got and "B" in got


def test_session_reports_equal_the_single_report_path(
    market: tuple[Path, list[dt.date]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session writer's reports are those of the one-report functions, the daily report
    made from the whole documents (``daily_docs`` replaced by ``read_docs``)."""
    from chainlens.report import _shared

    root, days = market
    with Store(root, read_only=True) as st:
        names = st.underlyings(days[-1])
        plan = {u: ("flow",) for u in names}
        plan[names[0]] = ("flow", "premium", "bias")
        for d in days[-2:]:
            out = tmp_path / d.isoformat()
            write_session_reports(st, d, out, lenses=plan, formats=("html", "json"))
            for fmt in ("html", "json"):
                with monkeypatch.context() as mp:
                    mp.setattr(_shared, "daily_docs", lambda st, day, whole=(): st.read_docs(day))
                    want = render(daily_report(st, d, fmt), fmt)
                assert (out / d.isoformat() / f"daily.{fmt}").read_text("utf-8") == want
                for u, ls in plan.items():
                    for lens in ls:
                        want = render(ticker_report(st, u, d, lens, fmt), fmt)
                        got = (out / d.isoformat() / f"{u}-{lens}.{fmt}").read_text("utf-8")
                        assert got == want, (d, u, lens, fmt)
            rep = json.loads((out / d.isoformat() / "daily.json").read_text("utf-8"))
            assert rep["kind"] == "daily"
