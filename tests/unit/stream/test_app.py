"""The Faust app's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.app import faust_app
from stream.settings import Settings


def test_faust_keeps_its_directory_out_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = faust_app(Settings(app_id="vigil-datadir-test"))
    tabledir = Path(app.conf.tabledir).resolve()
    assert not tabledir.is_relative_to(tmp_path)
    assert "vigil-datadir-test" in tabledir.parts
    # Faust creates the data directory without parents: they must exist.
    assert Path(app.conf.datadir).parent.is_dir()
