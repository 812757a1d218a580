"""The Faust app's configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.app import faust_app, faust_worker
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


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("level", ["warning", "error"])
def test_the_worker_leaves_the_root_logger_at_its_level(
    root_logger: logging.Logger, level: str
) -> None:
    number = logging.getLevelName(level.upper())
    worker = faust_worker(faust_app(Settings(app_id="vigil-logging-test")), level)
    # What mode's worker does at startup: configure the root logger, then call this hook.
    root_logger.setLevel(number)
    worker.on_setup_root_logger(root_logger, number)
    assert root_logger.level == number
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
