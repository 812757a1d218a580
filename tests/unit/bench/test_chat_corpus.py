"""The benchmark corpus is reproducible and looks like chat (short, repetitive, some waves)."""

from __future__ import annotations

from pathlib import Path

from bench.chat_corpus import messages, statistics

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def test_same_arguments_same_corpus() -> None:
    assert messages(DATA, 300) == messages(DATA, 300)
    assert messages(DATA, 300) != messages(DATA, 300, seed=12)


def test_realistic_corpus_statistics() -> None:
    stats = statistics(messages(DATA, 5000))
    assert stats["messages"] == 5000
    assert 0.25 <= stats["repeat_share"] <= 0.6
    assert stats["share_3_to_30_words"] >= 0.55
    assert stats["share_under_3_words"] >= 0.15  # reactions
    assert 0.0 < stats["share_over_60_words"] < 0.05  # some long ones
    assert stats["median_words"] <= 15


def test_unique_corpus_has_no_repeats() -> None:
    corpus = messages(DATA, 3000, unique=True)
    stats = statistics(corpus)
    assert stats["distinct_texts"] == 3000
    assert {m["message_id"] for m in corpus} == {f"bench-{i:07d}" for i in range(3000)}
