"""The dashboard's vendored JavaScript names no public host outside its licence comments.

The full plotly.js bundle ships map, tile, glyph and icon code with hard-coded public URLs
(basemaps.cartocdn.com, tile.openstreetmap.org, fonts.openmaptiles.org, cdn.jsdelivr.net...);
the vendored file is the cartesian partial bundle, patched (static/VENDORED.md) so that its
config defaults (``plotlyServerURL``, ``topojsonURL``), the logo link and the documentation
links in its messages name no host either. Outside ``/* ... */`` licence comments, the only URLs
left are XML namespace identifiers (www.w3.org), which browsers never fetch.
"""

from __future__ import annotations

import re
from pathlib import Path

import chainlens.serve

STATIC = Path(chainlens.serve.__file__).parent / "static"
URL = re.compile(r"https?://([A-Za-z0-9.-]+)")
COMMENT = re.compile(r"/\*[\s\S]*?\*/")

#: XML namespace identifiers (``http://www.w3.org/2000/svg``...): names, never fetched.
NAMESPACES = {"www.w3.org"}


def test_vendored_scripts_name_no_public_host_outside_licence_comments() -> None:
    hosts: dict[str, set[str]] = {}
    for f in STATIC.glob("*.js"):
        code = COMMENT.sub("", f.read_text(encoding="utf-8", errors="replace"))
        for h in URL.findall(code):
            hosts.setdefault(h, set()).add(f.name)
    unexpected = {h: sorted(fs) for h, fs in hosts.items() if h not in NAMESPACES}
    assert not unexpected, f"public hosts in served scripts: {unexpected}"


def test_vendored_plotly_is_the_patched_file() -> None:
    import hashlib

    text = (STATIC / "VENDORED.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((STATIC / "plotly.min.js").read_bytes()).hexdigest()
    assert digest in text, "plotly.min.js changed: re-apply the patch in VENDORED.md"


def test_plotly_defaults_pointing_at_public_hosts_are_overridden() -> None:
    app = (STATIC / "app.js").read_text(encoding="utf-8")
    for key in ("plotlyServerURL", "topojsonURL", "showSendToCloud", "displaylogo"):
        assert key in app, key


def test_templates_and_css_load_nothing_from_outside() -> None:
    root = STATIC.parent
    texts = [p.read_text(encoding="utf-8") for p in (root / "templates").glob("*")]
    texts += [p.read_text(encoding="utf-8") for p in STATIC.glob("*.css")]
    for t in texts:
        assert not re.search(r"(src|href)=\"(https?:)?//", t)
        assert not re.search(r"url\((['\"]?)(https?:)?//", t)
        assert "@import" not in t
