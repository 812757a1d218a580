"""Bytes → :class:`MessageEvent`, or a :class:`DecodeError` that says why, never with content.

Every rejection has a ``reason`` from the closed set :data:`DECODE_REASONS` (a metric label)
and a sanitized ``detail`` that names fields and types but never echoes values, so it can go
into logs and DLQ headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from stream.records import AuthorContext, ChannelContext, MessageEvent

DECODE_REASONS = (
    "too_large",
    "empty_value",
    "invalid_utf8",
    "invalid_json",
    "too_deep",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "empty_field",
    "invalid_timestamp",
)

_KNOWN = frozenset(
    (
        "message_id",
        "author_id",
        "channel_id",
        "content",
        "guild_id",
        "created_at",
        "author",
        "channel",
    )
)


class DecodeError(Exception):
    """An input that cannot become a :class:`MessageEvent`."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in DECODE_REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _depth_exceeds(document: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _optional_string(doc: dict[str, Any], name: str, *, allow_empty: bool) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("wrong_type", f"field {name!r} must be a string, got {_type_name(value)}")
    if not allow_empty and not value.strip():
        raise DecodeError("empty_field", f"field {name!r} must not be empty")
    return value


def _required_string(doc: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = _optional_string(doc, name, allow_empty=allow_empty)
    if value is None:
        raise DecodeError("missing_field", f"required field {name!r} is missing")
    return value


def _created_at(doc: dict[str, Any]) -> str | int | None:
    value = doc.get("created_at")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DecodeError(
            "wrong_type",
            f"field 'created_at' must be an RFC 3339 string or epoch milliseconds, "
            f"got {_type_name(value)}",
        )
    if isinstance(value, int):
        if value < 0:
            raise DecodeError("invalid_timestamp", "field 'created_at' must not be negative")
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(
            "invalid_timestamp", "field 'created_at' is not an RFC 3339 timestamp"
        ) from None
    if parsed.tzinfo is None:
        raise DecodeError("invalid_timestamp", "field 'created_at' needs a UTC offset (RFC 3339)")
    return value


def _optional_object(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(
            "wrong_type", f"field {name!r} must be an object, got {_type_name(value)}"
        )
    return value


def _author(doc: dict[str, Any]) -> AuthorContext:
    raw = _optional_object(doc, "author")
    age = raw.get("account_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float)):
        raise DecodeError(
            "wrong_type", f"field 'author.account_age_days' must be a number, got {_type_name(age)}"
        )
    roles = raw.get("roles", [])
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise DecodeError("wrong_type", "field 'author.roles' must be a list of strings")
    verified = raw.get("verified")
    if verified is not None and not isinstance(verified, bool):
        raise DecodeError(
            "wrong_type", f"field 'author.verified' must be a boolean, got {_type_name(verified)}"
        )
    return AuthorContext(
        account_age_days=None if age is None else float(age),
        roles=tuple(roles),
        verified=verified,
    )


def _channel(doc: dict[str, Any]) -> ChannelContext:
    raw = _optional_object(doc, "channel")
    nsfw = raw.get("nsfw")
    if nsfw is not None and not isinstance(nsfw, bool):
        raise DecodeError(
            "wrong_type", f"field 'channel.nsfw' must be a boolean, got {_type_name(nsfw)}"
        )
    kind = raw.get("type")
    if kind is not None and not isinstance(kind, str):
        raise DecodeError(
            "wrong_type", f"field 'channel.type' must be a string, got {_type_name(kind)}"
        )
    return ChannelContext(nsfw=nsfw, type=kind)


def decode_message(value: bytes | None, *, max_bytes: int, max_depth: int) -> MessageEvent:
    """Validate one raw ``messages`` value; raise :class:`DecodeError` on any contract breach."""
    if value is None or not value.strip():
        raise DecodeError("empty_value", "record value is empty")
    if len(value) > max_bytes:
        raise DecodeError("too_large", f"record value is {len(value)} bytes, limit {max_bytes}")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if "utf-8" in str(exc).lower():
            raise DecodeError("invalid_utf8", "record value is not valid UTF-8") from None
        # orjson's own limit (1024 levels) fires before ours could.
        if "depth limit" in str(exc).lower():
            raise DecodeError("too_deep", f"JSON nesting deeper than {max_depth}") from None
        raise DecodeError("invalid_json", f"invalid JSON at byte {exc.pos}") from None
    if not isinstance(doc, dict):
        raise DecodeError("not_an_object", f"JSON value must be an object, got {_type_name(doc)}")
    if _depth_exceeds(doc, max_depth):
        raise DecodeError("too_deep", f"JSON nesting deeper than {max_depth}")
    return MessageEvent(
        message_id=_required_string(doc, "message_id"),
        author_id=_required_string(doc, "author_id"),
        channel_id=_required_string(doc, "channel_id"),
        content=_required_string(doc, "content", allow_empty=True),
        guild_id=_optional_string(doc, "guild_id", allow_empty=False),
        created_at=_created_at(doc),
        author=_author(doc),
        channel=_channel(doc),
        extra={k: v for k, v in doc.items() if k not in _KNOWN},
    )
