"""Dead letters: the original record byte for byte, plus headers that say what failed.

Header contract (DESIGN.md): the original headers come first, unchanged, followed by
``vigil.source.topic``, ``vigil.source.partition``, ``vigil.source.offset``,
``vigil.error.stage``, ``vigil.error.reason``, ``vigil.error.class``, ``vigil.error.message``
(sanitized: no message content, at most 256 characters) and ``vigil.failed_at`` (RFC 3339).
"""

from __future__ import annotations

from datetime import UTC, datetime

from stream.records import InboundRecord, OutboundRecord

DLQ_STAGES = ("decode", "classify", "policy", "encode")
_MAX_MESSAGE_CHARS = 256
_CONTENT_PLACEHOLDER = "<content>"


def sanitize(message: str, content: str | None = None) -> str:
    """Make an error message safe for logs and headers: no content, no control characters."""
    if content and len(content) >= 3:
        message = message.replace(content, _CONTENT_PLACEHOLDER)
        # An exception may quote a fragment rather than the whole text; drop long quotes.
        message = message.replace(repr(content), _CONTENT_PLACEHOLDER)
    message = "".join(ch if ch.isprintable() else " " for ch in message)
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    return message


def dead_letter(
    record: InboundRecord,
    *,
    topic: str,
    stage: str,
    reason: str,
    error_class: str,
    message: str,
) -> OutboundRecord:
    """Build the DLQ record for ``record``; ``message`` must already be sanitized."""
    assert stage in DLQ_STAGES, stage
    source = record.source
    headers = (
        *record.headers,
        ("vigil.source.topic", source.topic.encode()),
        ("vigil.source.partition", str(source.partition).encode()),
        ("vigil.source.offset", str(source.offset).encode()),
        ("vigil.error.stage", stage.encode()),
        ("vigil.error.reason", reason.encode()),
        ("vigil.error.class", error_class.encode()),
        ("vigil.error.message", message.encode("utf-8", "replace")),
        ("vigil.failed_at", datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
    )
    return OutboundRecord(topic=topic, key=record.key, value=record.value, headers=headers)
