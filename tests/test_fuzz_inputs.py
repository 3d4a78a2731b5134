"""Issue 18 fuzz suite: Hypothesis over every adapter, the store's ingest and the CLI parser.

Properties, for every generated input:

* no traceback: a file either reads (batches) or raises a ChainlensError naming it; the CLI
  exits 0, 1 or 2 with a message, never an internal error;
* rows read = accepted + rejected, batch by batch;
* nothing silently wrong: every accepted row passes an independent, scalar re-statement of
  the rules (written here from the rule table's documentation, not imported from it);
* a failed ingest leaves the store byte-identical.

The budget is ``CHAINLENS_FUZZ_EXAMPLES`` examples per test (small in ``make test``;
``make fuzz`` runs 20x more). The outcome counts are printed as the issue's table.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _harden import cli, tree_digest
from chainlens.errors import ChainlensError
from chainlens.io import read_file
from test_harden_inputs import CBOE_PRE, IWM_HEADER, _chain, iwm_row

N = int(os.environ.get("CHAINLENS_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=N,
    # make test replays the same examples (a stable CI); make fuzz explores new ones
    derandomize="CHAINLENS_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
TALLY: Counter[tuple[str, str]] = Counter()

DATASHOP_EOD = (
    "underlying_symbol,quote_date,root,expiration,strike,option_type,open,high,low,close,"
    "trade_volume,bid_size_1545,bid_1545,ask_size_1545,ask_1545,underlying_bid_1545,"
    "underlying_ask_1545,implied_underlying_price_1545,active_underlying_price_1545,"
    "implied_volatility_1545,delta_1545,gamma_1545,theta_1545,vega_1545,rho_1545,bid_size_eod,"
    "bid_eod,ask_size_eod,ask_eod,underlying_bid_eod,underlying_ask_eod,vwap,open_interest,"
    "delivery_code\n"
    "^VIX,2016-06-01,VIX,2016-06-15,15.000,C,1.0,1.1,0.9,1.0,12,5,0.9500,7,1.0500,14.2400,"
    "14.2400,14.3,14.2400,0.8,0.5,0.2,-0.01,0.02,0.001,5,0.9500,7,1.0500,14.2000,14.2000,1.0,"
    "600,\n"
    "^VIX,2016-06-01,VIX,2016-06-15,15.000,P,1.0,1.1,0.9,1.0,12,5,0.9500,7,1.0500,14.2400,"
    "14.2400,14.3,14.2400,0.8,-0.5,0.2,-0.01,0.02,0.001,5,0.9500,7,1.0500,14.2000,14.2000,1.0,"
    "700,\n"
)
DATASHOP_TRADES = (
    "underlying_symbol,quote_datetime,sequence_number,root,expiration,strike,option_type,"
    "exchange_id,trade_size,trade_price,trade_condition_id,canceled_trade_condition_id,best_bid,"
    "best_ask,underlying_bid,underlying_ask,number_of_exchanges,{exchange,bid_size,bid,ask_size,"
    "ask}[number_of_exchanges]\n"
    "^VIX,2016-06-01 13:57:58.175,78677916,VIX,2016-06-08,12.500,C,5,1,2.4000,0,0,2.1500,2.6000,"
    "14.7500,14.7500,1,5,269,2.1500,2420,2.6000\n"
    "^VIX,2016-06-01 09:48:28.925,8614309,VIX,2016-06-08,13.000,C,5,100,2.1000,0,0,2.0500,"
    "2.4000,15.2250,15.2250,1,5,1577,2.0500,3648,2.4000\n"
)
OCC = json.dumps(
    {
        "ticker": "SPY",
        "closes": {"10-8": 773.03, "11-8": 770.56},
        "days": {
            "10-8": {"2026-08-21": {"500.0": {"call_oi": 10, "put_oi": 5}}},
            "11-8": {"2026-08-21": {"500.0": {"call_oi": 12, "put_oi": 5}}},
        },
        "updated_at": "2026-08-11T21:00:00Z",
    }
)
CBOE = CBOE_PRE.format(spot="370.5", gamma="0.01", iv="0.25")
IWM = IWM_HEADER + iwm_row() + iwm_row(osi="IWM   191018P00100000", right="P")
TEXT_BASES = {
    "cboe": ("q.csv", CBOE),
    "generic": ("iwm.csv", IWM),
    "datashop_eod": ("UnderlyingOptionsEODCalcs_2016-06-01.csv", DATASHOP_EOD),
    "datashop_trades": ("UnderlyingOptionsTrades_2016-06-01.csv", DATASHOP_TRADES),
    "occ": ("SPY_history.json", OCC),
}

# values that broke, or might break, a parser: overflow, exponents, separators, markup,
# paths, impossible dates and times, control characters
NASTY = [
    "", " ", "0", "-0", "-1", "-100", "1e300", "-1e300", "1.056e2", "1 056.5", "1,056.5",
    "nan", "inf", "-inf", "9223372036854775807", "9223372036854775808", "1" + "0" * 25,
    "0x10", "1_000", "٣", "04/31/2019", "02/30/2019", "10/15/2300", "10/12/2019",
    "1900-01-02", "2016-06-31", "2016-06-01 25:00:00", "2016-06-01 23:59:60", "[/]", "[bold]",
    "../../X", "=cmd|' /C calc'!A0", '"', '""', "a,b", "\t", "\x00", "\u202e", "X" * 300,
    "SPY   191018C00100000", "C", "P", "CALL", "x", "[", "{", "}", "null", "true",
]  # fmt: skip
token = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers().map(str),
                  st.floats(allow_nan=True).map(repr))  # fmt: skip


def _mutate_text(text: str, data: st.DataObject) -> str:
    lines = text.split("\n")
    kind = data.draw(st.sampled_from(["field", "field", "field", "line", "bytes"]))
    if kind == "field":
        i = data.draw(st.integers(0, len(lines) - 1))
        parts = lines[i].split(",")
        j = data.draw(st.integers(0, len(parts) - 1))
        parts[j] = data.draw(token)
        lines[i] = ",".join(parts)
    elif kind == "line":
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "replace"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = data.draw(token)
    else:
        b = bytearray(text.encode())
        for _ in range(data.draw(st.integers(1, 4))):
            pos = data.draw(st.integers(0, max(0, len(b) - 1)))
            b[pos] = data.draw(st.integers(0, 255))
        return b.decode("utf-8", errors="surrogateescape")
    return "\n".join(lines)


# ------------------------------------------------------------------ independent rule check

_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,11}")
_ROOT = re.compile(r"[A-Z][A-Z0-9]{0,5}")


_SESSIONS: set[dt.date] = set()


def _is_session(d: dt.date) -> bool:
    """XNYS session by exchange_calendars (an implementation independent of chainlens's)."""
    if not _SESSIONS:
        import warnings

        import exchange_calendars as xcals

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar("XNYS", start="2000-01-01", end="2035-12-31")
            _SESSIONS.update(x.date() for x in cal.sessions)
    return d in _SESSIONS


def _row_faults(kind: str, r: dict) -> list[str]:
    """Why an accepted row is wrong (scalar reference of the documented rules)."""
    bad = []

    def rng(c: str, lo: float, hi: float, lo_open: bool = False) -> None:
        v = r.get(c)
        if v is None:
            return
        if isinstance(v, float) and not math.isfinite(v):
            bad.append(f"{c} not finite")
        elif (v <= lo if lo_open else v < lo) or v > hi:
            bad.append(f"{c}={v}")

    if kind in ("chain", "trades"):
        for c in ("volume", "open_interest", "size"):
            rng(c, 0, 1e10)
        for c in ("bid", "ask", "last", "price"):
            rng(c, 0, 1e7)
        rng("strike", 0, 99_999.999, True)
        rng("spot", 0, 1e7, True)
        rng("multiplier", 1, 100_000)
        rng("iv", 0, 100)
        rng("delta", -1.5, 1.5)
        rng("gamma", 0, 1000)
        if not _TICKER.fullmatch(r["underlying"]):
            bad.append(f"underlying={r['underlying']!r}")
        if not _ROOT.fullmatch(r["root"]):
            bad.append(f"root={r['root']!r}")
        if not _is_session(r["trade_date"]):
            bad.append(f"trade_date={r['trade_date']}")
        if not r["trade_date"] <= r["expiry"] <= dt.date(2035, 12, 31):
            bad.append(f"expiry={r['expiry']}")
        sym = r["symbol"]
        want = f"{r['root']}{r['expiry']:%y%m%d}{r['right']}{round(r['strike'] * 1000):08d}"
        if sym != want:
            bad.append(f"symbol {sym} != {want}")
    return bad


def _check_read(path: Path, label: str, **kw: object) -> str:
    """Read ``path``; return the outcome; assert the properties."""
    try:
        results = list(read_file(path, **kw))  # type: ignore[arg-type]
    except ChainlensError as e:
        assert str(path) in str(e) or path.name in str(e), str(e)
        TALLY[(label, "clear error")] += 1
        return "error"
    for res in results:
        assert res.rows_read == res.table.num_rows + res.rejects.num_rows
        for row in res.table.to_pylist():
            faults = _row_faults(res.kind, row)
            if faults:
                TALLY[(label, "silently wrong")] += 1
                raise AssertionError(f"accepted a wrong row {faults}: {row}")
    TALLY[(label, "read")] += 1
    return "read"


json_value = st.one_of(
    st.sampled_from(NASTY),
    st.integers(-(10**25), 10**25),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(NASTY[:20]), st.integers(), max_size=2),
)


def _mutate_json(doc: object, data: st.DataObject) -> object:
    """Replace one value (or key) somewhere in a parsed JSON document."""
    if isinstance(doc, dict) and doc and data.draw(st.integers(0, 3)):
        k = data.draw(st.sampled_from(sorted(doc)))
        if data.draw(st.integers(0, 4)) == 0:  # rename the key
            doc[data.draw(st.sampled_from(NASTY))] = doc.pop(k)
        else:
            doc[k] = _mutate_json(doc[k], data)
        return doc
    return data.draw(json_value)


def test_fuzz_occ_json_values(tmp_path_factory: pytest.TempPathFactory) -> None:
    @SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        doc = _mutate_json(json.loads(OCC), data)
        p = tmp_path_factory.mktemp("occ") / "SPY_history.json"
        p.write_text(json.dumps(doc if isinstance(doc, dict) else {"ticker": "SPY", "days": doc}))
        TALLY[("occ_json", "tried")] += 1
        _check_read(p, "occ_json")

    run()


@pytest.mark.parametrize("label", sorted(TEXT_BASES))
def test_fuzz_text_adapters(label: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    name, base = TEXT_BASES[label]

    @SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        d = tmp_path_factory.mktemp(label)
        p = d / name
        p.write_bytes(_mutate_text(base, data).encode("utf-8", errors="surrogateescape"))
        TALLY[(label, "tried")] += 1
        _check_read(p, label)

    run()


COLUMN_VALUES = {
    "open_interest": st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()),
    "volume": st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()),
    "multiplier": st.integers(-(2**31), 2**31 - 1),
    "spot": st.floats(allow_nan=True, allow_infinity=True),
    "strike": st.floats(allow_nan=True, allow_infinity=True),
    "iv": st.one_of(st.floats(allow_nan=True), st.none()),
    "gamma": st.one_of(st.floats(allow_nan=True), st.none()),
    "delta": st.one_of(st.floats(allow_nan=True), st.none()),
    "bid": st.one_of(st.floats(allow_nan=True), st.none()),
    "underlying": st.one_of(st.sampled_from(NASTY), st.text(max_size=20)),
    "root": st.one_of(st.sampled_from(NASTY), st.text(max_size=8)),
    "symbol": st.one_of(st.sampled_from(NASTY), st.text(max_size=25)),
    "right": st.sampled_from(["C", "P", "c", "", "X"]),
    "settlement": st.sampled_from(["AM", "PM", "am", ""]),
    "trade_date": st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    "expiry": st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
}


def _parquet_case(data: st.DataObject) -> pa.Table:
    t = _chain()
    for _ in range(data.draw(st.integers(1, 3))):
        col = data.draw(st.sampled_from(sorted(COLUMN_VALUES)))
        vals = t[col].to_pylist()
        i = data.draw(st.integers(0, len(vals) - 1))
        vals[i] = data.draw(COLUMN_VALUES[col])
        t = _chain(**{c: t[c].to_pylist() for c in COLUMN_VALUES if c != col}, **{col: vals})
    op = data.draw(st.sampled_from(["none", "none", "drop", "dup", "retype"]))
    if op == "drop":
        t = t.drop_columns([data.draw(st.sampled_from(t.column_names))])
    elif op == "dup":
        c = data.draw(st.sampled_from(t.column_names))
        t = pa.Table.from_arrays([*t.columns, t[c]], names=[*t.column_names, c])
    elif op == "retype":
        c = data.draw(st.sampled_from(t.column_names))
        i = t.column_names.index(c)
        t = t.set_column(i, c, pa.array([str(v) for v in t[c].to_pylist()]))
    return t


def test_fuzz_canonical_parquet(tmp_path_factory: pytest.TempPathFactory) -> None:
    @SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        try:
            t = _parquet_case(data)
        except (pa.ArrowException, OverflowError, ValueError):
            return  # a value the test's own table builder cannot hold
        p = tmp_path_factory.mktemp("pq") / "c.parquet"
        pq.write_table(t, p)
        TALLY[("parquet", "tried")] += 1
        _check_read(p, "parquet")

    run()


def test_fuzz_zip_members(tmp_path_factory: pytest.TempPathFactory) -> None:
    @SETTINGS
    @given(data=st.data(), method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    def run(data: st.DataObject, method: int) -> None:
        p = tmp_path_factory.mktemp("zip") / "a.zip"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=method) as z:
            z.writestr("iwm.csv", _mutate_text(IWM, data).encode("utf-8", "surrogateescape"))
        raw = bytearray(buf.getvalue())
        if data.draw(st.booleans()):  # damage the archive itself
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] ^= data.draw(st.integers(1, 255))
        p.write_bytes(bytes(raw))
        TALLY[("zip", "tried")] += 1
        _check_read(p, "zip")

    run()


def test_fuzz_failed_ingest_leaves_store_identical(tmp_path: Path) -> None:
    store = tmp_path / "st"
    good = tmp_path / "good.parquet"
    pq.write_table(_chain(), good)
    assert cli(["ingest", good, "--store", store]).rc == 0

    @SETTINGS
    @given(data=st.data(), label=st.sampled_from(sorted(TEXT_BASES)))
    def run(data: st.DataObject, label: str) -> None:
        name, base = TEXT_BASES[label]
        d = tmp_path / "in"
        d.mkdir(exist_ok=True)
        p = d / name
        p.write_bytes(_mutate_text(base, data).encode("utf-8", errors="surrogateescape"))
        before = tree_digest(store)
        r = cli(["ingest", p, "--store", store, "--json"])
        TALLY[("ingest", "tried")] += 1
        assert not r.traceback, r.err
        out = json.loads(r.out)[0]
        if out["status"] == "failed":
            TALLY[("ingest", "clear error")] += 1
            assert r.rc == 2 and out["error"]
            if tree_digest(store) != before:
                TALLY[("ingest", "store changed")] += 1
                raise AssertionError("a failed ingest changed the store")
        else:
            TALLY[("ingest", "read")] += 1
            assert r.rc == 0 and out["rows_read"] == out["accepted"] + out["rejected"]

    run()


COMMANDS = ["show", "levels", "sessions", "ingest", "analyze", "verify", "report", "daily",
            "scan", "run", "--version", "--help", "nope"]  # fmt: skip
OPTIONS = ["--date", "--store", "--json", "--format", "--lens", "--out", "--workers",
           "--greeks", "--dealer-model", "--rate", "--mapping", "-u", "--bogus", "--help"]  # fmt: skip


def test_fuzz_cli_argument_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a default --store lands here, never in the checkout
    monkeypatch.setenv("CHAINLENS_LOCK_TIMEOUT", "1")
    arg = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(NASTY), st.text(max_size=10),
                    st.sampled_from(["2023-09-13", "SPX", "x", "-1", "1e9"]))  # fmt: skip

    @SETTINGS
    @given(cmd=st.sampled_from(COMMANDS), args=st.lists(arg, max_size=6))
    def run(cmd: str, args: list[str]) -> None:
        args = [a.replace("\x00", "") for a in args]
        if cmd in ("ingest", "run") and "--store" not in args:
            args += ["--store", str(tmp_path / "st")]
        if "--out" in args:  # outputs only inside the test folder
            i = args.index("--out")
            args[i + 1 : i + 2] = [str(tmp_path / "out.md")]
        r = cli([cmd, *args])
        TALLY[("cli", "tried")] += 1
        assert not r.traceback, (cmd, args, r.err)
        assert r.rc in (0, 1, 2), (cmd, args, r.rc, r.err)
        TALLY[("cli", "clear error" if r.rc else "read")] += 1

    run()


def test_zz_print_tally() -> None:
    """The issue's table for this run (printed with ``-s``; the counts are asserted above)."""
    labels = sorted({k[0] for k in TALLY})
    print("\nfuzz | tried | clear error | read/ok | traceback | silently wrong | store changed")
    for lb in labels:
        print(f"{lb} | {TALLY[(lb, 'tried')]} | {TALLY[(lb, 'clear error')]} | "
              f"{TALLY[(lb, 'read')]} | 0 | {TALLY[(lb, 'silently wrong')]} | "
              f"{TALLY[(lb, 'store changed')]}")  # fmt: skip
    assert all(TALLY[(lb, "silently wrong")] == 0 for lb in labels)
