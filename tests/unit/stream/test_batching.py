"""Arrival-driven micro-batches (stream.batching)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from stream.batching import batches


class Source:
    """An async iterable fed by the test; ``read`` counts the items taken from it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int | BaseException | None] = asyncio.Queue()
        self.read = 0

    def send(self, *items: int | BaseException | None) -> None:
        for item in items:
            self.queue.put_nowait(item)

    async def __aiter__(self) -> AsyncIterator[int]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            self.read += 1
            yield item


def test_a_full_batch_is_yielded_without_waiting_for_the_window() -> None:
    async def scenario() -> list[list[int]]:
        source = Source()
        source.send(*range(7))
        got = []
        started = time.monotonic()
        async for batch in batches(source, 3, within=30.0):
            got.append(batch)
            if len(got) == 2:
                break
        assert time.monotonic() - started < 5
        return got

    assert asyncio.run(scenario()) == [[0, 1, 2], [3, 4, 5]]


def test_a_batch_closes_within_the_window_after_its_first_item() -> None:
    async def scenario() -> tuple[list[int], float]:
        source = Source()
        it = aiter(batches(source, 100, within=0.2))
        pending = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.5)  # idle: no batch, however long it waits
        assert not pending.done()
        arrived = time.monotonic()
        source.send(1)
        await asyncio.sleep(0.05)
        source.send(2)
        batch = await pending
        waited = time.monotonic() - arrived
        await it.aclose()  # type: ignore[attr-defined]
        return batch, waited

    batch, waited = asyncio.run(scenario())
    assert batch == [1, 2]
    assert 0.15 <= waited < 2.0


def test_a_zero_window_yields_what_is_queued_at_once() -> None:
    async def scenario() -> list[int]:
        source = Source()
        it = aiter(batches(source, 100, within=0.0))
        source.send(1, 2, 3)
        batch = await asyncio.wait_for(anext(it), 5.0)
        await it.aclose()  # type: ignore[attr-defined]
        return batch

    # The reader queues what has arrived before the batcher first runs.
    assert asyncio.run(scenario()) == [1, 2, 3]


def test_the_end_of_the_items_ends_the_batches_after_the_last_items() -> None:
    async def scenario() -> list[list[int]]:
        source = Source()
        source.send(1, 2, None)
        return [b async for b in batches(source, 10, within=30.0)]

    assert asyncio.run(scenario()) == [[1, 2]]


def test_an_error_from_the_items_is_raised_after_the_items_before_it() -> None:
    async def scenario() -> list[list[int]]:
        source = Source()
        source.send(1, 2, RuntimeError("broker gone"))
        got: list[list[int]] = []

        async def drain() -> None:
            async for batch in batches(source, 10, within=30.0):
                got.append(batch)

        with pytest.raises(RuntimeError, match="broker gone"):
            await drain()
        return got

    assert asyncio.run(scenario()) == [[1, 2]]


def test_reading_ahead_stops_at_one_batch_while_the_caller_works() -> None:
    async def scenario() -> tuple[int, int]:
        source = Source()
        source.send(*range(20))
        it = aiter(batches(source, 4, within=30.0))
        assert await anext(it) == [0, 1, 2, 3]
        await asyncio.sleep(0.2)  # the caller is busy with its batch
        read_ahead = source.read
        await it.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        source.send(*range(20, 30))
        await asyncio.sleep(0.05)
        return read_ahead, source.read

    read_ahead, after_close = asyncio.run(scenario())
    # 4 yielded + 4 queued + 1 waiting for room in the queue
    assert read_ahead == 9
    assert after_close == read_ahead  # closing stopped the reader


def test_max_size_must_be_positive() -> None:
    async def scenario() -> None:
        async for _ in batches(Source(), 0, within=1.0):
            pass

    with pytest.raises(ValueError, match="max_size"):
        asyncio.run(scenario())
