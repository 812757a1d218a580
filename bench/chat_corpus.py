"""The benchmark corpus: realistic chat traffic, generated reproducibly from ../shared/data.

Live chat is mostly short and repetitive. The generator mixes, per message:
- 30 % reactions and greetings ("lol", "gg", "good morning!") drawn Zipf-like from a fixed
  list: the bulk of real chat and the most repeated;
- 57 % conversation: tweets and SMS from the licensed datasets, 3–30 words (some of them
  abusive, hateful or spam, as in the data);
- 8 % spam waves: bursts of 20–120 identical or near-identical spam texts (a varied number,
  emoji or case) posted by a few accounts across channels;
- 5 % long messages (forum posts of 60+ words, up to 2,000 characters).
Authors are Zipf-distributed over 3,000 accounts and 40 channels. ``unique=True`` makes
every text distinct (a numbered tag is appended), the corpus without repeats the raw-ceiling
comparison needs. :func:`statistics` describes a corpus; the README records it.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.corpus import _davidson, _olid, _sms, _stormfront, envelope
from classifiers.normalize import prepare_content

REACTIONS = (
    "lol", "gg", "lmao", "haha", "ok", "nice", "same", "thanks!", "ty", "wp", "brb", "yes",
    "no", "true", "hi", "hey all", "hi everyone", "good morning!", "gm", "gn", "good night all",
    "😂😂", "👍", "❤️", "🔥🔥🔥", "what time is the event?", "anyone online?", "welcome!",
    "congrats!!", "let's go", "omg", "wow", "same here", "i agree", "+1", "ggs everyone",
    "who's up for a game?", "can someone help me?", "nvm figured it out", "see you tomorrow",
    "that was fun", "rip", "xD", "bruh", "fr", "idk", "np", "yw", "sounds good", "love this",
)  # fmt: skip
SHARES = (("reaction", 0.30), ("conversation", 0.57), ("wave", 0.08), ("long", 0.05))
"""Target share of messages per kind."""
WAVE_SIZE = (20, 120)
N_AUTHORS = 3000
N_CHANNELS = 40


def _words(text: str) -> int:
    return len(text.split())


@functools.cache
def _zipf_cum_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _zipf_index(rng: random.Random, n: int, s: float = 1.1) -> int:
    """An index in [0, n) with probability ∝ 1 / (i + 1)^s (a few very common items)."""
    # The same draw as ``choices(weights=...)``, which accumulates the weights on every call.
    return rng.choices(range(n), cum_weights=_zipf_cum_weights(n, s))[0]


def _pools(data: Path) -> dict[str, list[str]]:
    conversation = [
        t for source in (_olid, _davidson, _sms) for t, _ in source(data) if 3 <= _words(t) <= 30
    ]
    spam = [t for t, label in _sms(data) if label == "sms:spam"]
    long = [t for t, _ in _stormfront(data) if _words(t) >= 60]
    long += [t for t, _ in _olid(data) if _words(t) >= 40]
    return {"conversation": conversation, "spam": spam, "long": long}


def _vary(rng: random.Random, text: str) -> str:
    """A near-identical copy of a spam text, as spam waves post them."""
    choice = rng.randrange(4)
    if choice == 0:
        return text
    if choice == 1:
        return f"{text} {rng.randrange(100, 999)}"
    if choice == 2:
        return f"{text} {rng.choice(['🔥', '💰', '🎁', '!!!'])}"
    return text.upper()


def _author(rng: random.Random) -> int:
    return _zipf_index(rng, N_AUTHORS, 0.9)


def messages(data: Path, n: int, *, seed: int = 11, unique: bool = False) -> list[dict[str, Any]]:
    """``n`` message events (the ``messages`` contract), the same for the same arguments."""
    rng = random.Random(seed)
    pools = _pools(data)
    # A wave adds many messages at once: pick it proportionally less often.
    mean_wave = sum(WAVE_SIZE) / 2
    weights = [share / mean_wave if kind == "wave" else share for kind, share in SHARES]
    kinds = [kind for kind, _ in SHARES]
    texts: list[tuple[str, int, int]] = []  # (content, author, channel)
    while len(texts) < n:
        kind = rng.choices(kinds, weights=weights)[0]
        if kind == "reaction":
            texts.append(
                (
                    REACTIONS[_zipf_index(rng, len(REACTIONS))],
                    _author(rng),
                    rng.randrange(N_CHANNELS),
                )
            )
        elif kind == "conversation":
            texts.append(
                (rng.choice(pools["conversation"]), _author(rng), rng.randrange(N_CHANNELS))
            )
        elif kind == "long":
            texts.append(
                (rng.choice(pools["long"])[:2000], _author(rng), rng.randrange(N_CHANNELS))
            )
        else:
            spam = rng.choice(pools["spam"])
            spammers = [rng.randrange(N_AUTHORS) for _ in range(rng.randint(1, 4))]
            for _ in range(rng.randint(*WAVE_SIZE)):
                texts.append((_vary(rng, spam), rng.choice(spammers), rng.randrange(N_CHANNELS)))
    texts = texts[:n]
    base_ms = 1_767_225_600_000
    out = []
    for i, (text, author, channel) in enumerate(texts):
        content = f"{text} [{i}]" if unique else text
        msg = envelope(rng, i, content, base_ms + i * 50)
        msg.update(
            message_id=f"bench-{i:07d}",
            author_id=f"user-{author:04d}",
            channel_id=f"channel-{channel}",
        )
        out.append(msg)
    return out


def statistics(corpus: list[dict[str, Any]], max_chars: int = 2000) -> dict[str, Any]:
    """Length and repetition statistics of a corpus (repeats counted on prepared text)."""
    words = [_words(m["content"]) for m in corpus]
    prepared = [prepare_content(m["content"], max_chars)[0] for m in corpus]
    counts = Counter(prepared)
    n = len(corpus)
    ordered = sorted(words)
    return {
        "messages": n,
        "distinct_texts": len(counts),
        "repeat_share": round(1 - len(counts) / n, 4),
        "share_3_to_30_words": round(sum(1 for w in words if 3 <= w <= 30) / n, 4),
        "share_under_3_words": round(sum(1 for w in words if w < 3) / n, 4),
        "share_over_60_words": round(sum(1 for w in words if w > 60) / n, 4),
        "median_words": ordered[n // 2],
        "p95_words": ordered[int(n * 0.95)],
        "mean_chars": round(sum(len(m["content"]) for m in corpus) / n, 1),
        "top_text_share": round(counts.most_common(1)[0][1] / n, 4),
        "authors": len({m["author_id"] for m in corpus}),
    }


def spread_sample(corpus: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """``k`` messages evenly spaced over ``corpus``, so that a timing sample has the whole
    corpus' length mix: its first messages are not typical (the first 400 of the 10,000-message
    bench corpus average 21.4 tokens against 24.4)."""
    n = len(corpus)
    if k >= n:
        return list(corpus)
    return [corpus[i * n // k] for i in range(k)]


def iter_records(corpus: list[dict[str, Any]]) -> Iterator[tuple[bytes, bytes]]:
    import orjson

    for m in corpus:
        yield m["author_id"].encode(), orjson.dumps(m)
