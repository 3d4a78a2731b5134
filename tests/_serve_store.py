"""One small simulated store for the ``chainlens serve`` tests, built once per test process.

The simulator writes a small universe (6 underlyings, 5 sessions), the store ingests it, IWM's
chains are stored once more under a hostile ticker name (as an ingested file could carry it),
and the daily pipeline runs the last two sessions. The serve tests then open the store
read-only. Each test module asks for it through its own session-scoped fixture; the build is
cached here so that it happens once per process (once per xdist worker).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

#: A hostile ticker name: every page must show it as text, never run it.
EVIL = '<script>alert("x")</script>'

_BUILT: dict[str, Path] = {}


def serve_store() -> Path:
    """The path of the shared serve test store (built on first call)."""
    if "root" not in _BUILT:
        import pyarrow as pa
        import pyarrow.compute as pc

        from chainlens.runners.local import run_local
        from chainlens.sim import build_demo_market
        from chainlens.store import Store

        base = Path(tempfile.mkdtemp(prefix="chainlens-serve-"))
        root = base / "store"
        manifest = build_demo_market(base / "sim", seed=11, underlyings=6, sessions=5)
        with Store(root) as st:
            st.ingest_many(manifest.all_paths())
            days = st.session_dates("IWM")
            h = st.chain_history("IWM", end=days[-1])
            h = h.set_column(
                h.schema.get_field_index("underlying"), "underlying", pa.array([EVIL] * len(h))
            )
            # distinct OSI symbols for the copied contracts
            sym = pc.binary_join_element_wise(h.column("symbol"), "X", "")
            h = h.set_column(h.schema.get_field_index("symbol"), "symbol", sym)
            st.add_tables({"chain": h}, source="hostile-ticker.parquet")
            for d in manifest.sessions[-2:]:
                run_local(st, d)
        _BUILT["root"] = root
    return _BUILT["root"]
