"""Guards of the foundation contracts: schemas, conventions, errors, CLI shell."""

from __future__ import annotations

import pyarrow as pa

from chainlens import conventions, schema
from chainlens.errors import ChainlensError, InputError, UnknownFormatError


def test_every_field_names_its_unit() -> None:
    for name, sch in schema.SCHEMAS.items():
        for field in sch:
            assert field.metadata and field.metadata.get(b"unit"), f"{name}.{field.name} has no unit"


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
