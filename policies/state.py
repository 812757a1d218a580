"""Per-author state: recent posts (velocity, repeated content) and strikes per escalation ladder.

An :class:`AuthorHistory` is a small immutable value, stored per author id in a
:class:`HistoryStore` (a changelog-backed Faust table in the worker, a dict elsewhere).
Entries carry the message id that caused them, so re-processing a redelivered message
neither counts it twice nor lets it see itself: at-least-once delivery gives the same
verdict on replay.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

MAX_POSTS = 64
"""Posts kept per author; velocity features saturate here (a flood is a flood). Every
change rewrites the author's whole history to the history topic, so this bounds that record
(~4 KiB) as much as memory."""
MAX_STRIKES = 100
"""Strikes kept per author and ladder."""
VELOCITY_WINDOWS: Mapping[str, float] = {"messages_10s": 10.0, "messages_1m": 60.0}
REPEAT_WINDOW_SECONDS = 3600.0
"""Window of ``messages_1h`` and the repeated-content features."""
MIN_HISTORY_SECONDS = REPEAT_WINDOW_SECONDS

_WORDS = re.compile(r"[^\W\d_]+")


def content_fingerprint(text: str) -> str:
    """Identical-for-spam-purposes text → same fingerprint: case, digits, punctuation ignored."""
    words = _WORDS.findall(text.casefold())
    basis = " ".join(words) if words else text.strip().casefold()
    return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Post:
    at: float
    message_id: str
    channel_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Strike:
    at: float
    message_id: str


@dataclass(frozen=True, slots=True)
class AuthorHistory:
    """An author's recent posts (newest last) and strikes per ladder."""

    posts: tuple[Post, ...] = ()
    strikes: Mapping[str, tuple[Strike, ...]] = field(default_factory=dict)

    def features(
        self,
        *,
        now: float,
        message_id: str,
        channel_id: str,
        fingerprint: str,
        ladder_windows: Mapping[str, float],
    ) -> dict[str, object]:
        """The ``state`` variables of a rule condition, as of just before this message."""
        # One pass: this runs for every message of an author with up to MAX_POSTS posts.
        velocity = dict.fromkeys(VELOCITY_WINDOWS, 0)
        recent = same = 0
        channels = {channel_id}
        for p in self.posts:
            if p.message_id == message_id or p.at <= now - REPEAT_WINDOW_SECONDS:
                continue
            recent += 1
            if p.fingerprint == fingerprint:
                same += 1
                channels.add(p.channel_id)
            for name, window in VELOCITY_WINDOWS.items():
                if p.at > now - window:
                    velocity[name] += 1
        out: dict[str, object] = {
            **velocity,
            "messages_1h": recent,
            "same_content_1h": same,
            "same_content_channels_1h": len(channels),
        }
        out["strikes"] = {
            ladder: sum(
                1
                for s in self.strikes.get(ladder, ())
                if s.message_id != message_id and s.at > now - window
            )
            for ladder, window in ladder_windows.items()
        }
        return out

    def recorded(self, *, post: Post, strikes: Iterable[str], keep_seconds: float) -> AuthorHistory:
        """This history with ``post`` (and its strikes) added and entries older than
        ``keep_seconds`` dropped; recording the same message again replaces it."""
        horizon = post.at - max(keep_seconds, MIN_HISTORY_SECONDS)
        posts = [p for p in self.posts if p.at > horizon and p.message_id != post.message_id]
        posts.append(post)
        kept: dict[str, tuple[Strike, ...]] = {}
        new = set(strikes)
        for ladder in sorted(set(self.strikes) | new):
            entries = [
                s
                for s in self.strikes.get(ladder, ())
                if s.at > horizon and s.message_id != post.message_id
            ]
            if ladder in new:
                entries.append(Strike(post.at, post.message_id))
            if entries:
                kept[ladder] = tuple(entries[-MAX_STRIKES:])
        return AuthorHistory(tuple(posts[-MAX_POSTS:]), kept)

    def newest(self) -> float:
        """Time of the newest entry (0 when empty)."""
        times = [p.at for p in self.posts] + [s.at for v in self.strikes.values() for s in v]
        return max(times, default=0.0)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "p": [[p.at, p.message_id, p.channel_id, p.fingerprint] for p in self.posts],
                "s": {k: [[s.at, s.message_id] for s in v] for k, v in self.strikes.items()},
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> AuthorHistory:
        if not raw:
            return cls()
        doc = orjson.loads(raw)
        return cls(
            tuple(Post(float(a), str(m), str(c), str(f)) for a, m, c, f in doc.get("p", ())),
            {k: tuple(Strike(float(a), str(m)) for a, m in v) for k, v in doc.get("s", {}).items()},
        )


class HistoryStore(Protocol):
    """Author id → :class:`AuthorHistory`; ``put`` must survive a worker restart in production."""

    def get(self, author_id: str) -> AuthorHistory: ...

    def put(self, author_id: str, history: AuthorHistory) -> None: ...


class MemoryHistoryStore:
    """A bounded in-process :class:`HistoryStore` (backtests, policy tests, single runs)."""

    def __init__(self, max_authors: int = 100_000) -> None:
        self._max = max_authors
        self._data: OrderedDict[str, AuthorHistory] = OrderedDict()

    def get(self, author_id: str) -> AuthorHistory:
        return self._data.get(author_id) or AuthorHistory()

    def put(self, author_id: str, history: AuthorHistory) -> None:
        self._data[author_id] = history
        self._data.move_to_end(author_id)
        if len(self._data) > self._max:
            self._data.popitem(last=False)
