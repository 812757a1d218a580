"""Topic administration through the kafka-python admin client."""

from __future__ import annotations

import contextlib
import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from stream.author_history import history_topic_spec
from stream.settings import Settings

log = logging.getLogger(__name__)


def vigil_topics(settings: Settings) -> tuple[str, ...]:
    return (settings.input_topic, *settings.output_topics)


def _admin(settings: Settings, timeout_seconds: float) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.broker.split(","),
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_seconds * 1000),
    )


def create_topics(settings: Settings, *, timeout_seconds: float = 30.0) -> dict[str, str]:
    """Create every Vigil topic that does not exist yet; return ``{topic: "created"|"exists"}``."""
    admin = _admin(settings, timeout_seconds)
    try:
        existing = set(admin.list_topics())
        specs = [
            NewTopic(t, settings.partitions, settings.replication_factor)
            for t in vigil_topics(settings)
        ] + [history_topic_spec(settings, settings.partitions)]
        result = {t.name: "exists" for t in specs if t.name in existing}
        missing = [t for t in specs if t.name not in existing]
        for topic in missing:
            try:
                admin.create_topics([topic], timeout_ms=int(timeout_seconds * 1000))
                result[topic.name] = "created"
            except TopicAlreadyExistsError:
                result[topic.name] = "exists"
        return result
    finally:
        admin.close()


def delete_topics(settings: Settings, *, timeout_seconds: float = 30.0) -> list[str]:
    """Delete every Vigil topic of ``settings`` (input, outputs, history) that exists, with
    its data; return the names deleted. For throwaway topics (tests, benchmarks) only."""
    admin = _admin(settings, timeout_seconds)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in (*vigil_topics(settings), settings.history_topic) if t in existing]
        if doomed:
            # Deleted by someone else in between: the goal is met.
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(doomed, timeout_ms=int(timeout_seconds * 1000))
        return doomed
    finally:
        admin.close()
