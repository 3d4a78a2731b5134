"""Safe output: file names, links, Markdown text and CSV cells built from data values.

Tickers, underlyings and file names come from the data (a vendor file, a user's mapping) and
may hold anything: ``../../X``, ``JAVASCRIPT:%61%6C%65%72%74(1)``, ``<IMG SRC=X ONERROR=…>``,
``=cmd|' /C calc'!A0``. Everything the reports write passes through one of these helpers:

* :func:`safe_filename` — a reversible encoding to ``[A-Za-z0-9._^~]`` (never a path
  separator, never a leading dot, never a ``:``, bounded length); :func:`filename_text` decodes.
* :func:`safe_href` — a relative link that can never carry a scheme (``javascript:``): every
  character outside ``[A-Za-z0-9/._~-]`` is percent-encoded.
* :func:`md_escape` — a data value as inert Markdown text: HTML specials become entities,
  Markdown punctuation is backslash-escaped, line breaks become spaces.
* :func:`csv_cell`, :func:`csv_safe_array`, :func:`csv_safe_table` — a text cell that starts
  with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` so that a
  spreadsheet reads it as text, never as a formula (OWASP "CSV injection"); numbers are left
  alone. The Arrow versions are vectorised (no loop over rows).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

__all__ = [
    "CSV_FORMULA_LEADS",
    "csv_cell",
    "csv_safe_array",
    "csv_safe_table",
    "filename_text",
    "md_escape",
    "safe_filename",
    "safe_href",
]

_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._^")
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(10)] + [f"LPT{i}" for i in range(10)]
)
_MAX = 100


def safe_filename(name: str, *, max_len: int = _MAX) -> str:
    """``name`` as one safe path component: a reversible ``~XX`` encoding.

    Letters, digits, ``.``, ``_`` and ``^`` are kept; every other character (``/``, ``\\``,
    ``:``, ``%``, ``-``, spaces, non-ASCII) becomes ``~`` and two hex digits per UTF-8 byte. A
    leading ``.`` is encoded too (no hidden files, no ``..``), the empty name is ``~``, a
    Windows device name (``CON``, ``NUL``…) gets a ``~`` prefix, and a name longer than
    ``max_len`` keeps its first characters and a hash of the whole. ``-`` is encoded so that
    ``<ticker>-<lens>`` splits at its first ``-``.

    Examples
    --------
    >>> safe_filename("SPX"), safe_filename("BRK.B"), safe_filename("../../X")
    ('SPX', 'BRK.B', '~2E.~2F..~2FX')
    >>> safe_filename("JAVASCRIPT:%61")
    'JAVASCRIPT~3A~2561'
    >>> filename_text(safe_filename("a/b c-d"))
    'a/b c-d'
    """
    s = str(name)
    out = []
    for i, ch in enumerate(s):
        if ch in _KEEP and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    enc = "".join(out) or "~"
    if enc.upper().split(".")[0] in _RESERVED:
        enc = "~" + enc
    if len(enc) > max_len:
        digest = hashlib.sha256(s.encode("utf-8")).hexdigest()[:12]
        head = enc[: max_len - 14]
        head = head[: head.rfind("~")] if "~" in head[-2:] else head  # never split a ~XX
        enc = f"{head}~~{digest}"
    return enc


_TILDE = re.compile(r"(?:~[0-9A-F]{2})+")


def filename_text(enc: str) -> str:
    """Decode :func:`safe_filename` (a hashed long name decodes to its kept head)."""
    enc = enc.split("~~", 1)[0]
    if enc.startswith("~") and enc[1:].upper().split(".")[0] in _RESERVED:
        enc = enc[1:]
    if enc == "~":
        return ""
    return _TILDE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("~", "")).decode("utf-8", "replace"), enc
    )


def safe_href(url: str | None) -> str:
    """A relative link that cannot carry a scheme or a host: percent-encode everything outside
    ``[A-Za-z0-9/._~-]`` (so ``javascript:`` becomes the harmless path ``javascript%3A``), and
    make a leading ``/`` (``//host/x``, ``/etc``) relative.

    Examples
    --------
    >>> safe_href("../2024-03-15/SPX-flow.html")
    '../2024-03-15/SPX-flow.html'
    >>> safe_href("JAVASCRIPT:%61%6C%65%72%74(1)")
    'JAVASCRIPT%3A%2561%256C%2565%2572%2574%281%29'
    """
    if url is None:
        return ""
    q = quote(str(url), safe="/._~-")
    return "./" + q.lstrip("/") if q.startswith("/") else q  # "//host/x", "/etc": relative


_MD_SPECIAL = re.compile(r"([\\`\[\]|])")


def md_escape(value: Any) -> str:
    """A data value as inert Markdown text.

    ``&``, ``<`` and ``>`` become HTML entities (no tag, no ``<javascript:…>`` autolink), the
    characters that open links, images, code spans or table cells (``\\ ` [ ] |``) are
    backslash-escaped, and line breaks become spaces (no new block). Emphasis characters are
    left alone: they change no more than the look of the value. A Markdown renderer shows
    the value as typed.

    Examples
    --------
    >>> md_escape("<IMG SRC=X ONERROR=alert(1)>")
    '&lt;IMG SRC=X ONERROR=alert(1)&gt;'
    >>> md_escape("[x](javascript:alert(1))")
    '\\\\[x\\\\](javascript:alert(1))'
    >>> md_escape("$4.5M at $560 (-3.1%)")
    '$4.5M at $560 (-3.1%)'
    """
    s = "" if value is None else str(value)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"[\r\n\u2028\u2029]+", " ", s)
    return _MD_SPECIAL.sub(r"\\\1", s)


CSV_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet never runs as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    ``'``; numbers, None and other text are returned unchanged.

    Examples
    --------
    >>> csv_cell("=cmd|' /C calc'!A0"), csv_cell("-5"), csv_cell(-5), csv_cell("SPX")
    ("'=cmd|' /C calc'!A0", "'-5", -5, 'SPX')
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_LEADS):
        return "'" + value
    return value


def csv_safe_array(arr: Any) -> Any:
    """:func:`csv_cell` over an Arrow string array (vectorised; other types unchanged)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array(
            [csv_safe_array(c) for c in arr.chunks], type=arr.type if arr.num_chunks == 0 else None
        )
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    lead = pc.utf8_slice_codeunits(arr, 0, 1)
    hit = pc.is_in(lead, value_set=pa.array(CSV_FORMULA_LEADS, type=arr.type))
    fixed = pc.binary_join_element_wise(pa.scalar("'", type=arr.type), arr, "")
    return pc.if_else(pc.fill_null(hit, False), fixed, arr)


def csv_safe_table(table: Any) -> Any:
    """Every string column of an Arrow table through :func:`csv_safe_array`."""
    cols = [csv_safe_array(c) for c in table.columns]
    import pyarrow as pa

    return pa.Table.from_arrays(cols, schema=table.schema)
