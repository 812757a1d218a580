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
        """Send ``records`` once; return those that were not acknowledged."""

        async def one(record: OutboundRecord) -> None:
            future = await self._send(
                record.topic, record.key, record.value, record.partition, None, list(record.headers)
            )
            await future

        results = await asyncio.gather(
            *(asyncio.wait_for(one(r), self._retry.timeout_seconds) for r in records),
            return_exceptions=True,
        )
        failed: list[OutboundRecord] = []
        errors: list[BaseException] = []
        for record, result in zip(records, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                failed.append(record)
                errors.append(result)
        if errors:
            # Producer errors describe the broker's answer, never record contents.
            log.warning(
                "sink %s: %d of %d records not delivered (first: %s: %s); will retry",
                self.name, len(failed), len(records), type(errors[0]).__name__, errors[0],
            )  # fmt: skip
        return failed

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
