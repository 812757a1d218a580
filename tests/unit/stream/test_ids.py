from __future__ import annotations

import dataclasses

from stream.ids import action_id
from stream.records import MessageEvent

EVENT = MessageEvent(message_id="m1", author_id="a1", channel_id="c1", content="spam spam")


def test_same_input_same_policy_same_id() -> None:
    copy = dataclasses.replace(EVENT)
    assert action_id(EVENT, "p1", "delete_message") == action_id(copy, "p1", "delete_message")
    assert len(action_id(EVENT, "p1", "delete_message")) == 32


def test_id_changes_with_policy_action_or_input() -> None:
    base = action_id(EVENT, "p1", "delete_message")
    assert action_id(EVENT, "p2", "delete_message") != base
    assert action_id(EVENT, "p1", "ban_user") != base
    assert action_id(dataclasses.replace(EVENT, content="edited"), "p1", "delete_message") != base
    assert action_id(dataclasses.replace(EVENT, message_id="m2"), "p1", "delete_message") != base


def test_field_boundaries_are_unambiguous() -> None:
    a = MessageEvent(message_id="ab", author_id="c", channel_id="x", content="")
    b = MessageEvent(message_id="a", author_id="bc", channel_id="x", content="")
    assert action_id(a, "p", "ban_user") != action_id(b, "p", "ban_user")
