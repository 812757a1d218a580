"""How the bench tools configure and start the worker under test: its settings and
environment, a free metrics port, and the options the tools share."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stream.settings import Settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now, for a worker's ``/metrics``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_settings(extra: dict[str, str]) -> Settings:
    """The settings a worker started with ``extra`` (``VIGIL_X=v``) environment runs with."""
    overrides: dict[str, Any] = {k.removeprefix("VIGIL_").lower(): v for k, v in extra.items()}
    return Settings(**overrides)


def worker_env(settings: Settings, port: int, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a worker under test: ``settings``, metrics on ``port``, warnings
    only, and ``extra`` last so that an A/B setting wins."""
    return {
        **settings.to_env(),
        "VIGIL_METRICS_PORT": str(port),
        "VIGIL_LOG_LEVEL": "warning",
        **extra,
    }


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the options the broker benchmarks share: ``--broker``, ``--data``,
    ``--env VIGIL_X=v`` (repeatable; read with :func:`env_overrides`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--broker", default="127.0.0.1:19092")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--env", action="append", default=[], metavar="VIGIL_X=v", help="worker setting"
    )
    return parser


def env_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["VIGIL_X=v", ...]`` as the extra environment of a worker."""
    return dict(item.split("=", 1) for item in items)
