"""Per-author history: windows, replay idempotence, bounds and serialization."""

from __future__ import annotations

import orjson
import pytest

from policies.state import (
    MAX_POSTS,
    AuthorHistory,
    MemoryHistoryStore,
    Post,
    Strike,
    content_fingerprint,
    stable_key,
)


def post(i: int, at: float, channel: str = "c1", text: str = "hi") -> Post:
    return Post.of(at, f"m{i}", channel, content_fingerprint(text))


def features(
    h: AuthorHistory, at: float, mid: str = "new", channel: str = "c1", text: str = "hi"
) -> dict[str, object]:
    this = Post.of(at, mid, channel, content_fingerprint(text))
    return h.features(this, ladder_windows={"abuse": 100.0})


def test_velocity_windows() -> None:
    h = AuthorHistory()
    for i, at in enumerate([0, 50, 55, 58, 59.5]):
        h = h.recorded(post=post(i, at), strikes=(), keep_seconds=3600)
    f = features(h, 60)
    assert f["messages_10s"] == 3  # 50 is exactly 10 s old: windows exclude their start
    assert f["messages_1m"] == 4  # the post at 0 is exactly 60 s old
    assert f["messages_1h"] == 5


def test_repeated_content_across_channels_ignores_case_digits_and_punctuation() -> None:
    assert content_fingerprint("Join my server!! 123") == content_fingerprint("join my SERVER 9")
    assert content_fingerprint("join my server") != content_fingerprint("join your server")
    h = AuthorHistory()
    for i, ch in enumerate(["a", "b", "b"]):
        h = h.recorded(post=post(i, i, ch, "Buy now!"), strikes=(), keep_seconds=3600)
    f = features(h, 10, channel="c", text="buy NOW")
    assert f["same_content_1h"] == 3
    assert f["same_content_channels_1h"] == 3  # a, b and this message's c


def test_strikes_expire_with_their_ladder_window() -> None:
    h = AuthorHistory()
    h = h.recorded(post=post(1, 0), strikes=("abuse",), keep_seconds=3600)
    h = h.recorded(post=post(2, 50), strikes=("abuse",), keep_seconds=3600)
    assert features(h, 60)["strikes"] == {"abuse": 2}
    assert features(h, 120)["strikes"] == {"abuse": 1}


def test_a_replayed_message_does_not_count_itself_or_twice() -> None:
    h = AuthorHistory().recorded(post=post(1, 0), strikes=("abuse",), keep_seconds=3600)
    again = h.recorded(post=post(1, 0), strikes=("abuse",), keep_seconds=3600)
    assert again == h
    assert features(h, 1, mid="m1")["strikes"] == {"abuse": 0}
    assert features(h, 1, mid="m1")["messages_1h"] == 0


def test_history_is_bounded_and_pruned() -> None:
    h = AuthorHistory()
    for i in range(MAX_POSTS + 50):
        h = h.recorded(post=post(i, float(i)), strikes=(), keep_seconds=3600)
    assert len(h.posts) == MAX_POSTS
    late = h.recorded(post=post(10_000, 100_000.0), strikes=(), keep_seconds=3600)
    assert [p.message for p in late.posts] == [stable_key("m10000")]
    assert len(h.packed_posts) == 32 * MAX_POSTS  # 32 bytes a post, no object per post


def test_bytes_round_trip() -> None:
    h = AuthorHistory().recorded(post=post(1, 5.5, "c9", "x"), strikes=("spam",), keep_seconds=3600)
    h = h.recorded(post=post(2, 6.0), strikes=("spam", "abuse"), keep_seconds=3600)
    assert AuthorHistory.from_bytes(h.to_bytes()) == h
    assert AuthorHistory.from_bytes(None) == AuthorHistory()
    assert AuthorHistory.from_bytes(AuthorHistory().to_bytes()) == AuthorHistory()
    assert h.newest() == 6.0
    assert h.strikes("spam") == (Strike(5.5, stable_key("m1")), Strike(6.0, stable_key("m2")))


def test_reads_the_json_records_written_before_the_packed_format() -> None:
    """A compacted history topic keeps an idle author's last record for as long as an hour."""
    legacy = orjson.dumps(
        {
            "p": [[5.5, "m1", "c9", format(content_fingerprint("x"), "016x")]],
            "s": {"spam": [[5.5, "m1"]]},
        }
    )
    expected = AuthorHistory().recorded(
        post=post(1, 5.5, "c9", "x"), strikes=("spam",), keep_seconds=3600
    )
    assert AuthorHistory.from_bytes(legacy) == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\x07", "unknown format version 7"),
        (AuthorHistory().recorded(post=post(1, 1), strikes=(), keep_seconds=60).to_bytes()[:-3],
         "truncated"),
        (AuthorHistory().to_bytes() + b"x", "1 trailing bytes"),
    ],
)  # fmt: skip
def test_malformed_records_are_rejected_with_a_clear_error(raw: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        AuthorHistory.from_bytes(raw)


def test_memory_store_is_bounded_lru() -> None:
    store = MemoryHistoryStore(max_authors=2)
    h = AuthorHistory().recorded(post=post(1, 1), strikes=(), keep_seconds=3600)
    for author in ("a", "b", "a", "c"):
        store.put(author, h)
    assert store.get("a") == h
    assert store.get("c") == h
    assert store.get("b") == AuthorHistory()
