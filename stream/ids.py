"""Deterministic identifiers that let consumers deduplicate at-least-once deliveries."""

from __future__ import annotations

import hashlib

from stream.records import MessageEvent


def action_id(event: MessageEvent, policy_version: str, action: str) -> str:
    """Same input and same policy version → same id, across retries, restarts and replicas.

    The content is part of the identity so that an edited message (same id, new text) is a
    new input; NUL separators keep field boundaries unambiguous.
    """
    digest = hashlib.sha256()
    for part in (
        "vigil.action.v1",
        event.message_id,
        event.channel_id,
        event.author_id,
        hashlib.sha256(event.content.encode("utf-8", "surrogatepass")).hexdigest(),
        policy_version,
        action,
    ):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]
