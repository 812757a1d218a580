"""Hot reload against a running worker: a valid change is swapped in between batches, an
invalid one is rejected (logged, counted) while the last good rule set keeps running."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from policies.ruleset import rules_version
from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import (
    consume_until,
    encode,
    free_port,
    message,
    produce,
    scrape,
    scrape_until,
    value,
)

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "rules"
NEW_RULE = """
  - id: reload_marker
    description: Added while the worker runs.
    owner: tests
    when: lists.reload_words
    action: delete_message
    severity: high
"""


def decision(settings: Settings, message_id: str) -> dict[str, Any]:
    seen = consume_until(
        settings,
        [settings.decisions_topic],
        lambda s: any(
            orjson.loads(r.value)["message_id"] == message_id for r in s[settings.decisions_topic]
        ),
        timeout_seconds=120,
    )
    return next(
        d
        for d in (orjson.loads(r.value) for r in seen[settings.decisions_topic])
        if d["message_id"] == message_id
    )


def wait_for(port: int, name: str, target: float) -> None:
    scrape_until(port, lambda samples: value(samples, name) >= target, 60)


def test_hot_reload(
    settings: Settings, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    original = rules_version(rules)
    port = free_port()
    worker = start_worker(
        VIGIL_POLICY_PATH=str(rules),
        VIGIL_POLICY_RELOAD_SECONDS="0.5",
        VIGIL_METRICS_PORT=str(port),
    )
    text = "please reloadword this"
    produce(settings, [encode(message(1, text))])
    first = decision(settings, "m1")
    assert first["policy_version"] == original
    assert "reload_marker" not in [m["rule_id"] for m in first["matched_rules"]]

    (rules / "lists" / "reload_words.keywords.txt").write_text("reloadword\n")
    with (rules / "spam.yaml").open("a") as fh:
        fh.write(NEW_RULE)
    changed = rules_version(rules)
    wait_for(port, "vigil_policy_reloads_total", 1)
    produce(settings, [encode(message(2, text))])
    second = decision(settings, "m2")
    assert second["policy_version"] == changed != original
    assert second["action"] == "delete_message"
    assert "reload_marker" in [m["rule_id"] for m in second["matched_rules"]]

    (rules / "moderation.yaml").write_text("rules:\n  - id: broken\n    when: scores.hate >\n")
    wait_for(port, "vigil_policy_reload_failures_total", 1)
    produce(settings, [encode(message(3, text))])
    third = decision(settings, "m3")
    assert third["policy_version"] == changed  # the last good set keeps running
    assert third["action"] == "delete_message"
    samples = scrape(port)
    assert value(samples, "vigil_policy_reload_failures_total") == 1  # not re-counted each poll
    assert value(samples, "vigil_policy_info", version=changed) == 1
    assert value(samples, "vigil_rule_matches_total", rule="reload_marker", mode="enforce") == 2
    assert worker.alive()
    assert "rejected changed rule set" in worker.log_path.read_text()
