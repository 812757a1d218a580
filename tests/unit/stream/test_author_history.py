"""Author histories by input partition: writes become records of the batch, loads replace."""

from __future__ import annotations

import pytest

from policies.state import AuthorHistory, Post
from stream.author_history import SWEEP_BATCH, AuthorHistories


def history(at: float) -> AuthorHistory:
    return AuthorHistory().recorded(post=Post.of(at, f"m{at}", "c", 7), strikes=(), keep_seconds=60)


def test_writes_go_to_the_input_partition_once_per_author() -> None:
    histories = AuthorHistories("hist")
    for partition in (0, 2):
        histories.load(partition, [])
    store = histories.store_for(2)
    store.put("alice", history(1.0))
    store.put("alice", history(2.0))
    histories.store_for(0).put("bob", history(3.0))
    (alice, bob) = sorted(histories.take_writes(), key=lambda r: r.partition or 0, reverse=True)
    assert (alice.topic, alice.partition, alice.key) == ("hist", 2, b"alice")
    assert AuthorHistory.from_bytes(alice.value) == history(2.0)  # only the latest
    assert (bob.partition, bob.key) == (0, b"bob")
    assert histories.take_writes() == []
    assert histories.store_for(2).get("alice") == history(2.0)
    assert histories.store_for(1).get("alice") == AuthorHistory()  # partitions are separate


def test_load_replaces_and_tombstones_delete() -> None:
    histories = AuthorHistories("hist")
    assert histories.missing([0, 1]) == {0, 1}
    loaded = histories.load(
        1,
        [
            (b"alice", history(1.0).to_bytes()),
            (b"bob", history(2.0).to_bytes()),
            (b"alice", None),
            (None, b"ignored"),
        ],
    )
    assert loaded == 1
    assert histories.missing([0, 1]) == {0}
    assert histories.store_for(1).get("bob") == history(2.0)
    assert histories.store_for(1).get("alice") == AuthorHistory()
    histories.drop([1])
    assert histories.missing([1]) == {1}
    assert histories.store_for(1).get("bob") == AuthorHistory()
    assert histories.missing([1]) == {1}  # touching a dropped partition does not load it


def test_an_unreadable_record_starts_its_author_afresh(caplog: pytest.LogCaptureFixture) -> None:
    histories = AuthorHistories("hist")
    loaded = histories.load(
        0,
        [
            (b"alice", history(1.0).to_bytes()),
            (b"bob", history(2.0).to_bytes()),
            (b"alice", b"\x09"),
        ],
    )
    assert loaded == 1
    assert histories.store_for(0).get("alice") == AuthorHistory()
    assert histories.store_for(0).get("bob") == history(2.0)
    assert "1 unreadable records" in caplog.text
    assert "unknown format version 9" in caplog.text


def test_memory_only_histories_need_no_loading_and_write_nothing() -> None:
    histories = AuthorHistories(topic=None)
    histories.store_for(0).put("a", history(1.0))
    assert histories.missing([0, 5]) == set()
    assert histories.take_writes() == []


def test_sweep_deletes_idle_authors_with_tombstones_in_steps() -> None:
    histories = AuthorHistories("hist")
    n = SWEEP_BATCH + 10
    histories.load(
        0, [(f"a{i}".encode(), history(100.0 if i % 2 else 10_000.0).to_bytes()) for i in range(n)]
    )
    histories.sweep(now=10_000.0, keep_seconds=3600)
    first = histories.take_writes()
    assert len(first) == SWEEP_BATCH // 2
    assert all(r.value is None and r.partition == 0 for r in first)
    histories.sweep(now=10_000.0, keep_seconds=3600)
    assert len(histories.take_writes()) == 5
    assert histories.store_for(0).get("a1") == AuthorHistory()
    assert histories.store_for(0).get("a0") == history(10_000.0)
