from __future__ import annotations

import asyncio
from typing import Any

from stream.metrics import PipelineMetrics
from stream.records import OutboundRecord
from stream.sink import KafkaSink, RetryPolicy, TopicRouter

FAST = RetryPolicy(timeout_seconds=0.2, backoff_initial_seconds=0.001, backoff_max_seconds=0.01)


class FlakyBroker:
    """Fails the first ``failures`` sends (by error or by never answering), then accepts."""

    def __init__(self, failures: int, mode: str = "error") -> None:
        self.failures, self.mode = failures, mode
        self.attempts: list[bytes | None] = []
        self.accepted: list[bytes | None] = []

    async def send(
        self,
        topic: str,
        key: Any,
        value: bytes | None,
        partition: Any,
        timestamp: Any,
        headers: Any,
    ) -> Any:
        self.attempts.append(value)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self.attempts) <= self.failures:
            if self.mode == "error":
                future.set_exception(ConnectionError("broker down"))
            # mode "hang": the future never completes; the sink's timeout must fire.
        else:
            self.accepted.append(value)
            future.set_result(None)
        return future


def records(n: int, topic: str = "decisions") -> list[OutboundRecord]:
    return [OutboundRecord(topic, b"k", str(i).encode()) for i in range(n)]


def test_deliver_retries_failed_records_until_accepted() -> None:
    broker, metrics = FlakyBroker(failures=4), PipelineMetrics()
    sink = KafkaSink("decisions", broker.send, FAST, metrics)
    asyncio.run(sink.deliver(records(3)))
    assert sorted(broker.accepted) == [b"0", b"1", b"2"]
    assert metrics.registry.get_sample_value("vigil_sink_retries_total", {"sink": "decisions"}) == 4


def test_deliver_times_out_a_hanging_attempt_and_retries() -> None:
    broker = FlakyBroker(failures=1, mode="hang")
    asyncio.run(KafkaSink("dlq", broker.send, FAST, PipelineMetrics()).deliver(records(1)))
    assert broker.accepted == [b"0"]
    assert len(broker.attempts) == 2


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff_initial_seconds=0.1, backoff_max_seconds=5.0)
    assert [policy.backoff(a) for a in (0, 1, 2)] == [0.1, 0.2, 0.4]
    assert policy.backoff(30) == 5.0


def test_router_sends_each_topic_through_its_sink_in_order() -> None:
    a, b, metrics = FlakyBroker(0), FlakyBroker(0), PipelineMetrics()
    router = TopicRouter(
        {"x": KafkaSink("x", a.send, FAST, metrics), "y": KafkaSink("y", b.send, FAST, metrics)}
    )
    mixed = [records(1, "x")[0], records(2, "y")[1], OutboundRecord("x", None, b"2")]
    asyncio.run(router.deliver(mixed))
    assert a.accepted == [b"0", b"2"]
    assert b.accepted == [b"1"]
