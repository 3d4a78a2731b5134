"""Generic CSV/Parquet adapter driven by a declarative TOML column mapping (``MAPPINGS.md``).

Every canonical column is parsed by its type in ``chainlens.schema`` (float, count, date,
timestamp, text) with the shared vectorized rules, so a mapped file is validated exactly like
the vendor adapters. CSVs are streamed by blocks of lines, Parquet by record batches.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainlens import conventions
from chainlens.errors import ConfigError, InputError
from chainlens.io import _rules
from chainlens.io._common import (
    AdapterResult,
    Candidate,
    DuplicateTracker,
    Problem,
    RejectSink,
    finalize,
    format_osi,
    iter_csv_blocks,
    parse_float,
    parse_int,
    parse_osi,
    reject_bad_lines,
    settlement_of_roots,
    strptime_strict,
    underlying_of_roots,
)
from chainlens.schema import SCHEMAS

__all__ = ["Mapping", "detect_mapping", "load_mapping", "read", "shipped_mappings"]


@dataclass(frozen=True)
class Mapping:
    """A parsed TOML mapping (see ``MAPPINGS.md`` for every key)."""

    name: str
    kind: str
    file: str
    delimiter: str
    signature: tuple[str, ...]
    columns: dict[str, str]
    formats: dict[str, str]
    constants: dict[str, object]
    symbol: str | None
    zero_is_null: tuple[str, ...]
    right_values: dict[str, str]
    timezone: str
    snapshot_time: str
    snapshot_rules: tuple[tuple[str, str], ...] = field(default=())


def shipped_mappings() -> dict[str, Path]:
    """The mappings shipped in ``chainlens/io/mappings`` by name."""
    root = resources.files("chainlens.io") / "mappings"
    return {Path(str(p)).stem: Path(str(p)) for p in root.iterdir() if str(p).endswith(".toml")}


def load_mapping(src: Path | str) -> Mapping:
    """Load and check a mapping from a path or a shipped mapping name. Raises ConfigError."""
    path = Path(src)
    if not path.suffix:
        shipped = shipped_mappings()
        if str(src) not in shipped:
            raise ConfigError(f"no mapping named {src!r}; shipped: {', '.join(sorted(shipped))}")
        path = shipped[str(src)]
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"mapping {path}: cannot read TOML ({e})") from None
    m = doc.get("mapping", {})
    kind = m.get("kind", "chain")
    if kind not in SCHEMAS:
        raise ConfigError(f"mapping {path}: kind must be one of {sorted(SCHEMAS)}, got {kind!r}")
    cols = {str(k): str(v) for k, v in doc.get("columns", {}).items()}
    unknown = [c for c in cols if c not in SCHEMAS[kind].names]
    if unknown:
        raise ConfigError(
            f"mapping {path}: {unknown} are not columns of {kind} ({SCHEMAS[kind].names})"
        )
    opts = doc.get("options", {})
    snap = doc.get("snapshot", {})
    rules = tuple((str(r["if_missing"]), str(r["time"])) for r in snap.get("rules", []))
    file = m.get("file", "csv")
    if file not in ("csv", "parquet"):
        raise ConfigError(f"mapping {path}: file must be 'csv' or 'parquet'")
    _check_options(path, kind, doc, opts, snap)
    return Mapping(
        name=path.stem,
        kind=kind,
        file=file,
        delimiter=str(m.get("delimiter", ",")),
        signature=tuple(m.get("signature", list(cols.values()))),
        columns=cols,
        formats={str(k): str(v) for k, v in doc.get("formats", {}).items()},
        constants=dict(doc.get("constants", {})),
        symbol=opts.get("symbol"),
        zero_is_null=tuple(opts.get("zero_is_null", [])),
        right_values={
            str(k).upper(): str(v)
            for k, v in opts.get("right_values", {"C": "C", "P": "P"}).items()
        },
        timezone=str(opts.get("timezone", conventions.EXCHANGE_TZ)),
        snapshot_time=str(snap.get("time", "close")),
        snapshot_rules=rules,
    )


def _check_options(path: Path, kind: str, doc: dict, opts: dict, snap: dict) -> None:
    """Mapping mistakes are reported against the mapping, before any data is read."""
    from zoneinfo import ZoneInfoNotFoundError

    tz = str(opts.get("timezone", conventions.EXCHANGE_TZ))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"mapping {path}: options.timezone {tz!r} is not an IANA time zone "
            "(e.g. America/New_York)"
        ) from None
    for col, fmt in doc.get("formats", {}).items():
        if not isinstance(fmt, str) or "%" not in fmt:
            raise ConfigError(
                f"mapping {path}: formats.{col} = {fmt!r} is not a strptime format (e.g. %m/%d/%Y)"
            )
    times = [snap.get("time", "close"), *(r.get("time") for r in snap.get("rules", []))]
    for t in times:
        if t != "close" and not (
            isinstance(t, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t)
        ):
            raise ConfigError(f"mapping {path}: snapshot time {t!r} must be 'close' or HH:MM")
    sch = SCHEMAS[kind]
    for k, v in doc.get("constants", {}).items():
        if k not in sch.names:
            raise ConfigError(f"mapping {path}: constants.{k} is not a column of {kind}")
        try:
            pa.array([v]).cast(sch.field(k).type)
        except (pa.ArrowException, TypeError, ValueError):
            raise ConfigError(
                f"mapping {path}: constants.{k} = {v!r} cannot be a {sch.field(k).type}"
            ) from None
    rv = opts.get("right_values", {})
    if not isinstance(rv, dict) or any(str(v) not in ("C", "P") for v in rv.values()):
        raise ConfigError(f"mapping {path}: options.right_values must map text to C or P")


def detect_mapping(names: list[str]) -> str | None:
    """The name of the shipped mapping whose signature columns are all in ``names``."""
    have = {n.strip() for n in names}
    for name, path in sorted(shipped_mappings().items()):
        try:
            m = load_mapping(path)
        except ConfigError:
            continue
        if m.signature and set(m.signature) <= have:
            return name
    return None


def read(
    path: Path, *, mapping: Path | str, batch_rows: int = 1_000_000
) -> Iterator[AdapterResult]:
    """Read ``path`` through ``mapping`` (a TOML path or a shipped mapping name)."""
    m = load_mapping(mapping)
    fmt = f"generic:{m.name}"
    sink = RejectSink(path)
    dups = DuplicateTracker() if m.kind == "chain" else None
    if m.file == "parquet" or _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"not a readable Parquet file ({e})", path=path) from None
        header = pf.schema_arrow.names
        _check_header(m, header, path)
        row0 = 1
        for batch in pf.iter_batches(batch_size=batch_rows):
            n = batch.num_rows
            src = {c: pc.cast(batch.column(c), pa.string()) for c in batch.schema.names}
            lines = np.arange(row0, row0 + n, dtype=np.int64)
            row0 += n
            table = _convert(m, src, header, lines, sink, dups, path)
            yield AdapterResult(m.kind, table, sink.take(), n, fmt, path)
        return
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    if not first.strip():
        raise InputError("no header line", path=path, row=1)
    header = [h.strip().strip('"') for h in first.split(m.delimiter)]
    _check_header(m, header, path)
    for block in iter_csv_blocks(
        path,
        header_line=1,
        n_fields=len(header),
        delimiter=m.delimiter,
        block_bytes=max(1 << 16, batch_rows * 200),
    ):
        bad = reject_bad_lines(block, sink)
        src = dict(zip(header, block.fields, strict=True))
        table = _convert(m, src, header, block.line, sink, dups, path)
        yield AdapterResult(m.kind, table, sink.take(), len(block.line) + bad, fmt, path)


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _check_header(m: Mapping, header: list[str], path: Path) -> None:
    """The signature columns are present; every mapped column is present (except the ones a
    snapshot rule expects to be absent) and named once; the mapping provides the columns a
    table of its kind needs (``chainlens.io._rules``)."""
    missing = [c for c in m.signature if c not in header]
    if missing:
        raise InputError(
            f"columns {missing} required by mapping {m.name!r} are missing",
            path=path,
            row=1,
            hint=f"header has: {', '.join(header)[:300]}",
        )
    optional = {col for col, _t in m.snapshot_rules}
    absent = {
        canon: src for canon, src in m.columns.items() if src not in header and src not in optional
    }
    if absent:
        canon, src = next(iter(absent.items()))
        raise InputError(
            f"mapping {m.name!r} maps {canon} to column {src!r}, which the file does not have",
            path=path,
            row=1,
            column=src,
            hint=f"fix the mapping; header has: {', '.join(header)[:300]}",
        )
    _rules.check_unique_header(header, path, only=m.columns.values())
    provided = set(m.columns) | set(m.constants)
    if m.kind in ("chain", "trades"):  # derived from the symbol / root when not mapped
        provided |= {"root", "underlying", "settlement", "multiplier", "symbol"}
        provided |= {"snapshot_ts"} if m.kind == "chain" else set()
    _rules.check_required_columns(m.kind, provided, path, source=True, names=m.columns)


def _snapshot_local_time(m: Mapping, header: list[str]) -> str:
    for col, t in m.snapshot_rules:
        if col not in header:
            return t
    return m.snapshot_time


def _convert(
    m: Mapping,
    src: dict[str, pa.Array],
    header: list[str],
    lines: np.ndarray,
    sink: RejectSink,
    dups: DuplicateTracker | None,
    path: Path,
) -> pa.Table:
    schema = SCHEMAS[m.kind]
    n = len(lines)
    probs: list[Problem] = []
    cols: dict[str, pa.Array] = {}
    names: dict[str, str] = {}
    for f in schema:
        srcname = m.columns.get(f.name)
        if srcname is None or srcname not in src:
            continue
        s = pc.utf8_trim_whitespace(src[srcname])
        names[f.name] = srcname
        t = f.type
        if pa.types.is_floating(t):
            a = parse_float(s, srcname, probs, required=not f.nullable)
        elif pa.types.is_integer(t):
            a = parse_int(s, srcname, probs, required=not f.nullable)
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            fmt = m.formats.get(f.name, "%Y-%m-%d" if pa.types.is_date(t) else "%Y-%m-%d %H:%M:%S")
            parsed = strptime_strict(s, fmt)
            bad = parsed.is_null().to_numpy(zero_copy_only=False) & ~s.is_null().to_numpy(
                zero_copy_only=False
            )
            if bad.any():
                probs.append(Problem(bad, srcname, s, f"not a date/time in the format {fmt!r}"))
            if pa.types.is_timestamp(t):
                parsed = pc.assume_timezone(
                    parsed, timezone=m.timezone, ambiguous="earliest", nonexistent="earliest"
                )
                a = pc.cast(parsed, t)
            else:
                a = pc.cast(parsed, pa.date32())
        elif f.name == "right":
            up = pc.utf8_upper(s)
            keys = pa.array(list(m.right_values.keys()))
            vals = pa.array(list(m.right_values.values()))
            a = pc.take(vals, pc.index_in(up, value_set=keys))
            bad = a.is_null().to_numpy(zero_copy_only=False)
            if bad.any():
                probs.append(
                    Problem(bad, srcname, s, "right must be C or P (see options.right_values)")
                )
        else:
            a = s
        if f.name in m.zero_is_null and (
            pa.types.is_floating(a.type) or pa.types.is_integer(a.type)
        ):
            a = pc.if_else(pc.fill_null(pc.equal(a, 0), False), pa.scalar(None, a.type), a)
        cols[f.name] = a
    for k, v in m.constants.items():
        if k in schema.names and k not in cols:
            cols[k] = pc.cast(pa.array([v] * n), schema.field(k).type)
    if m.kind in ("chain", "trades"):
        _contract_defaults(m, cols, probs, n)
    if m.kind == "chain" and "snapshot_ts" not in cols and "trade_date" in cols:
        cols["snapshot_ts"] = _snapshots(
            cols["trade_date"], _snapshot_local_time(m, header), m.timezone
        )
    return finalize(Candidate(m.kind, cols, lines, probs, names), sink, dups)


def _contract_defaults(m: Mapping, cols: dict[str, pa.Array], probs: list[Problem], n: int) -> None:
    if "symbol" in cols and m.symbol == "osi":
        # OSI symbols may be space padded ("IWM   191018C00100000"): store the compact form.
        osi = parse_osi(cols["symbol"])
        sym = pc.replace_substring_regex(
            pc.utf8_trim_whitespace(cols["symbol"]), r"^([A-Z0-9.]+) +", r"\1"
        )
        cols["symbol"] = sym
        if "root" not in cols:
            cols["root"] = pc.fill_null(osi["root"], "")
    if "root" not in cols and "underlying" in cols:
        cols["root"] = pc.utf8_upper(cols["underlying"])
    if "root" in cols:
        cols["root"] = pc.utf8_upper(cols["root"])
        if "underlying" not in cols:
            cols["underlying"] = underlying_of_roots(cols["root"])
        if "settlement" not in cols:
            cols["settlement"] = settlement_of_roots(cols["root"])
    if "underlying" in cols:
        cols["underlying"] = pc.utf8_upper(pc.utf8_ltrim(cols["underlying"], characters="^"))
    if "multiplier" not in cols:
        cols["multiplier"] = pa.array(np.full(n, conventions.DEFAULT_MULTIPLIER, dtype=np.int32))
    if "symbol" not in cols and {"root", "expiry", "right", "strike"} <= cols.keys():
        ok = pa.array(
            ~(
                cols["expiry"].is_null().to_numpy(zero_copy_only=False)
                | cols["right"].is_null().to_numpy(zero_copy_only=False)
                | ~pc.fill_null(pc.greater(cols["strike"], 0), False).to_numpy(zero_copy_only=False)
            )
        )
        cols["symbol"] = format_osi(
            pc.if_else(pc.equal(pc.utf8_length(cols["root"]), 0), pa.scalar("X"), cols["root"]),
            pc.if_else(ok, cols["expiry"], pa.scalar(dt.date(2000, 1, 1), pa.date32())),
            pc.if_else(ok, cols["right"], pa.scalar("C")),
            pc.if_else(ok, cols["strike"], pa.scalar(1.0)),
        )


def _snapshots(trade_date: pa.Array, local_time: str, tz: str) -> pa.Array:
    """The snapshot instant of each row: the session close, or ``HH:MM`` local time that day."""
    uniq = [d for d in pc.unique(trade_date).to_pylist() if d is not None]
    out = []
    for d in uniq:  # one per distinct session
        if not dt.date(2000, 1, 1) <= d <= dt.date(2099, 12, 31):
            # outside the calendar: the row is rejected by the trade_date rule; any instant
            # that Arrow can hold stands in until then
            out.append(dt.datetime(2000, 1, 3, 21, tzinfo=dt.UTC))
            continue
        if local_time == "close":
            try:
                from chainlens.io._common import session_close_utc

                out.append(session_close_utc(d))
                continue
            except Exception:
                hh, mm = 16, 0
        else:
            hh, mm = (int(x) for x in local_time.split(":"))
        out.append(dt.datetime.combine(d, dt.time(hh, mm), ZoneInfo(tz)))
    vals = pa.array(out, pa.timestamp("ns", tz="UTC"))
    return pc.take(vals, pc.index_in(trade_date, value_set=pa.array(uniq, pa.date32())))
