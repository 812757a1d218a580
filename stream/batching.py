"""Micro-batches for the classify agent, woken by arrivals instead of a timer.

Faust's ``take(n, within)`` wakes the event loop every ``within`` seconds, idle or not: with
the 2 ms window an idle worker spent ~7 % of a core waking up to find nothing. Here an idle
worker sleeps until a message arrives; a batch opens with its first message and closes when
it is full or ``within`` seconds later.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def batches(items: AsyncIterable[T], max_size: int, within: float) -> AsyncIterator[list[T]]:
    """Lists of 1 to ``max_size`` items, in arrival order, each closed when full or
    ``within`` seconds after its first item arrived (``0``: at once, with what is queued).

    A background task reads ``items`` ahead into a queue of ``max_size``, so the next batch
    fills while the caller works on this one, and reading stops (back-pressure) when the
    queue is full. Ends when ``items`` does; an error raised by ``items`` is raised here.
    Closing the generator cancels the reader: what it had read but not yielded is dropped,
    so callers must not have acknowledged it (Vigil acknowledges after delivery).
    """
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_size)
    need = 1  # how many queued items wake the batcher up
    enough = asyncio.Event()

    async def read() -> None:
        async for item in items:
            await queue.put(item)
            if queue.qsize() >= need:
                enough.set()

    reader = asyncio.create_task(read())

    async def wait_for_items(n: int, seconds: float | None) -> None:
        """Until ``n`` items are queued, the reader ends or ``seconds`` pass (None: no limit)."""
        nonlocal need
        if queue.qsize() >= n or reader.done():
            return
        need = n
        enough.clear()
        waiter = asyncio.ensure_future(enough.wait())
        try:
            await asyncio.wait((waiter, reader), timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()

    try:
        while True:
            await wait_for_items(1, None)
            if queue.empty():
                reader.result()  # raises what stopped the reader
                return
            if within > 0:
                await wait_for_items(max_size, within)
            yield [queue.get_nowait() for _ in range(queue.qsize())]
    finally:
        reader.cancel()
