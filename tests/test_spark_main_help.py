"""The spark-submit entry's usage lines name ``chainlens run``, not the entry file."""

from __future__ import annotations

import pytest

from chainlens.runners import _spark_main


def test_help_names_chainlens_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _spark_main.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "chainlens run" in text
    assert "_spark_main" not in text


def test_bad_option_usage_names_chainlens_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _spark_main.main(["--no-such-option"])
    assert exc.value.code == 2
    out = capsys.readouterr()
    assert "chainlens run" in out.out + out.err
