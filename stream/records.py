"""The data contracts of DESIGN.md: the input event and the records Vigil produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuthorContext:
    account_age_days: float | None = None
    roles: tuple[str, ...] = ()
    verified: bool | None = None


@dataclass(frozen=True, slots=True)
class ChannelContext:
    nsfw: bool | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A validated input from the ``messages`` topic; unknown fields stay in ``extra``."""

    message_id: str
    author_id: str
    channel_id: str
    content: str
    guild_id: str | None = None
    created_at: str | int | None = None
    author: AuthorContext = field(default_factory=AuthorContext)
    channel: ChannelContext = field(default_factory=ChannelContext)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where an input came from; carried into decisions and dead letters."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None
    """Kafka record timestamp in seconds since the epoch (None if the broker gave none)."""


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """One consumed Kafka record, exactly as it arrived (bytes are never re-encoded)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    source: SourcePosition


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One record to produce; ``topic`` is a logical sink name resolved by the sink."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None
    """Explicit partition; None lets the producer's partitioner pick one from the key."""


def event_time(event: MessageEvent, source: SourcePosition | None, now: float) -> float:
    """When a message happened, for per-author windows: the Kafka record time (set by the
    producer or broker, so one clock per partition), else ``created_at``, else ``now``."""
    if source is not None and source.timestamp is not None:
        return source.timestamp
    created = event.created_at
    if isinstance(created, int):
        return created / 1000.0
    if isinstance(created, str):
        try:
            return datetime.fromisoformat(created).timestamp()
        except ValueError:
            return now
    return now
