"""The dashboard's vendored JavaScript carries no code that fetches from public hosts.

The full plotly.js bundle ships map, tile, glyph and icon code with hard-coded public URLs
(basemaps.cartocdn.com, tile.openstreetmap.org, fonts.openmaptiles.org, cdn.jsdelivr.net...);
the vendored file is the cartesian partial bundle, whose only remaining public-host strings are
namespace URIs, licence and documentation links, and two config defaults (``plotlyServerURL``,
``topojsonURL``) that ``app.js`` overrides with this server's own origin.
"""

from __future__ import annotations

import re
from pathlib import Path

import chainlens.serve

STATIC = Path(chainlens.serve.__file__).parent / "static"
URL = re.compile(r"https?://([A-Za-z0-9.-]+)")

#: Hosts that appear in the vendored files but are never fetched: XML namespaces, licence and
#: documentation links, the Plotly logo link (``displaylogo: false``) and the two config
#: defaults that app.js overrides.
NOT_FETCHED = {
    "www.w3.org",
    "feross.org",
    "github.com",
    "syntheti.cc",
    "getify.mit-license.org",
    "plotly.com",
    "cloud.plotly.com",
    "cdn.plot.ly",
}


def test_vendored_scripts_name_no_fetchable_public_host() -> None:
    hosts: dict[str, set[str]] = {}
    for f in STATIC.glob("*.js"):
        for h in URL.findall(f.read_text(encoding="utf-8", errors="replace")):
            hosts.setdefault(h, set()).add(f.name)
    unexpected = {h: sorted(fs) for h, fs in hosts.items() if h not in NOT_FETCHED}
    assert not unexpected, f"public hosts in served scripts: {unexpected}"


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
