"""Faust's Kafka consumer, run on the worker's event loop instead of a thread of its own.

Faust runs aiokafka's consumer in a thread with a second event loop, and every fetch,
commit and seek crosses between the two: a queued call, a wake-up of the other loop through
its self-pipe, a future resolved back the same way. At moderate load a fetch returns about
one message, so that hop is paid per message, and the two threads contend for the Python
lock. Vigil's event loop does nothing that blocks (the model runs in its own process), so
the consumer can share it: the calls are then plain awaits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from faust.app.base import App
from faust.transport.drivers import aiokafka as driver
from faust.types import ConsumerT, TransportT
from mode import Service
from mode.utils.futures import maybe_async


class LoopConsumerThread(driver.AIOKafkaConsumerThread):
    """The aiokafka consumer service, started and stopped as a child of the worker's loop."""

    # Nothing to wait for: the shutdown is done by ``stop`` itself, not by a thread.
    wait_for_shutdown = False

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        kwargs["thread_loop"] = kwargs.get("loop")
        super().__init__(consumer, **kwargs)

    async def start(self) -> None:
        self._thread_started.set()
        await self._default_start()

    async def stop(self) -> None:
        await Service.stop(self)

    async def on_stop(self) -> None:
        # Leave the group before the children (Faust's thread does this on its way out).
        if self._consumer is not None:
            await self._consumer.stop()

    # mode's ServiceThread makes these three no-ops and runs them from its thread on the way
    # out; with no thread, ``stop`` has to run them.
    async def _stop_children(self) -> None:
        await self._default_stop_children()

    async def _stop_futures(self) -> None:
        await self._default_stop_futures()

    async def _stop_exit_stacks(self) -> None:
        await self._default_stop_exit_stacks()

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Faust hands over coroutine functions and plain ones alike (``subscribe``).
        return await maybe_async(fun(*args, **kwargs))

    async def cast_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.add_future(maybe_async(fun(*args, **kwargs)))


class LoopConsumer(driver.Consumer):
    """Faust's aiokafka consumer with :class:`LoopConsumerThread` in place of its thread."""

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return LoopConsumerThread(self, loop=self.loop, beacon=self.beacon)


class LoopTransport(driver.Transport):
    Consumer: ClassVar[type[ConsumerT]] = LoopConsumer


class LoopConsumerApp(App):
    """A Faust app whose consumer runs on the worker's event loop."""

    def _new_transport(self) -> TransportT:
        return LoopTransport(self.conf.broker_consumer, self)
