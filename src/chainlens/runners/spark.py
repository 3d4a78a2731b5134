"""The Spark runner: the same batched kernel as the local runner, over a cluster.

:class:`SparkRunner` reads a Parquet dataset laid out as the store lays it out
(``chain/trade_date=D/``, ``trades/trade_date=D/``, ``prints/trade_date=D/``: any path Spark
reads, ``file://``, ``s3a://``, ``abfss://``, ``gs://``), groups the rows of each session by
``(session, bucket)`` and runs each group with ``groupBy(...).applyInArrow`` (Arrow in, Arrow
out, no pandas) through :func:`chainlens.runners._blocks.analyze_block`, the local runner's
block helper (:func:`chainlens.pipeline.analyze_underlyings` in chunks sized by rows). The
result parts of each group (:func:`chainlens.runners.base.result_parts`) come back to the driver as Arrow IPC bytes; the
driver commits each session with :meth:`chainlens.store.Store.write_results` (one atomic
publish per results name, as the local runner does) and computes the market rollup
(:func:`chainlens.market.market_rollup`) from the session's documents.

How a session's rows reach its groups
-------------------------------------
* Buckets are packed from row counts (:func:`pack_buckets`): a session's underlyings sorted by
  rows (chain window + trades + prints), largest first; a name with at least ``capacity`` rows
  is a group alone, smaller names share groups up to ``capacity`` rows and ``max_group_names``
  names. ``capacity = min(max_group_rows, total rows / (groups_per_core x cores))``, so small
  sessions still spread over every core. Buckets never span sessions (and so never an
  underlying across years).
* A name larger than ``max_group_rows`` on its own (an *outsized* group) is still run, alone
  (the kernel needs an underlying's whole window at once: it is never split); it is listed in
  the run summary (``outsized``) with its rows, so executor memory can be sized for it
  (docs/spark.md "Memory per group").
* Chain rows are joined to the as-of sessions whose window holds them (the last
  ``n_sessions`` sessions of that underlying up to the session, from the store's catalog), so
  a backfill replicates each chain row at most ``n_sessions`` times.
* Row order inside a group is restored from ``_metadata.file_path`` and
  ``_metadata.row_index`` (the shuffle does not keep it), and each session's default snapshot
  is chosen as the store chooses it: the latest quote snapshot, OI filled from the latest
  OI-only snapshot of the session (ties of ``snapshot_ts`` between two files go to the file
  later by path: a dataset keeps no ingest order).

Atomicity: a Spark task that dies is retried by Spark (``spark.task.maxFailures``) and its
output never reaches the driver; the driver writes a session only once every group of it has
returned, through the store's atomic publish, so a failed or retried task never leaves a
half-written session, and a rerun replaces the session's tables with equal ones.

``spark-submit`` runs :mod:`chainlens.runners._spark_main` (the ``chainlens run --engine spark``
command line), which keeps this module free of any import of the CLI.

Examples
--------
>>> pack_buckets({"SPX": 900, "A": 40, "B": 30, "C": 20}, capacity=100)
({'SPX': 0, 'A': 1, 'B': 1, 'C': 1}, [('SPX', 900)])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import ChainlensError, ConfigError, InputError, NotFoundError
from chainlens.pipeline import RESULTS_NAME, PipelineConfig, UnderlyingWindow
from chainlens.runners._blocks import analyze_block
from chainlens.runners.base import ProgressFn, RunSummary, with_other_results

__all__ = [
    "SparkOptions",
    "SparkRunner",
    "pack_buckets",
    "require_pyspark",
    "run_spark",
    "spark_session",
]

#: Results name of the market-wide rollup (as :mod:`chainlens.runners.local` stores it).
MARKET_RESULTS = "market"
#: Row kinds of the grouped input (``_k``).
_CHAIN, _TRADES, _PRINTS = 0, 1, 2
#: Output rows of a group: one per stored part, one per failed underlying.
_OUT_SCHEMA = "session date, bucket int, kind string, name string, rows long, payload binary"
#: Spark settings every run needs: nanosecond Parquet timestamps read as their int64 value
#: (Spark has microsecond timestamps only; the group converts them back exactly) and UTC.
_REQUIRED_CONF = {
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.session.timeZone": "UTC",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SparkOptions:
    """Settings of a Spark run (docs/spark.md "Partitions and buckets").

    Parameters
    ----------
    max_group_rows
        Input rows (chain window + trades + prints) above which an underlying is an outsized
        group (alone, reported); smaller names share groups of at most this many rows.
    max_group_names
        Underlyings per group at most.
    groups_per_core
        Groups aimed at per core of the cluster (``spark.default.parallelism``): more, smaller
        groups balance the cores better; fewer, larger ones batch the kernel better.
    sessions_per_job
        Sessions of a backfill run by one Spark job (their results are held on the driver
        until committed, one session at a time).
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` for the run (``None``: the session's setting).
    """

    max_group_rows: int = 400_000
    max_group_names: int = 256
    groups_per_core: int = 3
    sessions_per_job: int = 5
    shuffle_partitions: int | None = None
    #: Test-only fault injection: ``"kill_once"`` ends the Python worker of the first
    #: attempt of bucket 0 (a killed task, which Spark retries), ``"kill_always"`` every
    #: attempt. Never set it in production.
    fault: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (
            self.max_group_rows < 1
            or self.max_group_names < 1
            or self.groups_per_core < 1
            or self.sessions_per_job < 1
        ):
            raise InputError(
                "max_group_rows, max_group_names, groups_per_core and sessions_per_job must be >= 1",
                column="SparkOptions",
            )


# --------------------------------------------------------------------------- set-up


def require_pyspark() -> Any:
    """Import :mod:`pyspark`, or raise a :class:`ConfigError` saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            "the Spark engine needs PySpark, which is not installed",
            hint="pip install 'chainlens[spark]' (PySpark, pinned) and a Java 17+ runtime; "
            "or run with --engine local",
        ) from None
    return pyspark


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> Any:
    """The active Spark session (spark-submit, Databricks), or a new one.

    A new session uses ``master`` (default ``$CHAINLENS_SPARK_MASTER``, else ``local[*]``),
    the UI off for local masters, and ``conf``. The settings chainlens needs (nanosecond
    timestamps read as int64, UTC) are set on the session either way.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        # the Python workers of a local master must be this interpreter (it has chainlens)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        m = master or os.environ.get("CHAINLENS_SPARK_MASTER") or "local[*]"
        b = SparkSession.builder.appName("chainlens").master(m)
        if m.startswith("local"):
            b = b.config("spark.ui.enabled", "false").config(
                "spark.ui.showConsoleProgress", "false"
            )
            if not (conf or {}).get("spark.driver.memory"):
                # a local master's executors live in the driver JVM, whose default heap (1g)
                # overflows on a multi-session job of a few hundred names: a quarter of RAM,
                # 1-8g (measured: 500 names x 5 sessions failed with "Java heap space" at 1g)
                b = b.config("spark.driver.memory", f"{_local_driver_gb()}g")
            if not (conf or {}).get("spark.driver.extraJavaOptions"):  # errors only, on stderr
                b = b.config(
                    "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_log4j()}"
                )
        for k, v in {**_REQUIRED_CONF, **(conf or {})}.items():
            b = b.config(k, v)
        try:
            spark = b.getOrCreate()
        except Exception as exc:  # no Java, bad master: the JVM's message, no traceback
            raise ConfigError(
                f"cannot start Spark ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})",
                hint="the Spark engine needs a Java 17+ runtime (java -version); "
                "check --spark-master / $CHAINLENS_SPARK_MASTER",
            ) from None
        spark.sparkContext.setLogLevel("ERROR")
    for k, v in _REQUIRED_CONF.items():
        spark.conf.set(k, v)
    return spark


def _local_driver_gb() -> int:
    """Driver heap of a local master, GB: a quarter of physical memory, clamped to 1-8."""
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2
    return max(1, min(8, int(phys // 4 // 2**30)))


_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def _log4j() -> str:
    """A log4j2 configuration for a local Spark: errors only (no start-up chatter)."""
    import tempfile
    from pathlib import Path

    p = Path(tempfile.gettempdir()) / "chainlens-spark-log4j2.properties"
    if not p.exists() or p.read_text() != _LOG4J:
        p.write_text(_LOG4J)
    return str(p)


# --------------------------------------------------------------------------- buckets


def pack_buckets(
    rows: Mapping[str, int], capacity: int, *, max_names: int = 256, max_rows: int | None = None
) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """Pack underlyings into buckets from their row counts.

    Names are taken largest first (ties by name). A name with ``rows >= capacity`` gets a
    bucket of its own; the others go to the least-loaded open bucket that keeps it within
    ``capacity`` rows and ``max_names`` names, else to a new bucket. Deterministic.

    Returns
    -------
    tuple
        ``({name: bucket}, outsized)`` where ``outsized`` lists ``(name, rows)`` of the names
        above ``max_rows`` (default ``capacity``): groups larger than the configured size,
        run alone.

    Examples
    --------
    >>> pack_buckets({"A": 5, "B": 5, "C": 5}, capacity=10)
    ({'A': 0, 'B': 0, 'C': 1}, [])
    >>> pack_buckets({"SPX": 50, "A": 1}, capacity=10)
    ({'SPX': 0, 'A': 1}, [('SPX', 50)])
    """
    if capacity < 1 or max_names < 1:
        raise InputError("capacity and max_names must be >= 1", column="capacity", value=capacity)
    limit = capacity if max_rows is None else max_rows
    out: dict[str, int] = {}
    outsized: list[tuple[str, int]] = []
    heap: list[tuple[int, int]] = []  # (load, bucket) of the shared buckets still open
    names: dict[int, int] = {}
    nb = 0
    for name, n in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0])):  # a loop over names
        if n >= capacity:
            out[name] = nb
            nb += 1
            if n > limit:
                outsized.append((name, int(n)))
            continue
        while heap and names[heap[0][1]] >= max_names:
            heapq.heappop(heap)  # full by names: closed
        if heap and heap[0][0] + n <= capacity:
            load, b = heapq.heappop(heap)
        else:
            load, b = 0, nb
            nb += 1
            names[b] = 0
        out[name] = b
        names[b] += 1
        heapq.heappush(heap, (load + n, b))
    return out, outsized


# --------------------------------------------------------------------------- the group


def _ipc(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()


def _from_ipc(b: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(b)).read_all()


def _flatten(t: pa.Table, kind: int, col: str) -> pa.Table:
    """The rows of one kind, as a flat table in file order (plus ``_r``, ``_i``)."""
    sel = t.filter(pc.equal(t.column("_k"), kind))
    if sel.num_rows == 0:
        return pa.table({})
    flat = pa.Table.from_struct_array(sel.column(col).combine_chunks())
    flat = flat.append_column("_r", sel.column("_r")).append_column("_i", sel.column("_i"))
    return flat.sort_by([("_r", "ascending"), ("_i", "ascending")])


def _ns_to_ts(t: pa.Table, name: str) -> pa.Table:
    from chainlens import schema

    i = t.schema.get_field_index(name)
    typ = schema.CHAIN.field("snapshot_ts").type
    return t.set_column(i, name, t.column(name).cast(pa.int64()).cast(typ))


def _default_snapshots(chain: pa.Table) -> pa.Table:
    """The store's default snapshot of each (underlying, session) of ``chain`` (every
    snapshot of the window's sessions, in file order), OI filled from OI-only snapshots.

    A snapshot is the rows of one file, underlying and ``snapshot_ts``; it is a *quote*
    snapshot when any row has a bid, ask, last or volume (as the store classifies it). The
    default is the latest quote snapshot (ties: the later file); where the session also has
    OI-only snapshots, ``open_interest`` is filled, symbol by symbol, from the latest one.
    Returns the chosen rows ordered by underlying, session, then file order.
    """
    import polars as pl

    n = chain.num_rows
    df = pl.from_arrow(
        chain.select(["underlying", "trade_date", "snapshot_ts", "_r", "symbol", "open_interest"])
    )
    assert isinstance(df, pl.DataFrame)
    q = pc.is_valid(chain.column("bid"))
    for c in ("ask", "last", "volume"):
        q = pc.or_(q, pc.is_valid(chain.column(c)))
    df = df.with_columns(
        pl.Series("_q", q.to_numpy(zero_copy_only=False)), pl.Series("_n", range(n))
    )
    key = ["underlying", "trade_date"]
    snaps = (
        df.group_by([*key, "snapshot_ts", "_r"])
        .agg(pl.col("_q").any())
        .sort([*key, "_q", "snapshot_ts", "_r"])
        .group_by([*key, "_q"], maintain_order=True)
        .last()
    )
    quotes = snaps.filter(pl.col("_q")).drop("_q")
    ois = snaps.filter(~pl.col("_q")).drop("_q")
    chosen = pl.concat([quotes, ois.join(quotes.select(key), on=key, how="anti")], how="vertical")
    rows = df.join(chosen, on=[*key, "snapshot_ts", "_r"], how="semi")
    fill = ois.join(quotes.select(key), on=key, how="semi")  # OI-only beside a quote snapshot
    if fill.height:
        oi_rows = (
            df.join(fill, on=[*key, "snapshot_ts", "_r"], how="semi")
            .sort("_n")
            .unique(subset=[*key, "symbol"], keep="first", maintain_order=True)
            .select([*key, "symbol", pl.col("open_interest").alias("_oi")])
        )
        rows = rows.join(oi_rows, on=[*key, "symbol"], how="left").with_columns(
            pl.coalesce("open_interest", "_oi").alias("_fill")
        )
    else:
        rows = rows.with_columns(pl.col("open_interest").alias("_fill"))
    rows = rows.sort(["underlying", "trade_date", "_n"])
    idx = rows["_n"].to_numpy()
    out = chain.take(pa.array(idx, pa.int64()))
    i = out.schema.get_field_index("open_interest")
    filled = rows["_fill"].to_arrow().cast(pa.int64())
    return out.set_column(i, out.schema.field(i).name, filled.cast(out.schema.field(i).type))


def _split_by(t: pa.Table, col: str) -> dict[str, pa.Table]:
    if t.num_rows == 0 or col not in t.column_names:
        return {}
    keys = t.column(col)
    return {u: t.filter(pc.equal(keys, u)) for u in pc.unique(keys).to_pylist()}


def _group_windows(
    t: pa.Table, session: dt.date, bars: pa.Table | None, events: pa.Table | None
) -> list[UnderlyingWindow]:
    """The windows of the underlyings of one group, sorted by underlying."""
    from chainlens import schema

    chain = _flatten(t, _CHAIN, "c")
    if chain.num_rows == 0:
        return []
    chain = _default_snapshots(chain)
    chain = _ns_to_ts(chain, "snapshot_ts")
    trades = _flatten(t, _TRADES, "t")
    prints = _flatten(t, _PRINTS, "p")
    if trades.num_rows:
        trades = _ns_to_ts(trades, "ts")
    if prints.num_rows:
        prints = _ns_to_ts(prints, "ts")
    hist = _split_by(chain, "underlying")
    tr = _split_by(trades, "underlying")
    pr = _split_by(prints, "ticker")
    empty_t, empty_p = schema.TRADES.empty_table(), schema.PRINTS.empty_table()
    out = []
    for u in sorted(hist):  # a loop over the group's underlyings
        out.append(
            UnderlyingWindow(
                underlying=u,
                session=session,
                history=schema.conform(hist[u], schema.CHAIN),
                trades=schema.conform(tr[u], schema.TRADES) if u in tr else empty_t,
                prints=schema.conform(pr[u], schema.PRINTS) if u in pr else empty_p,
                bars=None if bars is None else bars.filter(pc.equal(bars.column("ticker"), u)),
                events=None
                if events is None
                else events.filter(
                    pc.is_in(events.column("ticker"), value_set=pa.array([u, "*"], pa.string()))
                ),
            )
        )
    return out


def _make_group_fn(
    config: PipelineConfig, bars_ipc: bytes | None, events_ipc: bytes | None, fault: str | None
) -> Any:
    """The ``applyInArrow`` function of one (session, bucket) group."""

    def run_group(t: pa.Table) -> pa.Table:
        session = t.column("session")[0].as_py()
        bucket = t.column("bucket")[0].as_py()
        if fault is not None and bucket == 0:
            from pyspark import TaskContext

            ctx = TaskContext.get()
            if fault == "kill_always" or (ctx is not None and ctx.attemptNumber() == 0):
                os._exit(3)  # the Python worker dies mid-task, as a killed executor would
        bars = None if bars_ipc is None else _from_ipc(bars_ipc)
        events = None if events_ipc is None else _from_ipc(events_ipc)
        # the local runner's block helper: the kernel in chunks sized by rows, failures as
        # messages, the group's result parts
        out = analyze_block(_group_windows(t, session, bars, events), config)
        rows: list[tuple[str, str, int, bytes]] = [
            ("failed", u, 0, msg.encode())
            for u, msg in zip(out.names, out.failed, strict=True)
            if msg is not None
        ]
        if out.facts:
            for name, part in out.parts.items():
                rows.append(("part", name, part.num_rows, _ipc(part)))
        rows.append(("stats", "input_rows", t.num_rows, b""))
        rows.append(("stats", "peak_rss_kb", out.peak_rss_kb, b""))  # memory per group (KiB)
        n = len(rows)
        return pa.table(
            {
                "session": pa.array([session] * n, pa.date32()),
                "bucket": pa.array([bucket] * n, pa.int32()),
                "kind": pa.array([r[0] for r in rows], pa.string()),
                "name": pa.array([r[1] for r in rows], pa.string()),
                "rows": pa.array([r[2] for r in rows], pa.int64()),
                "payload": pa.array([r[3] for r in rows], pa.binary()),
            }
        )

    return run_group


# --------------------------------------------------------------------------- the driver


def _picklable(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with its MappingProxyType fields as plain dicts (they do not pickle)."""
    return dataclasses.replace(
        cfg,
        analysis=dataclasses.replace(
            cfg.analysis, futures_usd_per_point=dict(cfg.analysis.futures_usd_per_point)
        ),
    )


def _join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _dataset_uri(dataset: str | os.PathLike[str] | None, store: Any) -> str:
    if dataset is None:
        return store.root.as_uri()
    s = os.fspath(dataset)
    if "://" in s:
        return s
    from pathlib import Path

    p = Path(s).expanduser().resolve()
    if not p.is_dir():
        raise NotFoundError(
            f"no dataset directory {p}",
            hint="--dataset is a directory laid out as the store (chain/, trades/, prints/)",
        )
    return p.as_uri()


_SPARK_TYPES = {
    "date32[day]": "DATE",
    "string": "STRING",
    "double": "DOUBLE",
    "float": "FLOAT",
    "int64": "BIGINT",
    "int32": "INT",
    "int16": "SMALLINT",
    "int8": "TINYINT",
    "bool": "BOOLEAN",
}


def _ddl(kind: str) -> str:
    """The Spark schema of a stored kind: as stored, timestamps as their int64 nanoseconds."""
    from chainlens import schema

    cols = []
    for f in schema.SCHEMAS[kind]:
        typ = "BIGINT" if pa.types.is_timestamp(f.type) else _SPARK_TYPES[str(f.type)]
        cols.append(f"`{f.name}` {typ}")
    return ", ".join(cols)


def _listing(spark: Any, uri: str) -> list[str] | None:
    """File names in the directory ``uri`` (any Hadoop file system), ``None`` if absent."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return None
    return sorted(st.getPath().getName() for st in fs.listStatus(path) if st.isFile())


def _read_kind(
    spark: Any, root: str, kind: str, dates: Sequence[dt.date]
) -> tuple[Any, list[dt.date]]:
    """``(rows, missing)``: the rows of ``kind`` dated in ``dates`` with ``_r`` (rank of the
    file name: files of a day in name order) and ``_i`` (row index in the file), or ``None``
    without any; ``missing`` the dates without a partition directory. Nothing is scanned
    here: partitions are found by listing, and the schema is the store's."""
    from pyspark.sql import functions as F

    base = _join_uri(root, kind)
    found, missing = [], []
    files: set[str] = set()
    for d in dates:  # a loop over sessions: one directory listing each
        uri = _join_uri(base, f"trade_date={d.isoformat()}")
        names = _listing(spark, uri)
        if names is None or not any(n.endswith(".parquet") for n in names):
            missing.append(d)
            continue
        found.append(uri)
        files.update(n for n in names if n.endswith(".parquet"))
    if not found:
        return None, missing
    ranks = spark.createDataFrame(
        pa.table({"_name": pa.array(sorted(files), pa.string()),
                  "_r": pa.array(range(len(files)), pa.int32())})
    )  # fmt: skip
    df = spark.read.schema(_ddl(kind)).option("basePath", base).parquet(*found)
    df = df.select(
        "*",
        F.element_at(F.split(F.col("_metadata.file_path"), "/"), -1).alias("_name"),
        F.col("_metadata.row_index").alias("_i"),
    )
    return df.join(F.broadcast(ranks), on="_name").drop("_name"), missing


def _windows_plan(
    store: Any, sessions: Sequence[dt.date], want: Sequence[str] | None, n_sessions: int
) -> tuple[pa.Table, dict[dt.date, list[str]]]:
    """``(map, names)``: ``map`` has one row per (underlying, window date, session) with the
    chain rows of that date's default snapshot (``contracts``); ``names`` the underlyings run
    per session. From the store's catalog (public :meth:`Store.sessions`)."""
    import polars as pl

    snaps = store.sessions()
    df = pl.from_arrow(snaps.select(["underlying", "session", "contracts", "default"]))
    assert isinstance(df, pl.DataFrame)
    per = (
        df.group_by(["underlying", "session"])
        .agg(pl.col("contracts").filter(pl.col("default")).sum())
        .sort(["underlying", "session"])
    )
    names: dict[dt.date, list[str]] = {}
    frames = []
    for d in sessions:  # a loop over sessions
        avail = store.underlyings(d)
        if not avail:
            raise NotFoundError(
                f"the store at {store.root} holds no chain for session {d}",
                hint="list the stored sessions with `chainlens sessions`",
            )
        if want:
            unknown = sorted(set(want) - set(avail))
            if unknown:
                raise NotFoundError(
                    f"no chain for {', '.join(unknown)} on {d}",
                    hint=f"stored that day: {', '.join(avail[:20])}",
                )
            us = list(want)
        else:
            us = avail
        names[d] = us
        w = (
            per.filter(pl.col("session") <= d, pl.col("underlying").is_in(us))
            .group_by("underlying", maintain_order=True)
            .tail(n_sessions)
            .rename({"session": "trade_date"})
            .with_columns(pl.lit(d).alias("session"))
        )
        frames.append(w)
    return pl.concat(frames).to_arrow(), names


def _counts(df: Any, key: str) -> dict[tuple[str, dt.date], int]:
    if df is None:
        return {}
    return {(r[0], r[1]): int(r[2]) for r in df.groupBy(key, "trade_date").count().collect()}


class SparkRunner:
    """The Spark runner (``chainlens run --engine spark``; the :class:`Runner` protocol).

    Parameters
    ----------
    spark
        A Spark session (default: :func:`spark_session`).
    options
        :class:`SparkOptions`.
    dataset
        Where Spark reads the Parquet partitions (``file://``, ``s3a://`` ...): a copy of the
        store's files, laid out as the store lays them out. Default: the store directory.
    macro
        Optional user macro series for the market regime panel (:mod:`chainlens.market`).
    """

    engine = "spark"

    def __init__(
        self,
        spark: Any = None,
        options: SparkOptions | None = None,
        *,
        dataset: str | os.PathLike[str] | None = None,
        macro: pa.Table | None = None,
    ) -> None:
        self.spark = spark
        self.options = options or SparkOptions()
        self.dataset = dataset
        self.macro = macro

    def run(
        self,
        source: Any,
        sessions: Sequence[dt.date],
        config: Any = None,
        *,
        underlyings: Sequence[str] | None = None,
        progress: ProgressFn | None = None,
    ) -> list[RunSummary]:
        """Run ``sessions`` over the store ``source`` (an open read-write
        :class:`~chainlens.store.Store`, or its directory) and store their results."""
        from chainlens.store import Store

        if isinstance(source, Store):
            return self._run(source, sessions, config, underlyings, progress)
        with Store(source, create=False) as st:
            return self._run(st, sessions, config, underlyings, progress)

    def _run(
        self,
        store: Any,
        sessions: Sequence[dt.date],
        config: Any,
        underlyings: Sequence[str] | None,
        progress: ProgressFn | None,
    ) -> list[RunSummary]:
        cfg = config or PipelineConfig()
        days = sorted({_as_date(d) for d in sessions})
        if not days:
            raise InputError("no session to run", column="sessions")
        want = [u.upper() for u in underlyings] if underlyings else None
        opts = self.options
        root = _dataset_uri(self.dataset, store)
        plan, names = _windows_plan(store, days, want, cfg.n_sessions)  # checks every session
        spark = self.spark or spark_session()
        bars_all = store.table("bars")
        events_all = store.table("events")
        sectors = store.table("sectors")
        out: list[RunSummary] = []
        for a in range(0, len(days), opts.sessions_per_job):  # a loop over jobs
            batch = days[a : a + opts.sessions_per_job]
            out += self._job(
                spark, store, root, batch, plan, names, cfg, bars_all, events_all, sectors
            )
            if progress is not None:
                progress(len(out), len(days), batch[-1].isoformat())
        return out

    def _job(
        self,
        spark: Any,
        store: Any,
        root: str,
        batch: list[dt.date],
        plan: pa.Table,
        names: dict[dt.date, list[str]],
        cfg: PipelineConfig,
        bars_all: pa.Table,
        events_all: pa.Table,
        sectors: pa.Table,
    ) -> list[RunSummary]:
        from pyspark.sql import functions as F

        opts = self.options
        t0 = time.perf_counter()
        bplan = plan.filter(
            pc.is_in(plan.column("session"), value_set=pa.array(batch, pa.date32()))
        )
        win_dates = sorted(set(bplan.column("trade_date").to_pylist()))
        chain, missing = _read_kind(spark, root, "chain", win_dates)
        trades, _ = _read_kind(spark, root, "trades", batch)
        prints, _ = _read_kind(spark, root, "prints", batch)
        if missing:
            raise NotFoundError(
                f"the dataset {root} has no chain partition for {', '.join(map(str, missing[:5]))}"
                f" (the store has those sessions)",
                hint="copy the store's chain/trade_date=... directories to the dataset",
            )
        # ---- buckets, from row counts: chain window rows (catalog) + trades + prints
        tcount = _counts(trades, "underlying")
        pcount = _counts(prints, "ticker")
        weights: dict[dt.date, dict[str, int]] = {d: {} for d in batch}
        for u, _x, d, c in zip(
            *(
                bplan.column(k).to_pylist()
                for k in ("underlying", "trade_date", "session", "contracts")
            ),
            strict=True,
        ):  # a loop over (underlying, window session) pairs: the catalog's size
            weights[d][u] = weights[d].get(u, 0) + int(c or 0)
        cores = max(1, int(spark.sparkContext.defaultParallelism))
        buckets: dict[dt.date, dict[str, int]] = {}
        outsized: dict[dt.date, list[tuple[str, int]]] = {}
        for d in batch:  # a loop over sessions
            w = {u: weights[d].get(u, 0) + tcount.get((u, d), 0) + pcount.get((u, d), 0)
                 for u in names[d]}  # fmt: skip
            total = sum(w.values())
            cap = max(1, min(opts.max_group_rows, -(-total // (opts.groups_per_core * cores))))
            buckets[d], outsized[d] = pack_buckets(
                w, cap, max_names=opts.max_group_names, max_rows=opts.max_group_rows
            )
        bmap = pa.table(
            {
                "session": pa.array([d for d in batch for _ in buckets[d]], pa.date32()),
                "underlying": pa.array([u for d in batch for u in buckets[d]], pa.string()),
                "bucket": pa.array([b for d in batch for b in buckets[d].values()], pa.int32()),
            }
        )
        bdf = spark.createDataFrame(bmap)
        cmap = spark.createDataFrame(bplan.select(["underlying", "trade_date", "session"]))
        cmap = cmap.join(bdf, on=["underlying", "session"])
        # ---- one grouped input: chain window rows per as-of session, trades, prints
        parts = []
        ccols = [c for c in chain.columns if c not in ("_r", "_i")]
        parts.append(
            chain.join(F.broadcast(cmap), on=["underlying", "trade_date"]).select(
                "session",
                "bucket",
                F.lit(_CHAIN).cast("byte").alias("_k"),
                "_r",
                "_i",
                F.struct(*ccols).alias("c"),
            )  # fmt: skip
        )
        for df, key, kind, col in ((trades, "underlying", _TRADES, "t"),
                                   (prints, "ticker", _PRINTS, "p")):  # fmt: skip
            if df is None:
                continue
            cols = [c for c in df.columns if c not in ("_r", "_i")]
            m = bdf.withColumnRenamed("underlying", key).withColumnRenamed("session", "trade_date")
            parts.append(
                df.join(F.broadcast(m), on=[key, "trade_date"]).select(
                    F.col("trade_date").alias("session"),
                    "bucket",
                    F.lit(kind).cast("byte").alias("_k"),
                    "_r",
                    "_i",
                    F.struct(*cols).alias(col),
                )  # fmt: skip
            )
        grouped = parts[0]
        for p in parts[1:]:
            grouped = grouped.unionByName(p, allowMissingColumns=True)
        us_all = pa.array(sorted({u for d in batch for u in names[d]}), pa.string())
        bars = (
            None
            if bars_all.num_rows == 0
            else bars_all.filter(pc.is_in(bars_all.column("ticker"), value_set=us_all))
        )
        ev_keys = pa.concat_arrays([us_all, pa.array(["*"], pa.string())])
        events = (
            None
            if events_all.num_rows == 0
            else events_all.filter(pc.is_in(events_all.column("ticker"), value_set=ev_keys))
        )
        # a table the store holds but that has no row of these names stays a (empty) table
        fn = _make_group_fn(
            _picklable(cfg),
            None if bars is None else _ipc(bars),
            None if events is None else _ipc(events),
            opts.fault,
        )
        if opts.shuffle_partitions is not None:
            spark.conf.set("spark.sql.shuffle.partitions", str(opts.shuffle_partitions))
        result = grouped.groupBy("session", "bucket").applyInArrow(fn, _OUT_SCHEMA)
        try:
            rows = result.toArrow()
        except Exception as exc:
            raise ChainlensError(
                f"the Spark job for {batch[0]}..{batch[-1]} failed; no session of it was "
                f"written ({type(exc).__name__}: {_first_line(exc)})",
                hint="see the executor logs; a rerun is safe (sessions are written whole)",
            ) from None
        t_job = time.perf_counter() - t0
        return [
            self._commit(
                store, d, rows, buckets[d], outsized[d], names[d], sectors, cores, t0, t_job
            )
            for d in batch
        ]

    def _commit(
        self,
        store: Any,
        d: dt.date,
        rows: pa.Table,
        buckets: dict[str, int],
        outsized: list[tuple[str, int]],
        run_order: list[str],
        sectors: pa.Table,
        cores: int,
        t0: float,
        t_job: float,
    ) -> RunSummary:
        """Write one session: its parts (one atomic publish), then its market rollup."""
        from chainlens.market import market_rollup

        mine = rows.filter(pc.equal(rows.column("session"), pa.scalar(d, pa.date32())))
        mine = mine.sort_by([("bucket", "ascending")])
        kinds = mine.column("kind").to_pylist()
        names = mine.column("name").to_pylist()
        payloads = mine.column("payload").to_pylist()
        failed = sorted(p.decode() for k, p in zip(kinds, payloads, strict=True) if k == "failed")
        counts = mine.column("rows").to_pylist()
        stats: dict[str, int] = {}
        for k, n, c in zip(kinds, names, counts, strict=True):  # a loop over groups
            if k == "stats":
                stats[n] = max(stats.get(n, 0), int(c))
        tables: dict[str, list[pa.Table]] = {}
        for k, n, p in zip(kinds, names, payloads, strict=True):  # a loop over group parts
            if k == "part":
                tables.setdefault(n, []).append(_from_ipc(p))
        parts = {
            n: pa.concat_tables(ts, promote_options="permissive")
            for n, ts in sorted(tables.items())
        }
        if "docs" in parts:  # in run order (the market rollup reads them in it)
            docs_t = parts["docs"]
            order = {u: i for i, u in enumerate(run_order)}
            pos = pa.array([order[u] for u in docs_t.column("underlying").to_pylist()], pa.int64())
            parts["docs"] = docs_t.take(pc.sort_indices(pos))
        else:
            parts = {"docs": pa.table({"underlying": pa.array([], pa.string()),
                                       "session": pa.array([], pa.date32()),
                                       "doc": pa.array([], pa.string())})}  # fmt: skip
        from chainlens.scan._stored import scan_parts  # issue 15: the stored scanner parts

        parts.update(scan_parts(store, d))
        docs: list[Any] = [json.loads(s) for s in parts["docs"].column("doc").to_pylist()]
        analysed = len(docs)
        kept = 0
        if set(run_order) != set(store.underlyings(d)):  # some names: keep the others' results
            parts, others = with_other_results(store, d, run_order, parts)
            kept = len(others)
            if others:
                docs = sorted([*docs, *others], key=lambda f: str(f.get("underlying")))
        store.write_results(RESULTS_NAME, d, parts)
        market = market_rollup(docs, session=d, sectors=sectors, macro=self.macro)
        store.write_results(
            MARKET_RESULTS,
            d,
            {
                "doc": pa.table(
                    {"doc": pa.array([json.dumps(market, allow_nan=False)], pa.string())}
                )
            },
        )
        return RunSummary(
            session=d.isoformat(),
            underlyings=analysed,
            failed=failed,
            parts={k: v.num_rows for k, v in parts.items()},
            workers=cores,
            elapsed_s=time.perf_counter() - t0,
            engine="spark",
            extra={
                "groups": len(set(buckets.values())),
                "outsized": [{"underlying": u, "rows": n} for u, n in outsized],
                "spark_job_s": t_job,
                "max_group_input_rows": stats.get("input_rows", 0),
                "worker_peak_rss_mb": round(stats.get("peak_rss_kb", 0) / 1024, 1),
                "kept_underlyings": kept,
            },
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("File ", "Traceback", "at ")):
            return line[:300]
    return text[:300]


def _as_date(v: dt.date | str) -> dt.date:
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise InputError("session must be an ISO date YYYY-MM-DD", column="date", value=v) from None


def run_spark(
    store: Any,
    sessions: Sequence[dt.date],
    underlyings: Sequence[str] | None = None,
    *,
    config: PipelineConfig | None = None,
    options: SparkOptions | None = None,
    dataset: str | None = None,
    spark: Any = None,
    macro: pa.Table | None = None,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """``chainlens run --engine spark``: run ``sessions`` and return one JSON object each
    (the keys of ``chainlens run --json``, plus ``engine``, ``groups``, ``outsized``,
    ``spark_job_s``)."""
    runner = SparkRunner(spark, options, dataset=dataset, macro=macro)
    got = runner.run(store, sessions, config, underlyings=underlyings, progress=progress)
    return [s.to_json() for s in got]
