"""Zip archives of known formats (for example Cboe DataShop's ``OptionEODSummary`` samples,
which hold one zip per product, each holding one CSV).

The archive is expanded (nested zips too) into a private temporary directory; every member in
a known format is read by its own adapter, and the members that are not data (a description
``.txt``) are skipped and count no rows. A contract that an earlier member already gave for the
same snapshot (DataShop ships the same contracts as "EOD Calcs" and "EOD Quotes") is rejected
with the member that gave it first, never stored twice. Rejects name the member as ``archive.zip!member.csv``,
so a user can find the row. Each batch's format reads ``zip:<member format>``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc

from chainlens.errors import ChainlensError, InputError
from chainlens.io._common import AdapterResult

__all__ = ["FORMAT", "looks_like", "members", "read"]

#: ``detect_format(path) -> str`` (:func:`chainlens.io.detect_format`).
DetectFn = Callable[[Path], str]
#: ``read_file(path, *, format=..., batch_rows=...)`` (:func:`chainlens.io.read_file`).
ReadFn = Callable[..., Iterator[AdapterResult]]

FORMAT = "zip"

#: Guards against zip bombs: total uncompressed bytes and nesting depth we accept.
MAX_UNCOMPRESSED_BYTES = 8 * 1024**3
MAX_DEPTH = 3


def looks_like(path: Path) -> bool:
    """True when ``path`` is a readable zip archive."""
    return zipfile.is_zipfile(path)


def _expand(archive: Path, into: Path, label: str, depth: int) -> list[tuple[Path, str]]:
    """Extract ``archive`` into ``into``; return (file, label) for every non-zip member."""
    if depth > MAX_DEPTH:
        raise InputError(f"zip archives nested deeper than {MAX_DEPTH} levels", path=label)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as e:
        raise InputError(f"damaged zip archive ({e})", path=label) from None
    except NotImplementedError as e:  # a newer zip version or feature than Python reads
        raise InputError(
            f"zip archive uses a feature chainlens cannot read ({e})",
            path=label,
            hint="re-zip it with a standard tool, or unzip it first",
        ) from None
    out: list[tuple[Path, str]] = []
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED_BYTES:
            raise InputError("zip archive expands beyond 8 GiB; unzip it by hand", path=label)
        for n, info in enumerate(sorted(infos, key=lambda i: i.filename)):
            name = PurePosixPath(info.filename).name
            if not name or name.startswith("."):
                continue
            target = into / f"{depth}-{n}-{name}"
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as e:
                raise InputError(
                    f"damaged zip member ({e})", path=f"{label}!{info.filename}"
                ) from None
            except NotImplementedError as e:  # PPMd (98), LZMA variants... unknown methods
                raise InputError(
                    f"zip member uses a compression method chainlens cannot read ({e})",
                    path=f"{label}!{info.filename}",
                    hint="re-zip it with the standard deflate method, or unzip it first",
                ) from None
            except RuntimeError as e:  # encrypted member: a password would be needed
                raise InputError(
                    f"zip member cannot be read ({e})",
                    path=f"{label}!{info.filename}",
                    hint="unzip it yourself (with its password), then ingest the files",
                ) from None
            member_label = f"{label}!{info.filename}"
            if zipfile.is_zipfile(target):
                out.extend(_expand(target, into, member_label, depth + 1))
            else:
                out.append((target, member_label))
    return out


_TMP_PREFIX = "chainlens-zip-"


def _private_tmp() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory named after this process (``chainlens-zip-<pid>-...``).

    A ``kill -9`` cannot run the cleanup of the ``with`` block, so each new one first removes
    the directories of processes that no longer exist."""
    import os
    import shutil

    base = Path(tempfile.gettempdir())
    for d in base.glob(f"{_TMP_PREFIX}*"):
        pid = d.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass  # alive, another user's
    return tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}-")


def members(path: Path, detect_format: DetectFn) -> list[tuple[str, str | None]]:
    """(member label, detected format or None) for every member of the archive.

    ``detect_format`` is :func:`chainlens.io.detect_format` (handed in by the caller, so this
    module does not import the dispatcher that imports it)."""
    with _private_tmp() as tmp:
        found: list[tuple[str, str | None]] = []
        for f, label in _expand(Path(path), Path(tmp), str(path), 0):
            try:
                found.append((label, detect_format(f)))
            except ChainlensError:
                found.append((label, None))
        return found


def read(
    path: Path,
    *,
    detect_format: DetectFn,
    read_file: ReadFn,
    batch_rows: int = 1_000_000,
) -> Iterator[AdapterResult]:
    """Read every member of a known format, in member-name order (``detect_format`` and
    ``read_file`` are :func:`chainlens.io.detect_format` and :func:`chainlens.io.read_file`,
    handed in by the dispatcher)."""
    path = Path(path)
    with _private_tmp() as tmp:
        readable = []
        for f, label in _expand(path, Path(tmp), str(path), 0):
            try:
                readable.append((f, label, detect_format(f)))
            except ChainlensError:
                continue  # not data (a description, a readme): skipped, no rows counted
        if not readable:
            raise InputError(
                "zip archive holds no file in a known format",
                path=path,
                hint="unzip it and check its files with `chainlens ingest`",
            )
        seen: dict[str, list[pa.Array]] = {}  # chain keys per member label
        for f, label, fmt in readable:
            lines_before = 0  # data rows of this member read by earlier batches
            for res in read_file(f, format=fmt, batch_rows=batch_rows):
                if res.kind == "chain" and seen and res.table.num_rows:
                    first_line = (
                        2 + lines_before
                        if fmt in _ONE_ROW_PER_LINE and res.rejects.num_rows == 0
                        else None
                    )
                    res = _reject_repeats(res, seen, label, first_line)
                lines_before += res.rows_read
                if res.kind == "chain":
                    seen.setdefault(label, []).append(_keys(res.table))
                rejects = res.rejects
                if rejects.num_rows:
                    i = rejects.schema.get_field_index("path")
                    rejects = rejects.set_column(
                        i,
                        rejects.schema.field(i),
                        pa.array([label] * rejects.num_rows, pa.string()),
                    )
                yield dataclasses.replace(
                    res, rejects=rejects, format=f"{FORMAT}:{res.format}", source=path
                )


#: Formats whose data rows are the file's lines after one header line, in order.
_ONE_ROW_PER_LINE = frozenset({"datashop_eod", "datashop_trades"})


def _keys(table: pa.Table) -> pa.Array:
    ts = pc.cast(pc.cast(table["snapshot_ts"], pa.int64()), pa.string())
    return pc.binary_join_element_wise(ts, table["symbol"], "|").combine_chunks()


def _reject_repeats(
    res: AdapterResult, seen: dict[str, list[pa.Array]], label: str, first_line: int | None
) -> AdapterResult:
    """Move rows whose (snapshot, contract) an earlier member gave into the rejects.

    ``first_line`` is the physical line of the batch's first row when it is known exactly
    (one row per line and no row rejected by the adapter before); otherwise the rejects carry
    row 0, meaning "line not known", and name the contract in ``value``.
    """
    keys = _keys(res.table)
    dup = pa.array([False] * len(keys))
    first_by: list[str | None] = [None] * len(keys)
    for earlier, arrays in seen.items():
        hit = pc.is_in(keys, value_set=pa.concat_arrays(arrays)).to_numpy(zero_copy_only=False)
        for i in hit.nonzero()[0]:
            if first_by[i] is None:
                first_by[i] = earlier
        dup = pc.or_(dup, pa.array(hit))
    n_dup = pc.sum(dup).as_py() or 0
    if not n_dup:
        return res
    from chainlens.schema import REJECTS

    idx = pc.indices_nonzero(dup)
    new_rejects = pa.table(
        {
            "path": pa.array([label] * n_dup, pa.string()),
            "row": pa.array(
                (idx.to_numpy() + first_line) if first_line is not None else [0] * n_dup,
                pa.int64(),
            ),
            "column": pa.array(["symbol"] * n_dup, pa.string()),
            "value": pc.take(res.table["symbol"], idx).cast(pa.string()),
            "reason": pa.array(
                [
                    f"duplicate contract within one snapshot (first given by {first_by[i]})"
                    for i in idx.to_numpy()
                ],
                pa.string(),
            ),
        },
        schema=REJECTS,
    )
    return dataclasses.replace(
        res,
        table=res.table.filter(pc.invert(dup)),
        rejects=pa.concat_tables([res.rejects, new_rejects]),
    )
