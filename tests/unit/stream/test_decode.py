from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream.decode import DECODE_REASONS, DecodeError, decode_message


def valid(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "message_id": "m1",
        "author_id": "a1",
        "channel_id": "c1",
        "guild_id": "g1",
        "content": "hello there",
        "created_at": "2026-11-27T12:00:00+00:00",
        "author": {"account_age_days": 3, "roles": ["member"], "verified": False},
        "channel": {"nsfw": False, "type": "text"},
    }
    doc.update(changes)
    return doc


def decode(value: bytes | None) -> Any:
    return decode_message(value, max_bytes=10_000, max_depth=8)


def test_valid_event_keeps_unknown_fields() -> None:
    event = decode(orjson.dumps(valid(origin="x", nested={"a": [1, 2]})))
    assert event.message_id == "m1"
    assert event.author.roles == ("member",)
    assert event.author.account_age_days == 3.0
    assert event.channel.nsfw is False
    assert event.extra == {"origin": "x", "nested": {"a": [1, 2]}}


def test_minimal_event_and_empty_content_are_valid() -> None:
    doc = {"message_id": "m", "author_id": "a", "channel_id": "c", "content": ""}
    event = decode(orjson.dumps(doc))
    assert event.content == ""
    assert event.guild_id is None
    assert event.created_at is None


def test_epoch_millis_created_at() -> None:
    assert decode(orjson.dumps(valid(created_at=1_767_225_600_000))).created_at == 1_767_225_600_000


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_value"),
        (b"", "empty_value"),
        (b"   ", "empty_value"),
        (b"x" * 10_001, "too_large"),
        (b'{"message_id": "m1", "content": "\xff\xfe"}', "invalid_utf8"),
        (b'{"message_id": ', "invalid_json"),
        (b"not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b"[" * 2000 + b"]" * 2000, "too_deep"),
        (
            orjson.dumps(valid(extra={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}})),
            "too_deep",
        ),
        (orjson.dumps({k: v for k, v in valid().items() if k != "message_id"}), "missing_field"),
        (orjson.dumps({k: v for k, v in valid().items() if k != "content"}), "missing_field"),
        (orjson.dumps(valid(author_id=None)), "missing_field"),
        (orjson.dumps(valid(author_id=42)), "wrong_type"),
        (orjson.dumps(valid(content=["a"])), "wrong_type"),
        (orjson.dumps(valid(author="bob")), "wrong_type"),
        (orjson.dumps(valid(author={"roles": "admin"})), "wrong_type"),
        (orjson.dumps(valid(author={"account_age_days": True})), "wrong_type"),
        (orjson.dumps(valid(author={"verified": "yes"})), "wrong_type"),
        (orjson.dumps(valid(channel={"nsfw": 1})), "wrong_type"),
        (orjson.dumps(valid(created_at=1.5)), "wrong_type"),
        (orjson.dumps(valid(message_id="")), "empty_field"),
        (orjson.dumps(valid(channel_id="   ")), "empty_field"),
        (orjson.dumps(valid(created_at="yesterday")), "invalid_timestamp"),
        (orjson.dumps(valid(created_at="2026-11-27T12:00:00")), "invalid_timestamp"),
        (orjson.dumps(valid(created_at=-5)), "invalid_timestamp"),
    ],
)
def test_rejections_name_their_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(value)
    assert info.value.reason == reason
    assert reason in DECODE_REASONS


def test_error_details_never_echo_content() -> None:
    secret = "my secret phone 555-0100"
    for doc in (valid(content=secret, author_id=7), valid(content=secret, created_at="bad")):
        with pytest.raises(DecodeError) as info:
            decode(orjson.dumps(doc))
        assert secret not in info.value.detail
        assert "555" not in info.value.detail
