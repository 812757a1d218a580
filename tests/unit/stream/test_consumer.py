"""The Kafka consumer runs on the worker's event loop (no thread, no hop)."""

from __future__ import annotations

import asyncio
import threading

from stream.app import faust_app
from stream.consumer import LoopConsumerThread
from stream.settings import Settings


def test_the_apps_consumer_service_runs_on_the_apps_loop() -> None:
    async def check() -> None:
        app = faust_app(Settings(app_id="vigil-consumer-test"))
        service = app.consumer._thread  # type: ignore[attr-defined]
        assert isinstance(service, LoopConsumerThread)
        assert service.thread_loop is app.loop is asyncio.get_running_loop()

    asyncio.run(check())


def test_calls_meant_for_the_consumer_thread_run_in_place() -> None:
    async def check() -> None:
        service = faust_app(Settings(app_id="vigil-consumer-test")).consumer._thread  # type: ignore[attr-defined]
        caller = threading.get_ident()

        async def coroutine(x: int) -> tuple[int, int]:
            return x, threading.get_ident()

        def plain(x: int) -> tuple[int, int]:
            return x, threading.get_ident()

        assert await service.call_thread(coroutine, 1) == (1, caller)
        assert await service.call_thread(plain, x=2) == (2, caller)

    asyncio.run(check())
