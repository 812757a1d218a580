"""Topic administration against the real broker: what tests and benchmarks create, they delete."""

from __future__ import annotations

import uuid

from bench.kafka_io import isolated_topics
from stream.topics import create_topics, delete_topics
from tests.conftest import topic_names


def test_isolated_topics_are_created_then_deleted(kafka_broker: str) -> None:
    tag = f"topics{uuid.uuid4().hex[:8]}"
    with isolated_topics(kafka_broker, tag) as settings:
        ours = {settings.input_topic, *settings.output_topics, settings.history_topic}
        assert len(ours) == 5
        assert ours <= topic_names(kafka_broker)
    assert not ours & topic_names(kafka_broker)


def test_delete_topics_skips_missing_ones_and_reports_what_it_deleted(kafka_broker: str) -> None:
    with isolated_topics(kafka_broker, f"topics{uuid.uuid4().hex[:8]}") as settings:
        assert create_topics(settings)[settings.input_topic] == "exists"
        deleted = delete_topics(settings)
        assert settings.input_topic in deleted
        assert len(deleted) == 5
        assert delete_topics(settings) == []  # nothing left; not an error
