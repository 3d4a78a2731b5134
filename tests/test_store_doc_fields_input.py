"""``Store.read_doc_fields`` names a field that is not a dotted key path (checked before any read)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chainlens.errors import InputError
from chainlens.store import Store


@pytest.mark.parametrize("fields", [["flow..totals"], ["$.flow"], ["flow totals"], []])
def test_bad_field_paths_are_an_input_error(tmp_path: Path, fields: list[str]) -> None:
    with Store(tmp_path / "store") as st, pytest.raises(InputError, match="dotted key paths"):
        st.read_doc_fields(dt.date(2024, 3, 8), fields)
