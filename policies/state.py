"""Per-author state: recent posts (velocity, repeated content) and strikes per escalation ladder.

An :class:`AuthorHistory` is a small immutable value, stored per author id in a
:class:`HistoryStore` (the worker's :class:`~stream.author_history.AuthorHistories`, a dict
elsewhere). Entries carry a key of the message that caused them, so re-processing a
redelivered message neither counts it twice nor lets it see itself: at-least-once delivery
gives the same verdict on replay.

Entries are packed: a post is 32 bytes (time, and 64-bit keys of the message id, the channel
id and the content), a strike 16. A worker holds up to ``MAX_POSTS`` posts for every author
active in the last hour, and persists an author's whole history on every change, so the
layout decides both its memory (a Python object per post cost ~280 bytes) and the bytes it
writes to the history topic (JSON cost ~90 bytes a post).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Protocol

import orjson

MAX_POSTS = 64
"""Posts kept per author; velocity features saturate here (a flood is a flood). Every
change rewrites the author's whole history to the history topic, so this bounds that record
(~2 KiB) as much as memory."""
MAX_STRIKES = 100
"""Strikes kept per author and ladder."""
VELOCITY_WINDOWS: Mapping[str, float] = {"messages_10s": 10.0, "messages_1m": 60.0}
REPEAT_WINDOW_SECONDS = 3600.0
"""Window of ``messages_1h`` and the repeated-content features."""
MIN_HISTORY_SECONDS = REPEAT_WINDOW_SECONDS

_WORDS = re.compile(r"[^\W\d_]+")
_POST = struct.Struct("<dQQQ")  # at, message key, channel key, content fingerprint
_STRIKE = struct.Struct("<dQ")  # at, message key
_POST_HEAD = struct.Struct("<dQ16x")  # a post's time and message key, the rest skipped
_COUNT = struct.Struct("<H")
FORMAT_VERSION = 2
"""First byte of a serialized history; version 1 was JSON (starts with ``{``), still read."""
_NO_STRIKES: Mapping[str, bytes] = MappingProxyType({})


def stable_key(text: str) -> int:
    """A 64-bit key of an id or text, the same in every process (unlike ``hash``).

    Keys only ever compare entries of one author (at most a few hundred), so a collision
    between two of them is a 2**-50 event; nothing outside this module sees them.
    """
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def content_fingerprint(text: str) -> int:
    """Identical-for-spam-purposes text → same fingerprint: case, digits, punctuation ignored."""
    words = _WORDS.findall(text.casefold())
    return stable_key(" ".join(words) if words else text.strip().casefold())


class Post(NamedTuple):
    """One message in its author's history."""

    at: float
    message: int
    """``stable_key`` of the message id."""
    channel: int
    """``stable_key`` of the channel id."""
    fingerprint: int
    """``content_fingerprint`` of the normalized text."""

    @classmethod
    def of(cls, at: float, message_id: str, channel_id: str, fingerprint: int) -> Post:
        return cls(at, stable_key(message_id), stable_key(channel_id), fingerprint)


class Strike(NamedTuple):
    at: float
    message: int
    """``stable_key`` of the message id."""


def _without(packed: bytes, head: struct.Struct, horizon: float, message: int) -> bytes:
    """``packed`` minus the entries at or before ``horizon`` and those of ``message``;
    ``head`` reads a record's time and message key and skips the rest of it."""
    size = head.size
    stale = [
        i for i, (at, key) in enumerate(head.iter_unpack(packed)) if at <= horizon or key == message
    ]
    if not stale:
        return packed
    gone = set(stale)
    count = len(packed) // size
    return b"".join(packed[i * size : (i + 1) * size] for i in range(count) if i not in gone)


@dataclass(frozen=True, slots=True)
class AuthorHistory:
    """An author's recent posts (oldest first) and strikes per ladder, packed."""

    packed_posts: bytes = b""
    packed_strikes: Mapping[str, bytes] = field(default_factory=lambda: _NO_STRIKES)
    """Ladder → its strikes, packed; ladders without strikes are absent."""

    @property
    def posts(self) -> tuple[Post, ...]:
        return tuple(map(Post._make, _POST.iter_unpack(self.packed_posts)))

    def strikes(self, ladder: str) -> tuple[Strike, ...]:
        return tuple(map(Strike._make, _STRIKE.iter_unpack(self.packed_strikes.get(ladder, b""))))

    def features(self, post: Post, *, ladder_windows: Mapping[str, float]) -> dict[str, object]:
        """The ``state`` variables of a rule condition for ``post``, as of just before it."""
        # One pass: this runs for every message of an author with up to MAX_POSTS posts.
        now, message, fingerprint = post.at, post.message, post.fingerprint
        times: list[float] = []
        same = 0
        channels = {post.channel}
        since = now - REPEAT_WINDOW_SECONDS
        for at, key, channel, content in _POST.iter_unpack(self.packed_posts):
            if key == message or at <= since:
                continue
            times.append(at)
            if content == fingerprint:
                same += 1
                channels.add(channel)
        velocity = {
            name: sum(1 for at in times if at > now - window)
            for name, window in VELOCITY_WINDOWS.items()
        }
        strikes = {
            ladder: sum(
                1
                for at, key in _STRIKE.iter_unpack(self.packed_strikes.get(ladder, b""))
                if key != message and at > now - window
            )
            for ladder, window in ladder_windows.items()
        }
        return {
            **velocity,
            "messages_1h": len(times),
            "same_content_1h": same,
            "same_content_channels_1h": len(channels),
            "strikes": strikes,
        }

    def recorded(self, *, post: Post, strikes: Iterable[str], keep_seconds: float) -> AuthorHistory:
        """This history with ``post`` (and its strikes) added and entries older than
        ``keep_seconds`` dropped; recording the same message again replaces it."""
        horizon = post.at - max(keep_seconds, MIN_HISTORY_SECONDS)
        posts = _without(self.packed_posts, _POST_HEAD, horizon, post.message) + _POST.pack(*post)
        new = set(strikes)
        kept: dict[str, bytes] = {}
        for ladder in sorted(set(self.packed_strikes) | new):
            entries = _without(self.packed_strikes.get(ladder, b""), _STRIKE, horizon, post.message)
            if ladder in new:
                entries += _STRIKE.pack(post.at, post.message)
            if entries:
                kept[ladder] = entries[-MAX_STRIKES * _STRIKE.size :]
        return AuthorHistory(posts[-MAX_POSTS * _POST.size :], kept or _NO_STRIKES)

    def newest(self) -> float:
        """Time of the newest entry (0 when empty)."""
        times = [at for at, _ in _POST_HEAD.iter_unpack(self.packed_posts)]
        for packed in self.packed_strikes.values():
            times.extend(at for at, _ in _STRIKE.iter_unpack(packed))
        return max(times, default=0.0)

    def to_bytes(self) -> bytes:
        """Version byte; post count and posts; ladder count and, per ladder, its name
        (UTF-8, its length first), strike count and strikes. Little-endian throughout."""
        parts = [bytes([FORMAT_VERSION]), _COUNT.pack(len(self.packed_posts) // _POST.size)]
        parts.append(self.packed_posts)
        parts.append(_COUNT.pack(len(self.packed_strikes)))
        for ladder, packed in self.packed_strikes.items():
            name = ladder.encode("utf-8")
            parts += [
                _COUNT.pack(len(name)),
                name,
                _COUNT.pack(len(packed) // _STRIKE.size),
                packed,
            ]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> AuthorHistory:
        """Read :meth:`to_bytes`'s format, or version 1 (JSON); ``ValueError`` if malformed."""
        if not raw:
            return cls()
        if raw[:1] == b"{":
            return cls._from_json(raw)
        reader = _Reader(raw)
        if (version := reader.byte()) != FORMAT_VERSION:
            raise ValueError(f"author history: unknown format version {version}")
        posts = reader.take(reader.count() * _POST.size)
        strikes = {}
        for _ in range(reader.count()):
            ladder = reader.take(reader.count()).decode("utf-8")
            strikes[ladder] = reader.take(reader.count() * _STRIKE.size)
        reader.end()
        return cls(posts, strikes or _NO_STRIKES)

    @classmethod
    def _from_json(cls, raw: bytes) -> AuthorHistory:
        doc = orjson.loads(raw)
        posts = b"".join(
            _POST.pack(*Post.of(float(a), str(m), str(c), int(str(f), 16)))
            for a, m, c, f in doc.get("p", ())
        )
        strikes = {
            str(ladder): b"".join(_STRIKE.pack(float(a), stable_key(str(m))) for a, m in entries)
            for ladder, entries in doc.get("s", {}).items()
        }
        return cls(posts, {k: v for k, v in strikes.items() if v} or _NO_STRIKES)


class _Reader:
    """Bounds-checked reads from a serialized history."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._at = 0

    def take(self, n: int) -> bytes:
        if self._at + n > len(self._raw):
            raise ValueError(f"author history: truncated record ({len(self._raw)} bytes)")
        self._at += n
        return self._raw[self._at - n : self._at]

    def byte(self) -> int:
        return self.take(1)[0]

    def count(self) -> int:
        (n,) = _COUNT.unpack(self.take(_COUNT.size))
        return int(n)

    def end(self) -> None:
        if self._at != len(self._raw):
            raise ValueError(f"author history: {len(self._raw) - self._at} trailing bytes")


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
