"""Format detection and dispatch for :func:`chainlens.io.read_file`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from chainlens.errors import InputError, UnknownFormatError, file_problem
from chainlens.io import _cboe_quotes, _parquet
from chainlens.io._common import AdapterResult, read_head_lines

__all__ = ["KNOWN_FORMATS", "detect_format", "read_chain", "read_file"]

#: Every format chainlens reads. ``generic:<mapping>`` is any TOML mapping (``--mapping``).
KNOWN_FORMATS: tuple[str, ...] = (
    "cboe_quotes",
    "datashop_trades",
    "datashop_eod",
    "occ_oi_json",
    "barchart_json",
    "cboe_delayed_json",
    "databento_dbn",
    "generic:iwm_eod",
    "canonical_parquet",
    "zip",
)

_PARQUET_MAGIC = b"PAR1"


def _unknown(path: Path, why: str) -> UnknownFormatError:
    return UnknownFormatError(
        f"unknown format: {why}",
        path=path,
        hint="known formats: "
        + ", ".join(KNOWN_FORMATS)
        + "; for another CSV/Parquet layout write a "
        "TOML column mapping (see chainlens/io/MAPPINGS.md) and pass it with mapping=/--mapping",
    )


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its content (never from its file name).

    Raises
    ------
    UnknownFormatError
        Listing ``KNOWN_FORMATS``, when no adapter recognises the file.
    InputError
        When the file is missing or empty.
    """
    path = Path(path)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputError(file_problem(path) or "no such file", path=path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if not magic:
        raise InputError("empty file (0 bytes)", path=path, row=1)
    if magic == _PARQUET_MAGIC:
        import pyarrow.parquet as pq

        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"damaged Parquet file ({e})", path=path) from None
        if _parquet.kind_of_schema(names) is not None:
            return _parquet.FORMAT
        from chainlens.io import _generic

        m = _generic.detect_mapping(names)
        if m is not None:
            return f"generic:{m}"
        raise _unknown(path, "Parquet columns match no canonical schema and no shipped mapping")
    if magic[:2] == b"PK":
        from chainlens.io import _zip

        if not _zip.looks_like(path):
            raise InputError("damaged zip archive", path=path)
        if not any(fmt for _, fmt in _zip.members(path, detect_format)):
            raise _unknown(path, "a zip archive with no member in a known format")
        return _zip.FORMAT
    from chainlens.io import _databento

    if _databento.looks_like(path):
        return _databento.FORMAT
    head = read_head_lines(path, 8)
    text0 = "\n".join(head).lstrip()
    if _cboe_quotes.looks_like(head):
        return _cboe_quotes.FORMAT
    if text0.startswith("{"):
        from chainlens.io import _barchart, _occ_oi

        if _barchart.looks_like(path):
            return _barchart.FORMAT
        from chainlens.io import _cboe_json

        if _cboe_json.looks_like(path):
            return _cboe_json.FORMAT

        if _occ_oi.looks_like(path):
            return _occ_oi.FORMAT
        raise _unknown(
            path,
            "a JSON document that is not an OCC OI history ({ticker, closes, days}), a Cboe "
            "delayed-quotes payload ({data: {options}}) or a Barchart snapshot ({expiries})",
        )
    first = head[0].lstrip("\ufeff").strip() if head else ""
    from chainlens.io import _datashop, _generic

    fmt = _datashop.detect(first)
    if fmt is not None:
        return fmt
    m = _generic.detect_mapping([c.strip() for c in first.split(",")])
    if m is not None:
        return f"generic:{m}"
    if not first:
        if any("Last:" in ln or ln.startswith("Expiration Date") for ln in head[:8]):
            raise _unknown(
                path,
                "a Cboe quote table whose preamble or header differs from the expected "
                "'<name>,Last: <spot>' / 'Date: ...' / 'Expiration Date,Calls,...' lines",
            )
        raise InputError("no header line (file starts with an empty line)", path=path, row=1)
    raise _unknown(path, f"header not recognised: {first[:120]!r}")


def read_file(
    path: Path | str,
    *,
    format: str | None = None,
    mapping: Path | None = None,
    batch_rows: int = 1_000_000,
) -> Iterator[AdapterResult]:
    """Read a file of any known format as canonical Arrow batches with their rejects.

    Parameters
    ----------
    path
        The file.
    format
        One of ``KNOWN_FORMATS`` (or ``generic:<name>``); detected from the content if None.
    mapping
        A TOML column mapping for the generic adapter (implies ``format="generic:<stem>"``).
    batch_rows
        Rows per batch for the streaming readers (memory stays ~ one batch).

    Yields
    ------
    AdapterResult
        ``rows_read == table.num_rows + rejects.num_rows`` for every batch.

    Raises
    ------
    InputError, UnknownFormatError
        For files that cannot be read at all (empty, header only, not the format).
    """
    path = Path(path)
    if mapping is not None:
        from chainlens.io import _generic

        yield from _checked(_generic.read(path, mapping=Path(mapping), batch_rows=batch_rows), path)
        return
    fmt = format or detect_format(path)
    if fmt == _cboe_quotes.FORMAT:
        gen = _cboe_quotes.read(path, batch_rows=batch_rows)
    elif fmt == _parquet.FORMAT:
        gen = _parquet.read(path, batch_rows=batch_rows)
    elif fmt in ("datashop_trades", "datashop_eod"):
        from chainlens.io import _datashop

        gen = _datashop.read(path, fmt, batch_rows=batch_rows)
    elif fmt == "occ_oi_json":
        from chainlens.io import _occ_oi

        gen = _occ_oi.read(path, batch_rows=batch_rows)
    elif fmt == "barchart_json":
        from chainlens.io import _barchart

        gen = _barchart.read(path, batch_rows=batch_rows)
    elif fmt == "cboe_delayed_json":
        from chainlens.io import _cboe_json

        gen = _cboe_json.read(path, batch_rows=batch_rows)
    elif fmt == "databento_dbn":
        from chainlens.io import _databento

        gen = _databento.read(path, batch_rows=batch_rows)
    elif fmt == "zip":
        from chainlens.io import _zip

        gen = _zip.read(
            path, detect_format=detect_format, read_file=read_file, batch_rows=batch_rows
        )
    elif fmt.startswith("generic:"):
        from chainlens.io import _generic

        gen = _generic.read(path, mapping=fmt.split(":", 1)[1], batch_rows=batch_rows)
    else:
        raise _unknown(path, f"format {fmt!r} was asked for")
    yield from _checked(gen, path)


def _checked(gen: Iterator[AdapterResult], path: Path) -> Iterator[AdapterResult]:
    total = 0
    for res in gen:
        assert res.rows_read == res.table.num_rows + res.rejects.num_rows, "row accounting broken"
        total += res.rows_read
        yield res
    if total == 0:
        raise InputError(
            "no data rows (empty file or header only)", path=path, hint="nothing was read"
        )


def read_chain(path: Path | str, **kw: object) -> pa.Table:
    """All ``chain`` rows of a file as one table (rejects dropped; see :func:`read_file`)."""
    tables = []
    for res in read_file(Path(path), **kw):  # type: ignore[arg-type]
        if res.kind != "chain":
            raise InputError(f"file holds {res.kind}, not an option chain", path=path)
        tables.append(res.table)
    return pa.concat_tables(tables).combine_chunks()
