"""The Faust application: one agent that classifies the input topic in batches.

Delivery contract (tested in tests/integration/test_delivery.py): an input is acknowledged
(and so its offset becomes committable) only after every record it caused — decision and
action, or dead letter — has been acknowledged by Kafka. Hence a ``noack()`` stream plus
explicit acks: Faust's ``take()`` acks a batch even when the body raises, which would lose
it. Batches come from :func:`stream.batching.batches`, which sleeps while nothing arrives.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust

from policies.base import Policy
from stream.author_history import AuthorHistories, ensure_history_topic, read_partitions
from stream.batching import batches
from stream.components import build_classifier, build_policy
from stream.consumer import LoopConsumerApp
from stream.heap import TRIM_INTERVAL_SECONDS, heap_trimmer
from stream.metrics import PipelineMetrics
from stream.policy_reload import PolicyReloader
from stream.processor import BatchProcessor, PendingBatch
from stream.records import InboundRecord, SourcePosition
from stream.settings import Settings
from stream.sink import KafkaSink, RetryPolicy, Sink, TopicRouter

log = logging.getLogger(__name__)

Staged = tuple[list[Any], list[InboundRecord], PendingBatch]
"""A submitted batch waiting to be completed: its Faust events, records and scoring."""

HISTORY_SWEEP_SECONDS = 60.0
"""How often a step of deleting idle author histories runs (between batches)."""


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in items)


def inbound(event: Any) -> InboundRecord:
    """Copy what the pipeline needs out of a Faust event, bytes untouched."""
    message = event.message
    return InboundRecord(
        key=message.key,
        value=message.value,
        headers=_headers(message.headers),
        source=SourcePosition(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=message.timestamp,
        ),
    )


def faust_app(settings: Settings) -> faust.App:
    """A Faust app configured for at-least-once, fast restarts and raw bytes."""
    # Faust makes its table directory even with in-memory stores (one level, no parents):
    # keep it out of the working directory. It stays empty; Vigil's state lives in Kafka.
    faust_dirs = Path(tempfile.gettempdir()) / "vigil-faust"
    faust_dirs.mkdir(exist_ok=True)
    return LoopConsumerApp(
        settings.app_id,
        broker=settings.faust_broker_url,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        store="memory://",
        datadir=str(faust_dirs / settings.app_id),
        web_enabled=False,
        # Unacked (in-flight) events must not hold up shutdown: they are redelivered.
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        broker_commit_interval=settings.commit_interval_seconds,
        consumer_group_instance_id=settings.instance_id,
        producer_acks=-1,
        producer_linger=settings.producer_linger_seconds,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # The leader-assignor topic is only needed for app.leader timers; we use none.
        topic_disable_leader=True,
    )


def faust_worker(app: faust.App, log_level: str) -> faust.Worker:
    """A Faust worker for ``app`` that logs at ``log_level`` and nothing below it.

    Faust's startup spinner, active at ``warning`` and above, sets the root logger to DEBUG
    (so that every log call turns the spinner) and leaves it there: every debug call of
    aiokafka and Faust then builds a log record for handlers that drop it: ~7 % of the
    worker's samples holding the GIL at 200 msgs/s on the bench machine (README
    "Performance", item 12). Without a spinner the root logger keeps ``log_level``.
    """
    worker = faust.Worker(app, loglevel=log_level.upper(), quiet=True)
    worker.spinner = None
    return worker


def output_sinks(send: Any, settings: Settings, metrics: PipelineMetrics) -> TopicRouter:
    retry = RetryPolicy(
        timeout_seconds=settings.produce_timeout_seconds,
        backoff_max_seconds=settings.produce_retry_backoff_max_seconds,
    )
    sinks: dict[str, Sink] = {
        topic: KafkaSink(name, send, retry, metrics)
        for name, topic in (
            ("decisions", settings.decisions_topic),
            ("actions", settings.actions_topic),
            ("dlq", settings.dlq_topic),
            ("history", settings.history_topic),
        )
    }
    return TopicRouter(sinks)


class LagTracker:
    """Consumer lag per assigned input partition: high watermark minus next unprocessed."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self._metrics = metrics
        self._next: dict[tuple[str, int], int] = {}
        self._exported: set[tuple[str, int]] = set()

    def processed(self, records: Sequence[InboundRecord]) -> None:
        for r in records:
            self._next[(r.source.topic, r.source.partition)] = r.source.offset + 1

    async def refresh(self, consumer: Any, topic: str) -> None:
        assigned = {
            (tp.topic, tp.partition): tp for tp in consumer.assignment() if tp.topic == topic
        }
        for key in self._exported - assigned.keys():
            self._metrics.consumer_lag.remove(key[0], str(key[1]))
            self._next.pop(key, None)
        for key, tp in assigned.items():
            high = consumer.highwater(tp)
            if high is None:
                continue
            position = self._next.get(key)
            if position is None:
                position = await consumer.position(tp)
            if position is None:
                continue
            self._metrics.consumer_lag.labels(topic=key[0], partition=str(key[1])).set(
                max(0, high - position)
            )
        self._exported = set(assigned)


def build_app(settings: Settings, processor: BatchProcessor, metrics: PipelineMetrics) -> faust.App:
    """The worker's Faust app with the classify agent and the lag timer attached."""
    app = faust_app(settings)
    source = app.topic(settings.input_topic, key_type=bytes, value_type=bytes)
    lag = LagTracker(metrics)
    outputs: TopicRouter | None = None

    histories = processor.history
    last_sweep = time.monotonic()

    loading = asyncio.Lock()

    async def load_histories(partitions: Iterable[int]) -> None:
        async with loading:  # the assignment handler and the agent may both ask at once
            missing = histories.missing(partitions)
            if not missing:
                return
            started = time.perf_counter()
            read = await read_partitions(settings, missing)
            sizes = [histories.load(p, entries) for p, entries in read.items()]
            log.info(
                "author history of partitions %s loaded: %d authors in %.2f s",
                sorted(missing), sum(sizes), time.perf_counter() - started,
            )  # fmt: skip

    def sweep_histories() -> None:
        nonlocal last_sweep
        keep = processor.policy.history_seconds
        if keep > 0 and time.monotonic() - last_sweep > HISTORY_SWEEP_SECONDS:
            histories.sweep(time.time(), keep)
            last_sweep = time.monotonic()

    async def deliver_and_ack(
        stream: Any, events: list[Any], records: list[InboundRecord], produced: list[Any]
    ) -> None:
        assert outputs is not None
        t0 = time.perf_counter()
        await outputs.deliver(produced)
        done = time.time()
        metrics.stage_duration.labels(stage="produce").observe(time.perf_counter() - t0)
        # The one place inputs are acknowledged: after all their outputs are durable.
        for event in events:
            await stream.ack(event)
        for r in records:
            if r.source.timestamp is not None:
                metrics.end_to_end_latency.observe(max(0.0, done - r.source.timestamp))
        lag.processed(records)

    async def stop_worker(exc: BaseException) -> None:
        # Faust would restart just the agent, leaving its unacknowledged batches behind: the
        # committed offset would stop before them and nothing would process them until a
        # restart. Crashing the worker hands every unacknowledged input back.
        log.critical("the classify agent failed, stopping the worker: %r", exc)
        await app.crash(exc)

    async def finish_batches(stream: Any, staged: asyncio.Queue[Staged]) -> None:
        delivering: asyncio.Task[None] | None = None
        try:
            while True:
                events, records, pending = await staged.get()
                produced = await processor.complete(pending)
                if delivering is not None:
                    await delivering
                delivering = asyncio.create_task(deliver_and_ack(stream, events, records, produced))
        except Exception as exc:  # at once, not when the next batch arrives
            await stop_worker(exc)
            raise
        finally:
            # Stopping: an unfinished delivery is abandoned; its inputs were not acknowledged,
            # so they are processed again after the restart.
            if delivering is not None and not delivering.done():
                delivering.cancel()

    @app.agent(source, name="classify", concurrency=1)
    async def classify(stream: Any) -> None:
        nonlocal outputs
        if outputs is None:
            outputs = output_sinks(app.producer.send, settings, metrics)
        # Three batches overlap: N+1 is scored by the model while the loop decides and
        # encodes N and Kafka acknowledges N-1, so the model never waits for the loop's
        # share of the work. Batches are still completed, delivered and acknowledged one
        # after the other, in order; the queue bounds how far scoring runs ahead.
        staged: asyncio.Queue[Staged] = asyncio.Queue(maxsize=1)
        finisher = asyncio.create_task(finish_batches(stream, staged))
        try:
            async for events in batches(
                stream.noack().events(), settings.batch_max, settings.batch_within_seconds
            ):
                records = [inbound(e) for e in events]
                # Normally loaded on assignment already; this covers any partition that was not.
                await load_histories(r.source.partition for r in records)
                sweep_histories()
                put = asyncio.ensure_future(
                    staged.put((events, records, processor.submit(records)))
                )
                await asyncio.wait((put, finisher), return_when=asyncio.FIRST_COMPLETED)
                if finisher.done():
                    put.cancel()
                    finisher.result()  # re-raises what stopped it
        except Exception as exc:
            await stop_worker(exc)
            raise
        finally:
            finisher.cancel()

    @app.on_partitions_assigned.connect
    async def load_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (assigned,) = args
        await load_histories(tp.partition for tp in assigned if tp.topic == settings.input_topic)

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args
        histories.drop(tp.partition for tp in revoked if tp.topic == settings.input_topic)

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]  # faust types it loosely
    async def export_lag() -> None:
        await lag.refresh(app.consumer, settings.input_topic)

    if (trim_heap := heap_trimmer()) is not None:

        @app.timer(interval=TRIM_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
        async def return_freed_memory() -> None:
            trim_heap()

    if settings.policy_reload_seconds > 0 and not settings.policy_factory:

        def install(policy: Policy) -> None:
            processor.policy = policy

        reloader = PolicyReloader(
            settings.policy_path,
            processor.classifier.categories,
            lambda: processor.policy,
            install,
            metrics,
        )

        @app.timer(interval=settings.policy_reload_seconds)  # type: ignore[untyped-decorator]
        async def reload_policy() -> None:
            await reloader.check()

    return app


def run_worker(settings: Settings) -> None:
    """Load model and policy, expose metrics, and run the worker until stopped."""
    metrics = PipelineMetrics()
    classifier = build_classifier(settings)
    policy = build_policy(settings, classifier.categories)
    metrics.model_info.info({"version": classifier.version})
    metrics.policy_info.info({"version": policy.version})
    if settings.metrics_port:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    ensure_history_topic(settings)
    processor = BatchProcessor(
        classifier=classifier,
        policy=policy,
        settings=settings,
        metrics=metrics,
        # Used only by a classifier that computes in this process (its thread starts on the
        # first call); the model process is awaited on the event loop.
        executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-infer"),
        history=AuthorHistories(settings.history_topic),
    )
    app = build_app(settings, processor, metrics)
    log.info(
        "worker starting: broker=%s model=%s policy=%s",
        settings.broker, classifier.version, policy.version,
    )  # fmt: skip
    worker = faust_worker(app, settings.log_level)
    # Everything loaded so far (modules, Faust, the policy) lives as long as the process:
    # keep it out of the cyclic collector, whose full passes over it took 44–69 ms (tail
    # latency) on the bench machine.
    gc.freeze()
    worker.execute_from_commandline()
