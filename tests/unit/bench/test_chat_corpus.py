"""The benchmark corpus is reproducible and looks like chat (short, repetitive, some waves)."""

from __future__ import annotations

from pathlib import Path

from bench.chat_corpus import messages, spread_sample, statistics

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


def test_spread_sample_keeps_the_corpus_length_mix() -> None:
    corpus = messages(DATA, 10_000)
    sample = spread_sample(corpus, 400)
    assert len(sample) == 400
    assert sample[0] is corpus[0]
    assert sample[-1] is corpus[9975]
    mean = lambda ms: sum(len(m["content"]) for m in ms) / len(ms)  # noqa: E731
    # The corpus' opening stretch is shorter than the whole; an evenly spread sample is not.
    assert mean(corpus[:400]) < 0.95 * mean(corpus)
    assert abs(mean(sample) - mean(corpus)) < 0.03 * mean(corpus)
    assert spread_sample(corpus[:5], 400) == corpus[:5]
