"""Per-author state lives in the compacted history topic and survives worker restarts.

Failure scenarios:
- graceful restart (SIGTERM, new process): the new worker reads the history of its
  partitions from the topic before processing, so an author's earlier strikes still count;
- crash (kill -9) after a decision was delivered: history records are delivered with the
  batch's decisions before offsets are committed, and entries carry a key of their message
  id, so a strike is neither lost nor counted twice when the message is processed again.
The rules are keyword rules, so the outcome does not depend on model scores.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce

pytestmark = pytest.mark.integration

RULES = """\
ladders:
  strikes:
    window: 1h
    steps:
      - {strikes: 1, action: flag_for_review}
      - {strikes: 2, action: delete_message}
      - {strikes: 3, action: timeout_user, duration: 10m}
      - {strikes: 4, action: ban_user}
rules:
  - id: strike_word
    description: A message with the strike word adds a strike.
    owner: tests
    when: lists.strike_words
    ladder: strikes
    severity: high
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    (root / "lists").mkdir(parents=True)
    (root / "rules.yaml").write_text(textwrap.dedent(RULES))
    (root / "lists" / "strike_words.keywords.txt").write_text("strikeword\n")
    return root


def decisions_for(settings: Settings, author: str, *message_ids: str) -> list[dict[str, Any]]:
    """Every decision about ``author`` once ``message_ids`` are all decided. Waiting for a
    count instead would be fooled by a redelivered message's second decision."""

    def decided(s: dict[str, list[Any]]) -> set[str]:
        return {orjson.loads(r.value)["message_id"] for r in s[settings.decisions_topic]}

    seen = consume_until(
        settings,
        [settings.decisions_topic],
        lambda s: set(message_ids) <= decided(s),
        timeout_seconds=180,
    )
    out = [orjson.loads(r.value) for r in seen[settings.decisions_topic]]
    return [d for d in out if d["author_id"] == author]


def action_of(decisions: list[dict[str, Any]], message_id: str) -> str:
    (action,) = {d["action"] for d in decisions if d["message_id"] == message_id}
    return str(action)


def test_strikes_survive_restart_and_crash(
    settings: Settings, start_worker: Callable[..., WorkerProcess], rules: Path
) -> None:
    env = {"VIGIL_POLICY_PATH": str(rules), "VIGIL_INSTANCE_ID": "state-worker"}

    def post(i: int) -> None:
        produce(settings, [encode(message(i, "strikeword again", author_id="alice"))])

    first = start_worker(**env)
    post(1)
    post(2)
    produce(settings, [encode(message(100 + i, "hello", author_id=f"bob{i}")) for i in range(20)])
    decided = decisions_for(settings, "alice", "m1", "m2")
    assert [action_of(decided, f"m{i}") for i in (1, 2)] == ["flag_for_review", "delete_message"]
    assert first.stop() == 0, first.log_path.read_text()[-3000:]

    second = start_worker(**env)
    post(3)
    decided = decisions_for(settings, "alice", "m3")
    assert action_of(decided, "m3") == "timeout_user", second.log_path.read_text()[-3000:]
    # m1 and m2 were not processed again: the strikes came from the history topic.
    assert sorted(d["message_id"] for d in decided) == ["m1", "m2", "m3"]
    second.kill()

    third = start_worker(**env)
    post(4)
    decided = decisions_for(settings, "alice", "m4")
    assert action_of(decided, "m4") == "ban_user", third.log_path.read_text()[-3000:]
    # A message processed twice (redelivery after the crash) got the same action each time.
    for d in decided:
        assert action_of(decided, d["message_id"]) == d["action"]
