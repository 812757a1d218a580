"""Per-author history of the assigned input partitions: in memory, persisted to a compacted topic.

Delivery contract: a history update is an output of its batch. It is written to the history
topic (key: author id, value: ``AuthorHistory`` bytes) in the **same partition number as
the input record**, and delivered by the sinks together with the batch's decisions, before
the inputs are acknowledged. So a committed input always has its history durable, and a
redelivered one finds its own entry and is not counted twice (entries carry message ids).

Recovery: the first batch from a newly assigned input partition waits until that
partition's history has been read from the topic, beginning to end. A revoked partition's
history is dropped and read again if it comes back (another worker may have written it).

Why not a Faust table: with a changelog-backed table, a worker restarted after ``kill -9``
skipped input records fetched while the table recovered, and Faust's offset-gap handling
then committed past them (148 of 4,000 inputs never decided in
``tests/integration/test_crash_recovery.py``). Writing state as a batch output keeps one
delivery path and one acknowledgement rule for everything the pipeline produces.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from policies.state import AuthorHistory, HistoryStore
from stream.records import OutboundRecord
from stream.settings import Settings

log = logging.getLogger(__name__)

SWEEP_BATCH = 5000
"""Authors examined per sweep step (one step per processed batch, between batches)."""


class _PartitionStore:
    """The :class:`HistoryStore` of one input partition."""

    def __init__(self, owner: AuthorHistories, partition: int) -> None:
        self._owner = owner
        self._partition = partition
        self._data = owner._data.setdefault(partition, {})

    def get(self, author_id: str) -> AuthorHistory:
        return self._data.get(author_id) or AuthorHistory()

    def put(self, author_id: str, history: AuthorHistory) -> None:
        self._data[author_id] = history
        # A batch completed after its partition was revoked must not overwrite the new
        # owner's persisted history with the partial one it saw (its decisions are duplicates).
        if self._owner.owns(self._partition):
            self._owner._writes[(self._partition, author_id)] = history


class AuthorHistories:
    """Histories by input partition; ``topic`` None keeps them in memory only (tests, benches)."""

    def __init__(self, topic: str | None) -> None:
        self.topic = topic
        self._data: dict[int, dict[str, AuthorHistory]] = {}
        self._loaded: set[int] = set()
        self._writes: dict[tuple[int, str], AuthorHistory | None] = {}
        self._sweep_queue: list[tuple[int, str]] = []

    def store_for(self, partition: int) -> HistoryStore:
        return _PartitionStore(self, partition)

    def authors(self) -> int:
        """How many author histories are held, over all partitions."""
        return sum(len(authors) for authors in self._data.values())

    def owns(self, partition: int) -> bool:
        """Whether ``partition``'s history was read since its assignment (or is memory-only)."""
        return self.topic is None or partition in self._loaded

    def missing(self, partitions: Iterable[int]) -> set[int]:
        """Which of ``partitions`` have not been read from the topic since their assignment."""
        if self.topic is None:
            return set()
        return set(partitions) - self._loaded

    def load(self, partition: int, entries: Iterable[tuple[bytes | None, bytes | None]]) -> int:
        """Replace ``partition``'s histories with the topic's records (tombstones delete).

        An unreadable record starts its author afresh, logged: refusing the partition would
        stop every author in it, and the record is the worker's own state, not an input.
        """
        data: dict[str, AuthorHistory] = {}
        unreadable = 0
        for key, value in entries:
            if key is None:
                continue
            author = key.decode("utf-8", "surrogatepass")
            data.pop(author, None)
            if value is not None:
                try:
                    data[author] = AuthorHistory.from_bytes(value)
                except ValueError as exc:
                    unreadable += 1
                    error = exc
        if unreadable:
            log.error(
                "history topic %s partition %d: %d unreadable records, those authors start "
                "afresh (last error: %s)", self.topic, partition, unreadable, error,
            )  # fmt: skip
        self._data[partition] = data
        self._loaded.add(partition)
        return len(data)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions; they are read again if assigned again."""
        for p in partitions:
            self._data.pop(p, None)
            self._loaded.discard(p)

    def sweep(self, now: float, keep_seconds: float) -> None:
        """Delete (with a tombstone) up to SWEEP_BATCH authors idle for ``keep_seconds``."""
        if not self._sweep_queue:
            self._sweep_queue = [(p, a) for p, authors in self._data.items() for a in authors]
        step, self._sweep_queue = self._sweep_queue[:SWEEP_BATCH], self._sweep_queue[SWEEP_BATCH:]
        cutoff = now - keep_seconds
        for partition, author in step:
            history = self._data.get(partition, {}).get(author)
            if history is not None and history.newest() <= cutoff:
                del self._data[partition][author]
                self._writes[(partition, author)] = None

    def take_writes(self) -> list[OutboundRecord]:
        """The records persisting every change since the last call (one per author)."""
        writes, self._writes = self._writes, {}
        if self.topic is None:
            return []
        return [
            OutboundRecord(
                self.topic,
                author.encode("utf-8", "surrogatepass"),
                None if history is None else history.to_bytes(),
                partition=partition,
            )
            for (partition, author), history in writes.items()
        ]


async def read_partitions(
    settings: Settings, partitions: set[int], timeout_seconds: float = 120.0
) -> dict[int, list[tuple[bytes | None, bytes | None]]]:
    """Every record of the history topic's ``partitions``, from the beginning to the end.

    Past ``timeout_seconds`` it logs an error and returns what it read: decisions then see
    part of the history (escalation may restart), which beats not deciding at all.
    """
    consumer: Any = AIOKafkaConsumer(
        bootstrap_servers=settings.broker.split(","),
        enable_auto_commit=False,
        client_id=f"{settings.app_id}-history-loader",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.history_topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: dict[int, list[tuple[bytes | None, bytes | None]]] = {p: [] for p in partitions}
        remaining = {tp for tp in tps if end[tp] > 0}
        deadline = asyncio.get_running_loop().time() + timeout_seconds
        while remaining:
            if asyncio.get_running_loop().time() > deadline:
                log.error(
                    "history of partitions %s not fully read in %.0f s; going on",
                    sorted(tp.partition for tp in remaining),
                    timeout_seconds,
                )
                break
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                out[tp.partition].extend((r.key, r.value) for r in records)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def ensure_history_topic(settings: Settings, timeout_seconds: float = 30.0) -> int:
    """Create the compacted history topic if missing; returns the input topic's partitions.

    The history topic needs at least as many partitions as the input topic (history of
    input partition p lives in partition p); fewer is a configuration error.

    Waits up to ``timeout_seconds`` for the input topic to show in the broker's metadata: a
    topic created a moment before the worker starts can be missing from it briefly, and a
    consumer that starts then is assigned nothing until its metadata refresh (5 minutes).
    """
    admin = KafkaAdminClient(
        bootstrap_servers=settings.broker.split(","),
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_seconds * 1000),
    )
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            described = {
                t["name"]: len(t["partitions"])
                for t in admin.describe_topics([settings.input_topic, settings.history_topic])
                if not t.get("error_code") and t["partitions"]
            }
            if settings.input_topic in described or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if settings.input_topic not in described:
            log.error(
                "input topic %s not found in %.0f s: nothing is consumed until it exists "
                "(create it with `vigil topics create`)", settings.input_topic, timeout_seconds,
            )  # fmt: skip
        needed = described.get(settings.input_topic, settings.partitions)
        have = described.get(settings.history_topic)
        if have is None:
            try:
                admin.create_topics(
                    [history_topic_spec(settings, needed)], timeout_ms=int(timeout_seconds * 1000)
                )
                log.info("created history topic %s (%d partitions)", settings.history_topic, needed)
            except TopicAlreadyExistsError:
                pass
        elif have < needed:
            raise RuntimeError(
                f"history topic {settings.history_topic!r} has {have} partitions, fewer than "
                f"the {needed} of input topic {settings.input_topic!r}; add partitions to it "
                f"(or set VIGIL_HISTORY_TOPIC to a new topic)"
            )
        return needed
    finally:
        admin.close()


def history_topic_spec(settings: Settings, partitions: int) -> NewTopic:
    # Compacted: only the latest history per author matters; deletes are tombstones.
    return NewTopic(
        settings.history_topic,
        partitions,
        settings.replication_factor,
        topic_configs={"cleanup.policy": "compact"},
    )
