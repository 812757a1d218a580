"""Reproducible chat-message corpora built from the licensed texts in ../shared/data.

``python -m bench.corpus --data ../shared/data --out stream/demo_data/sample_messages.jsonl``
rebuilds the demo sample bundled with the package (fixed seed, same output every time).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def _olid(data: Path) -> Iterator[tuple[str, str]]:
    with (data / "olid" / "olid-training-v1.0.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield row["tweet"], "olid:" + row["subtask_a"]


def _davidson(data: Path) -> Iterator[tuple[str, str]]:
    names = {"0": "hate", "1": "offensive", "2": "neither"}
    with (data / "davidson2017" / "labeled_data.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["tweet"], "davidson:" + names[row["class"]]


def _sms(data: Path) -> Iterator[tuple[str, str]]:
    with (data / "sms_spam_collection" / "SMSSpamCollection.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield row["SMS"], "sms:" + row["Label"]


def _stormfront(data: Path) -> Iterator[tuple[str, str]]:
    with (data / "stormfront_degibert2018" / "stormfront.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["label"] in ("hate", "noHate"):
                yield row["text"], "stormfront:" + row["label"]


def _pick(rng: random.Random, rows: list[tuple[str, str]], label: str, n: int) -> list[Any]:
    pool = [r for r in rows if r[1] == label]
    return rng.sample(pool, min(n, len(pool)))


# (source, label, count): harmful and benign texts from every dataset.
_MIX = (
    (_olid, "olid:OFF", 70), (_olid, "olid:NOT", 90),
    (_davidson, "davidson:offensive", 40), (_davidson, "davidson:hate", 20),
    (_davidson, "davidson:neither", 40),
    (_sms, "sms:spam", 50), (_sms, "sms:ham", 60),
    (_stormfront, "stormfront:hate", 15), (_stormfront, "stormfront:noHate", 15),
)  # fmt: skip


def envelope(rng: random.Random, i: int, content: str, created_ms: int) -> dict[str, Any]:
    """Wrap ``content`` in the ``messages`` contract with plausible context."""
    author = rng.randrange(60)
    return {
        "message_id": f"demo-{i:06d}",
        "author_id": f"user-{author:03d}",
        "channel_id": f"channel-{rng.randrange(8)}",
        "guild_id": "guild-demo",
        "content": content,
        "created_at": created_ms,
        "author": {
            "account_age_days": [0, 2, 30, 400, 1200][author % 5],
            "roles": ["moderator"] if author == 0 else [],
            "verified": author % 3 == 0,
        },
        "channel": {"nsfw": False, "type": "text"},
    }


def demo_sample(data: Path, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cache: dict[Any, list[tuple[str, str]]] = {}
    texts: list[tuple[str, str]] = []
    for source, label, n in _MIX:
        rows = cache.setdefault(source, list(source(data)))
        texts.extend(_pick(rng, rows, label, n))
    rng.shuffle(texts)
    base_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    out = []
    for i, (text, origin) in enumerate(texts):
        msg = envelope(rng, i, text, base_ms + i * 1000)
        msg["origin"] = origin  # an unknown extra field: kept and ignored by Vigil
        out.append(msg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("stream/demo_data/sample_messages.jsonl"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = demo_sample(args.data, args.seed)
    args.out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    print(f"wrote {len(rows)} messages to {args.out}")


if __name__ == "__main__":
    main()
