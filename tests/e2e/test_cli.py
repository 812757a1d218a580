"""The CLI's non-streaming commands, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from bench.kafka_io import run_settings
from stream.settings import Settings
from stream.topics import delete_topics

pytestmark = pytest.mark.e2e


def vigil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_topics_create_is_idempotent(kafka_broker: str) -> None:
    settings = run_settings(kafka_broker, f"cli{uuid.uuid4().hex[:6]}")
    env = {**os.environ, **settings.to_env()}
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    try:
        first = vigil("topics", "create", "--broker", kafka_broker, "--partitions", "3", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count("created") == 5
        second = vigil("topics", "create", "--broker", kafka_broker, env=env)
        assert second.stdout.count("exists") == 5
        (described,) = admin.describe_topics([settings.input_topic])
        assert len(described["partitions"]) == 3
        history = settings.history_topic
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, history)])
        assert configs["topic"][history]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()
        delete_topics(settings)


def test_invalid_configuration_is_a_clear_error() -> None:
    result = vigil("topics", "create", env={**os.environ, "VIGIL_PARTITIONS": "zero"})
    assert result.returncode == 2
    assert "VIGIL_PARTITIONS" in result.stderr


def test_worker_refuses_a_missing_model() -> None:
    result = vigil("worker", "--model", "/nonexistent/model", env={**os.environ})
    assert result.returncode == 1
    assert "manifest" in result.stderr.lower() or "nonexistent" in result.stderr


def test_config_reference_lists_every_setting() -> None:
    out = vigil("config").stdout
    for name in Settings.model_fields:
        assert f"VIGIL_{name.upper()}" in out


def test_readme_configuration_is_what_vigil_config_prints() -> None:
    # The README's table is pasted from `vigil config`; a changed setting must be pasted again.
    table = vigil("config").stdout.strip()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert table in readme, "README.md: paste the output of `vigil config` under Configuration"
