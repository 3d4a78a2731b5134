"""Guards of the foundation contracts: schemas, conventions, errors, CLI shell."""

from __future__ import annotations

import pyarrow as pa

from chainlens import conventions, schema
from chainlens.errors import ChainlensError, InputError, UnknownFormatError


def test_every_field_names_its_unit() -> None:
    for name, sch in schema.SCHEMAS.items():
        for field in sch:
            assert field.metadata and field.metadata.get(b"unit"), (
                f"{name}.{field.name} has no unit"
            )


def test_conform_fills_nullable_and_orders() -> None:
    t = pa.table({"ticker": ["SPY"], "sector": ["ETF"], "extra": [1]})
    out = schema.conform(t, schema.SECTORS)
    assert out.schema.names == ["ticker", "sector"]


def test_input_error_names_where() -> None:
    e = InputError("strike must be > 0", path="f.csv", row=7, column="Strike", value="-5")
    assert "f.csv" in str(e) and "row 7" in str(e) and "'Strike'" in str(e)
    assert isinstance(UnknownFormatError("x"), ChainlensError)


def test_root_mapping() -> None:
    assert conventions.underlying_of_root("SPXW") == "SPX"
    assert conventions.underlying_of_root("NDXP") == "NDX"
    assert conventions.underlying_of_root("AAPL1") == "AAPL"
    assert conventions.underlying_of_root("IWM") == "IWM"


def test_top_level_exports_exactly_the_public_names() -> None:
    import chainlens

    expected = {
        "__version__", "AnalysisConfig", "ChainAnalysis", "analyze_chain", "read_chain",
        "read_file", "detect_format", "Store", "IngestResult", "analyze_flow", "FlowConfig",
        "analyze_oi", "OIConfig", "analyze_underlying", "run_session", "PipelineConfig",
        "simulate_market", "build_demo_market", "SimConfig", "ChainlensError", "InputError",
        "UnknownFormatError", "StoreError", "NotFoundError", "ConfigError",
    }  # fmt: skip
    assert set(chainlens.__all__) == expected
    for name in expected - {"__version__"}:
        assert getattr(chainlens, name) is not None, name


def test_import_is_lazy() -> None:
    """`import chainlens` must not pull in the heavy engines (CLI start-up time)."""
    import subprocess
    import sys

    code = "import sys, chainlens; print(any(m in sys.modules for m in ('numba','scipy','duckdb','matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
