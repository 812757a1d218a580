from __future__ import annotations

import asyncio
from typing import Any

from stream.metrics import PipelineMetrics
from stream.records import OutboundRecord
from stream.sink import KafkaSink, RetryPolicy, TopicRouter

FAST = RetryPolicy(timeout_seconds=0.2, backoff_initial_seconds=0.001, backoff_max_seconds=0.01)


class FlakyBroker:
    """Fails the first ``failures`` sends (by error, by never answering, or by not taking
    the record: a full producer buffer), then accepts."""

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
        if self.mode == "stall" and len(self.attempts) <= self.failures:
            await asyncio.sleep(60)  # the sink's deadline must cut it short
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


def test_an_attempt_retries_every_failed_record_in_order() -> None:
    """One attempt: record 0 is never acknowledged, record 1 refused before it is queued,
    record 2 accepted; the retry resends 0 and 1, in that order."""
    broker, script = FlakyBroker(0), ["hang", "refuse"]

    async def send(*args: Any) -> Any:
        answer = script.pop(0) if script else "ok"
        if answer == "refuse":
            broker.attempts.append(args[2])
            raise ConnectionError("refused")
        if answer == "hang":
            broker.attempts.append(args[2])
            return asyncio.get_running_loop().create_future()
        return await broker.send(*args)

    metrics = PipelineMetrics()
    asyncio.run(KafkaSink("decisions", send, FAST, metrics).deliver(records(3)))
    assert broker.attempts == [b"0", b"1", b"2", b"0", b"1"]
    assert broker.accepted == [b"2", b"0", b"1"]
    assert metrics.registry.get_sample_value("vigil_sink_retries_total", {"sink": "decisions"}) == 2


def test_a_send_that_never_takes_the_record_ends_at_the_deadline_and_retries() -> None:
    """The producer's buffer is full: the attempt's deadline ends it and every record
    not yet sent is retried."""
    broker = FlakyBroker(failures=1, mode="stall")
    asyncio.run(KafkaSink("history", broker.send, FAST, PipelineMetrics()).deliver(records(2)))
    assert broker.attempts == [b"0", b"0", b"1"]
    assert broker.accepted == [b"0", b"1"]


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
