"""Helpers for policy tests: write a rules directory, build inputs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.base import PolicyInput
from stream.records import AuthorContext, ChannelContext, MessageEvent

CATEGORIES = ("offensive", "hate", "spam", "targeted")
SHIPPED_RULES = Path(__file__).resolve().parents[3] / "policies" / "rules"

RULE = """\
  - id: {id}
    description: test rule {id}
    owner: tests
    when: {when}
    {action}
    severity: {severity}
"""


def rule(
    id: str, when: str, action: str = "action: flag_for_review", severity: str = "low", **extra: str
) -> str:
    text = RULE.format(id=id, when=when, action=action, severity=severity)
    return text + "".join(f"    {k}: {v}\n" for k, v in extra.items())


@pytest.fixture
def rules_dir(tmp_path: Path) -> Callable[..., Path]:
    """``rules_dir(yaml_text, lists={"name.keywords.txt": "..."})`` → a rules directory."""

    def make(text: str, lists: dict[str, str] | None = None, tests: str | None = None) -> Path:
        root = tmp_path / "rules"
        root.mkdir(exist_ok=True)
        (root / "rules.yaml").write_text(textwrap.dedent(text))
        if lists:
            (root / "lists").mkdir(exist_ok=True)
            for name, body in lists.items():
                (root / "lists" / name).write_text(body)
        if tests is not None:
            (root / "tests").mkdir(exist_ok=True)
            (root / "tests" / "cases.yaml").write_text(textwrap.dedent(tests))
        return root

    return make


def item(content: str = "hello", at: float = 1000.0, **fields: Any) -> PolicyInput:
    """A policy input; ``scores``, ``roles``, ``age``, ``verified``, ``nsfw``, ids as keywords."""
    event = MessageEvent(
        message_id=fields.get("message_id", "m1"),
        author_id=fields.get("author_id", "a1"),
        channel_id=fields.get("channel_id", "c1"),
        guild_id=fields.get("guild_id", "g1"),
        content=content,
        author=AuthorContext(
            fields.get("age"), tuple(fields.get("roles", ())), fields.get("verified")
        ),
        channel=ChannelContext(fields.get("nsfw"), fields.get("channel_type")),
    )
    return PolicyInput(event, fields.get("scores", {}), fields.get("text", content), at)
