"""Output sinks: each owns its delivery timeout and retry policy.

Delivery semantics (the one place they are decided): :meth:`KafkaSink.deliver` returns only
when Kafka has acknowledged every record, retrying failed records with capped exponential
backoff for as long as it takes. The agent acknowledges inputs only after ``deliver``
returns, so a broker outage stalls the pipeline instead of losing messages; a retry after
an ambiguous failure (timeout) may duplicate a record, which consumers dedupe by id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from stream.metrics import PipelineMetrics
from stream.records import OutboundRecord

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Somewhere output records go; ``deliver`` returns once all are durably accepted."""

    async def deliver(self, records: Sequence[OutboundRecord]) -> None: ...


SendFn = Callable[..., Awaitable[Awaitable[Any]]]
"""``await send(topic, key, value, partition, timestamp, headers)`` enqueues a record and
returns its delivery future: the signature of Faust's ``app.producer.send``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout_seconds: float = 30.0
    """Longest wait for one delivery attempt before it counts as failed."""
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 5.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max_seconds, self.backoff_initial_seconds * 2**attempt))


class KafkaSink:
    """Delivers records to Kafka through ``send``, with ``retry`` for failed records."""

    def __init__(
        self, name: str, send: SendFn, retry: RetryPolicy, metrics: PipelineMetrics
    ) -> None:
        self.name = name
        self._send = send
        self._retry = retry
        self._metrics = metrics

    async def _attempt(self, records: Sequence[OutboundRecord]) -> list[OutboundRecord]:
        """Send ``records`` once, all within one timeout; return those not acknowledged, in
        their order.

        One deadline for the attempt, not a task and a timer per record: at one message per
        batch those cost more CPU than the produce itself (README "Performance", item 13).
        """
        deliveries: list[asyncio.Future[Any] | Exception] = []
        try:
            async with asyncio.timeout(self._retry.timeout_seconds):
                for record in records:
                    try:
                        delivery = await self._send(
                            record.topic, record.key, record.value, record.partition, None,
                            list(record.headers),
                        )  # fmt: skip
                    except Exception as exc:  # refused before it was queued
                        deliveries.append(exc)
                    else:
                        deliveries.append(asyncio.ensure_future(delivery))
                waiting = [d for d in deliveries if isinstance(d, asyncio.Future)]
                if waiting:
                    await asyncio.wait(waiting)
        except TimeoutError:
            pass
        failed: list[OutboundRecord] = []
        errors: list[BaseException] = []
        for n, record in enumerate(records):
            error = self._error(deliveries[n] if n < len(deliveries) else None)
            if error is not None:
                failed.append(record)
                errors.append(error)
        if errors:
            # Producer errors describe the broker's answer, never record contents.
            log.warning(
                "sink %s: %d of %d records not delivered (first: %s: %s); will retry",
                self.name, len(failed), len(records), type(errors[0]).__name__, errors[0],
            )  # fmt: skip
        return failed

    def _error(self, delivery: asyncio.Future[Any] | Exception | None) -> BaseException | None:
        """Why a record of an attempt was not acknowledged; None if it was. ``delivery`` is
        its delivery future, why it was refused, or None if the deadline came before it."""
        if delivery is None:
            return TimeoutError(f"not sent within {self._retry.timeout_seconds} s")
        if isinstance(delivery, Exception):
            return delivery
        if not delivery.done():
            delivery.cancel()  # stop waiting: the retry may duplicate it (consumers dedupe)
            return TimeoutError(f"not acknowledged within {self._retry.timeout_seconds} s")
        return delivery.exception()  # a cancelled delivery (shutdown) raises CancelledError

    async def deliver(self, records: Sequence[OutboundRecord]) -> None:
        pending = list(records)
        attempt = 0
        while pending:
            pending = await self._attempt(pending)
            if pending:
                self._metrics.sink_retries.labels(sink=self.name).inc(len(pending))
                await asyncio.sleep(self._retry.backoff(attempt))
                attempt += 1


class TopicRouter:
    """Delivers each record through the sink registered for its topic, concurrently."""

    def __init__(self, sinks: dict[str, Sink]) -> None:
        self._sinks = sinks

    async def deliver(self, records: Sequence[OutboundRecord]) -> None:
        ordered = sorted(records, key=lambda r: r.topic)
        await asyncio.gather(
            *(
                self._sinks[topic].deliver(list(group))
                for topic, group in groupby(ordered, key=lambda r: r.topic)
            )
        )
