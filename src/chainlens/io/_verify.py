"""Fast proof that a canonical chain Parquet file is clean (the ingest fast path).

Every accepted row must pass the rules of :func:`chainlens.io._common.finalize`. Running those
rules (string comparisons, a hash of every key, one Arrow kernel per rule) costs about three
times the decode; :class:`ChainVerifier` instead proves the same outcome in one compiled pass
over the Arrow buffers, reading the low-cardinality strings as dictionary indices. The store
uses it for a file with exactly the canonical chain columns and types: in the store's own
layout (sorted by underlying, snapshot, expiry, strike, right, root; one session; store-sized
row groups) the file is then published byte for byte, otherwise re-encoded without the rules.

The check is *sufficient*, never decisive: when it passes, ``finalize`` rejects no row; when
anything is unusual it says "not clean" (with a reason) and the caller runs the full
validation, which names every bad row. Each rule of ``finalize`` maps onto a stricter one:

- missing values: no null in a required column (nor in a dictionary's values);
- NaN/inf in a float column, negative volume/OI, negative bid/ask/last: checked on the valid
  values of each column;
- ``strike <= 0``, right not C/P, settlement not AM/PM, expiry before the session, and one
  session (``trade_date``) per file;
- the symbol against root/expiry/right/strike: the compact OSI form with the strike digits
  equal to ``strike * 1000`` *exactly* (``finalize`` tolerates 5e-4);
- a duplicate contract (same ``snapshot_ts`` and symbol). Ordered mode: with the exact symbol
  check, equal symbols mean equal root, expiry, right and strike; requiring every root to
  belong to one underlying and the sort key to increase strictly from row to row (equal keys
  would be adjacent in a sorted file) rules duplicates out without hashing. Unordered mode
  (re-encoding, any row order): every key is inserted in a 64-bit hash table; a repeated hash
  (a duplicate, or a collision of two keys) declines;
- ``crossed``: computed as ``bid > ask > 0`` (null = False); a file published byte for byte
  must store exactly these flags, otherwise the computed ones replace the stored ones (as
  ``finalize`` does).

Canonical **trades** files get the same treatment from :class:`TradesVerifier` (the rules
``finalize`` applies to kind "trades"; trades have no duplicate rule and no ``crossed`` flag):

- missing values: no null in ts, trade_date, the contract keys, multiplier, price, size (nor
  in the values of a dictionary column among them);
- NaN/inf in price/bid/ask/spot, negative size, negative price/bid/ask: on the valid values;
- ``strike <= 0`` (and NaN/inf), right not C/P, settlement not AM/PM (every dictionary
  value), ``expiry < trade_date`` (row by row; a verbatim publish also needs every row in
  the file's one session), and the symbol checked exactly as for chains;
- a verbatim publish also needs the store's order, (underlying, ts) non-decreasing within
  and across blocks; re-encoding takes rows in any order (the stager sorts each block).

The pass also yields the (underlying, snapshot) runs whose contract and quoted-row counts the
catalog records. Numba compiles the row pass; without Numba (or with ``CHAINLENS_NO_NUMBA=1``)
:func:`available` is False and callers take the full validation. ``tests/test_ingest_verify.py``
checks soundness against the full validation on randomly damaged files (Hypothesis).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens.schema import SCHEMAS

__all__ = [
    "DICTIONARY_COLUMNS",
    "MAX_HASHED_ROWS",
    "VERBATIM_ONLY_REASONS",
    "TRADES_DICTIONARY_COLUMNS",
    "ChainVerifier",
    "TradesVerifier",
    "available",
]

#: Chain columns read as dictionaries (their values repeat): decoded as indices, not strings.
DICTIONARY_COLUMNS = ("underlying", "root", "settlement", "right")

#: Trades columns read as dictionaries: the contract strings checked through their indices,
#: and the exchange and condition codes (cheaper to decode so; no rule reads them).
TRADES_DICTIONARY_COLUMNS = (*DICTIONARY_COLUMNS, "exchange", "condition")

#: Most rows of a file whose keys the unordered mode hashes (8 bytes per slot, load <= 1/2:
#: 128 MB at this size); larger unsorted files take the full validation.
MAX_HASHED_ROWS = 8_000_000

OUT_OF_ORDER_ACROSS_BLOCKS = "rows out of the store's sort order (across blocks)"

#: Reasons to decline that concern only a byte-for-byte publish or the sorted (unhashed)
#: mode: the rows may still be fine, so the file may still be proved clean (keys hashed) and
#: re-encoded.
VERBATIM_ONLY_REASONS = (
    "crossed has nulls",
    "stored crossed flags differ from bid > ask > 0",
    "rows out of the store's sort order",
    OUT_OF_ORDER_ACROSS_BLOCKS,
)

_DICT_STRING = pa.dictionary(pa.int32(), pa.string())
_REQUIRED = (
    "trade_date",
    "snapshot_ts",
    "underlying",
    "root",
    "symbol",
    "expiry",
    "settlement",
    "strike",
    "right",
    "multiplier",
)
_NONNEG_FLOATS = ("bid", "ask", "last")
_FINITE_FLOATS = ("iv", "delta", "gamma", "spot")
_NONNEG_INTS = ("volume", "open_interest")
_QUOTE_COLUMNS = ("bid", "ask", "last", "volume")


def available() -> bool:
    """Whether the compiled check runs (:func:`chainlens._engine.use_numba`: Numba installed
    and not disabled by ``CHAINLENS_NO_NUMBA=1`` or :func:`chainlens._engine.force`)."""
    from chainlens import _engine

    return _engine.use_numba()


def _strings(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array, offsets rebased for a sliced array."""
    bufs = a.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int32)[a.offset : a.offset + len(a) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    return off, data


def _values(a: pa.Array, dtype: type) -> np.ndarray:
    """The value buffer of a fixed-width array (slots under nulls included)."""
    return np.frombuffer(a.buffers()[1], dtype=dtype)[a.offset : a.offset + len(a)]


def _valid_values(a: pa.Array, dtype: type) -> np.ndarray:
    v = _values(a, dtype)
    if a.null_count:
        v = v[pc.is_valid(a).to_numpy(zero_copy_only=False)]
    return v


def _column_faults(
    c: dict[str, pa.Array],
    required: tuple[str, ...],
    nonneg_floats: tuple[str, ...],
    finite_floats: tuple[str, ...],
    nonneg_ints: tuple[str, ...],
) -> str | None:
    """Why a block's columns break a single-column rule of ``finalize`` (None: none does):
    a null in a required column; NaN, inf or a negative value in a price column; NaN or inf
    in another float column; a negative count; a settlement other than AM/PM (checked on the
    dictionary, so stricter than the rule)."""
    for name in required:
        if c[name].null_count:
            return f"missing value in {name}"
    for name in nonneg_floats:
        v = _valid_values(c[name], np.float64)
        if not (np.isfinite(v).all() and (v >= 0).all()):
            return f"NaN, inf or negative value in {name}"
    for name in finite_floats:
        if not np.isfinite(_valid_values(c[name], np.float64)).all():
            return f"NaN or inf in {name}"
    for name in nonneg_ints:
        v = _valid_values(c[name], np.int64)
        if len(v) and int(v.min()) < 0:
            return f"negative value in {name}"
    settle = c["settlement"].dictionary
    if not pc.all(pc.is_in(settle, value_set=pa.array(["AM", "PM"]))).as_py():
        return "settlement is not AM or PM"
    return None


def _rule_faults(kind: str, c: dict[str, pa.Array]) -> str | None:
    """Why a block breaks a rule of :mod:`chainlens.io._rules` (None: none does), checked on
    column minima and maxima, the dictionaries' values and the distinct sessions, so the
    proof applies the very table ``finalize`` applies."""
    from chainlens.io import _rules
    from chainlens.io._common import not_a_session

    for rule in _rules.range_rules_for(kind, c):
        a = c[rule.column]
        v = _valid_values(
            a, np.float64 if pa.types.is_floating(a.type) else a.type.to_pandas_dtype()
        )
        if len(v) == 0:
            continue
        lo, hi = v.min(), v.max()
        if rule.lo is not None and (lo <= rule.lo if rule.lo_open else lo < rule.lo):
            return f"{rule.column}: {rule.below}"
        if rule.hi is not None and hi > rule.hi:
            return f"{rule.column}: {rule.above}"
    for nrule in _rules.NAME_RULES:
        if kind in nrule.kinds and nrule.column in c:
            a = c[nrule.column]
            vals = a.dictionary if isinstance(a, pa.DictionaryArray) else pc.unique(a)
            if not pc.all(pc.match_substring_regex(vals, nrule.pattern)).as_py():
                return f"{nrule.column}: {nrule.reason}"
    days = _values(c["trade_date"], np.int32)
    lo_d, hi_d = int(days.min()), int(days.max())
    probe = np.array([lo_d], dtype=np.int64) if lo_d == hi_d else np.unique(days)
    if not_a_session(probe).any():
        return "trade_date: not an exchange session"
    if int(_values(c["expiry"], np.int32).max()) > (_rules.EXPIRY_MAX - dt.date(1970, 1, 1)).days:
        return "expiry beyond the trading calendar"
    return None


@dataclass
class ChainVerifier:
    """Checks the blocks of one chain file in order (see the module docstring).

    Parameters
    ----------
    day
        The file's session (``trade_date`` of every row); None takes the first row's.
    """

    day: dt.date | None = None
    #: the blocks are published byte for byte: stored ``crossed`` flags must equal the
    #: computed ones (otherwise the caller writes :attr:`crossed` in their place)
    verbatim: bool = True
    #: ``bid > ask > 0`` (null = False) of the last block checked
    crossed: pa.Array | None = None
    #: rows must come in the store's sort order (duplicates are then adjacent); otherwise
    #: every key is hashed and :attr:`in_order` says whether the last block was sorted
    ordered: bool = True
    #: rows expected in the file (sizes the key table of the unordered mode)
    expected_rows: int = 0
    in_order: bool = True
    _keys: np.ndarray | None = None
    _n_keys: int = 0
    #: why the last :meth:`check` declined (None while every block passed)
    reason: str | None = None
    _root_owner: dict[str, str] = field(default_factory=dict)
    _last_key: tuple[object, ...] | None = None

    def check(self, rb: pa.RecordBatch) -> list[tuple[str, int, int, int]] | None:
        """Check the next block (a record batch with :data:`DICTIONARY_COLUMNS` as dictionaries).

        Returns the block's (underlying, snapshot_ts in ns, contracts, quoted rows) runs, in
        order, or None when the block is not provably clean (then :attr:`reason` says why).
        """
        from chainlens.io._verify_numba import STATUS, check_chain_block, first_repeated_key

        n = rb.num_rows
        if n == 0:
            return []
        c = {name: rb.column(name) for name in rb.schema.names}
        for name in DICTIONARY_COLUMNS:
            a = c[name]
            if (
                a.type != _DICT_STRING
                or a.dictionary.null_count
                or not isinstance(a, pa.DictionaryArray)
            ):
                return self._decline(f"{name} is not a clean dictionary column")
        if c["symbol"].type != pa.string():
            return self._decline("symbol is not a string column")
        fault = _column_faults(c, _REQUIRED, _NONNEG_FLOATS, _FINITE_FLOATS, _NONNEG_INTS)
        if fault is None:
            fault = _rule_faults("chain", c)
        if fault is not None:
            return self._decline(fault)
        computed = pc.fill_null(
            pc.and_(pc.greater(c["bid"], c["ask"]), pc.greater(c["ask"], 0)), False
        )
        self.crossed = computed
        if self.verbatim:  # the bytes are published as they are: the flags must be right
            crossed = c["crossed"]
            if crossed.null_count:
                return self._decline("crossed has nulls")
            if not pc.all(pc.equal(crossed, computed)).as_py():
                return self._decline("stored crossed flags differ from bid > ask > 0")

        if self.day is None:
            self.day = c["trade_date"][0].as_py()
        assert self.day is not None
        und, root, right = c["underlying"], c["root"], c["right"]
        n_r = len(root.dictionary)
        starts = np.empty(n, dtype=np.int64)
        pairs = np.empty(n, dtype=np.int64)
        sym_off, sym_dat = _strings(c["symbol"])
        ts_all = _values(c["snapshot_ts"], np.int64)
        status, n_starts, n_pairs, in_order = check_chain_block(
            sym_off,
            sym_dat,
            _values(root.indices, np.int32),
            *_strings(root.dictionary),
            _values(right.indices, np.int32),
            *_strings(right.dictionary),
            _values(und.indices, np.int32),
            *_strings(und.dictionary),
            _values(c["trade_date"], np.int32),
            _values(c["expiry"], np.int32),
            ts_all,
            _values(c["strike"], np.float64),
            np.int32((self.day - dt.date(1970, 1, 1)).days),
            starts,
            pairs,
            self.ordered,
        )
        if status != 0:
            return self._decline(STATUS[int(status)])
        if not self.ordered:  # duplicates ruled out by hashing every key of the file
            if self._keys is None:
                size = 1 << max(10, (2 * max(self.expected_rows, n) - 1).bit_length())
                self._keys = np.zeros(size, dtype=np.uint64)
            if self._n_keys + n > len(self._keys) // 2:
                return self._decline("more rows than the duplicate-key table was sized for")
            self._n_keys += n
            if first_repeated_key(sym_off, sym_dat, ts_all.view(np.uint64), self._keys) >= 0:
                return self._decline("a repeated (snapshot_ts, symbol) key")
            self.in_order = bool(in_order)
            if not self.in_order:
                return []  # runs are counted once the caller has sorted the block
        u_names = und.dictionary.to_pylist()
        if self.ordered:
            # every root belongs to one underlying, across the whole file
            r_names = root.dictionary.to_pylist()
            pair = np.unique(pairs[:n_pairs])  # usually a few per underlying
            for ui, ri in zip((pair // n_r).tolist(), (pair % n_r).tolist(), strict=True):
                owner = self._root_owner.setdefault(r_names[ri], u_names[ui])
                if owner != u_names[ui]:
                    return self._decline(
                        f"root {r_names[ri]} listed under {owner} and {u_names[ui]}"
                    )
            # the block's first row continues the previous block's order strictly
            first = self._key(rb, 0)
            if self._last_key is not None and not first > self._last_key:
                return self._decline(OUT_OF_ORDER_ACROSS_BLOCKS)
            self._last_key = self._key(rb, n - 1)

        st = starts[:n_starts]
        quoted = np.zeros(n, dtype=np.bool_)
        for name in _QUOTE_COLUMNS:
            a = c[name]
            if a.null_count == 0:
                quoted[:] = True
                break
            quoted |= pc.is_valid(a).to_numpy(zero_copy_only=False)
        counts = np.diff(np.append(st, n))
        q = np.add.reduceat(quoted.astype(np.int64), st)
        u_idx = _values(und.indices, np.int32)[st]
        ts = _values(c["snapshot_ts"], np.int64)[st]
        return [
            (u_names[u], int(t), int(k), int(qq))
            for u, t, k, qq in zip(
                u_idx.tolist(), ts.tolist(), counts.tolist(), q.tolist(), strict=True
            )
        ]  # one tuple per snapshot run, not per contract

    def _decline(self, why: str) -> list[tuple[str, int, int, int]] | None:
        self.reason = why
        return None

    @staticmethod
    def _key(rb: pa.RecordBatch, i: int) -> tuple[object, ...]:
        """Row ``i``'s sort key as Python values (strings compare by code point, which is
        UTF-8 byte order, as Arrow compares them)."""
        return (
            rb.column("underlying")[i].as_py(),
            rb.column("snapshot_ts")[i].value,
            rb.column("expiry")[i].value,
            rb.column("strike")[i].as_py(),
            rb.column("right")[i].as_py(),
            rb.column("root")[i].as_py(),
        )


_TRADES_REQUIRED = (
    "ts",
    "trade_date",
    "underlying",
    "root",
    "symbol",
    "expiry",
    "settlement",
    "strike",
    "right",
    "multiplier",
    "price",
    "size",
)
#: The canonical trades schema as the check reads it (the dictionary columns as dictionaries).
_TRADES_TYPES = pa.schema(
    [
        (f.name, _DICT_STRING if f.name in TRADES_DICTIONARY_COLUMNS else f.type)
        for f in SCHEMAS["trades"]
    ]
)
_TRADES_NONNEG_FLOATS = ("price", "bid", "ask")
_TRADES_FINITE_FLOATS = ("spot",)
_TRADES_NONNEG_INTS = ("size",)


@dataclass
class TradesVerifier:
    """Checks the blocks of one canonical trades file in order (see the module docstring).

    Parameters
    ----------
    day
        With ``ordered`` (a verbatim publish): the file's session, which every row must
        have. Unused otherwise (rows of any session; each must expire on or after its own).
    ordered
        Rows must come in the store's order, (underlying, ts) non-decreasing within and
        across blocks; otherwise :attr:`in_order` only says whether the last block was.
    """

    day: dt.date | None = None
    ordered: bool = True
    in_order: bool = True
    #: why the last :meth:`check` declined (None while every block passed)
    reason: str | None = None
    _last_key: tuple[str, int] | None = None

    def check(self, rb: pa.RecordBatch) -> bool:
        """Whether ``finalize`` would reject no row of the next block (a record batch with
        :data:`DICTIONARY_COLUMNS` as dictionaries); False sets :attr:`reason`."""
        from chainlens.io._verify_numba import TRADES_STATUS, check_trades_block

        n = rb.num_rows
        if n == 0:
            self.in_order = True
            return True
        if rb.schema.names != _TRADES_TYPES.names or any(
            rb.schema.field(f.name).type != f.type for f in _TRADES_TYPES
        ):
            return self._decline("columns or types differ from the canonical trades schema")
        c = {name: rb.column(name) for name in rb.schema.names}
        for name in DICTIONARY_COLUMNS:
            if c[name].dictionary.null_count:
                return self._decline(f"{name} is not a clean dictionary column")
        fault = _column_faults(
            c, _TRADES_REQUIRED, _TRADES_NONNEG_FLOATS, _TRADES_FINITE_FLOATS, _TRADES_NONNEG_INTS
        )
        if fault is None:
            fault = _rule_faults("trades", c)
        if fault is not None:
            return self._decline(fault)

        if self.ordered and self.day is None:
            return self._decline("no session given for an ordered (verbatim) check")
        day = 0 if self.day is None else (self.day - dt.date(1970, 1, 1)).days
        und, root, right = c["underlying"], c["root"], c["right"]
        status, in_order = check_trades_block(
            *_strings(c["symbol"]),
            _values(root.indices, np.int32),
            *_strings(root.dictionary),
            _values(right.indices, np.int32),
            *_strings(right.dictionary),
            _values(und.indices, np.int32),
            *_strings(und.dictionary),
            _values(c["trade_date"], np.int32),
            _values(c["expiry"], np.int32),
            _values(c["ts"], np.int64),
            _values(c["strike"], np.float64),
            np.int32(day),
            self.ordered,
            self.ordered,
        )
        if status != 0:
            return self._decline(TRADES_STATUS[int(status)])
        self.in_order = bool(in_order)
        if self.ordered:  # the block's first row continues the previous block's order
            first = self._key(rb, 0)
            if self._last_key is not None and first < self._last_key:
                return self._decline(OUT_OF_ORDER_ACROSS_BLOCKS)
            self._last_key = self._key(rb, n - 1)
        return True

    def _decline(self, why: str) -> bool:
        self.reason = why
        return False

    @staticmethod
    def _key(rb: pa.RecordBatch, i: int) -> tuple[str, int]:
        """Row ``i``'s (underlying, ts in ns): strings compare by code point (UTF-8 byte
        order, as Arrow compares them)."""
        return rb.column("underlying")[i].as_py(), rb.column("ts")[i].value
