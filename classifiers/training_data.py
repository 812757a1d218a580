"""Loaders and fixed splits for the licensed training corpora in ``shared/data``.

Every dataset labels only some categories; the others are unknown (``-1``), never "0".

==========================  ============  ===============================================
dataset                     categories    label mapping
==========================  ============  ===============================================
davidson2017 (MIT)          offensive,    class 0 (hate) or 1 (offensive) -> offensive=1,
                            hate          class 2 (neither) -> offensive=0;
                                          class 0 -> hate=1, classes 1 and 2 -> hate=0
olid (CC BY 4.0)            offensive,    subtask_a OFF -> 1, NOT -> 0;
                            targeted      OFF with subtask_b TIN (targeted insult or
                                          threat) -> targeted=1, UNT or NOT -> 0
stormfront (CC BY-SA 3.0)   hate          label hate -> 1, noHate -> 0
                                          (relation, idk/skip dropped)
sms_spam (CC BY 4.0)        spam          spam -> 1, ham -> 0
==========================  ============  ===============================================

Texts are de-duplicated per dataset (a text whose copies disagree on a label is dropped) and
split once, stratified by label combination, with a fixed seed: 20 % test (never used for
training or tuning), then a validation slice of the rest for model selection and thresholds.
The split depends only on the data and the seed, not on library versions, so later models
(e.g. a fine-tuned one) can be evaluated on exactly the same held-out texts.

This module needs only the standard library and numpy.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

CATEGORIES: tuple[str, ...] = ("offensive", "hate", "spam", "targeted")
SPLIT_CATEGORIES: tuple[str, ...] = ("offensive", "hate", "spam")
"""Categories that stratify the splits. ``targeted`` was added later and is left out so the
held-out test texts stay exactly those of the first models (their digests are in the
manifests)."""
UNKNOWN = -1

LabelArray = npt.NDArray[np.int8]
IndexArray = npt.NDArray[np.int64]

_MENTION_RE = re.compile(r"@[A-Za-z0-9_]{1,30}")
_URL_RE = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_RT_RE = re.compile(r"(?:^|(?<=\s))RT\s+(?=@USER)")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Dataset:
    """One corpus: texts plus a label matrix over :data:`CATEGORIES` (``-1`` = unlabelled)."""

    name: str
    licence: str
    source: str
    texts: tuple[str, ...]
    labels: LabelArray  # shape (n, len(CATEGORIES)), int8
    dropped_conflicts: int
    dropped_duplicates: int

    @property
    def labelled_categories(self) -> tuple[str, ...]:
        return tuple(c for j, c in enumerate(CATEGORIES) if (self.labels[:, j] != UNKNOWN).any())

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`Dataset` for train / validation / test."""

    train: IndexArray
    val: IndexArray
    test: IndexArray


def _label_row(**labels: int) -> tuple[int, ...]:
    return tuple(labels.get(c, UNKNOWN) for c in CATEGORIES)


def _dedupe(
    name: str, licence: str, source: str, rows: Iterator[tuple[str, tuple[int, ...]]]
) -> Dataset:
    seen: dict[str, tuple[int, ...] | None] = {}
    duplicates = 0
    for text, row in rows:
        text = _SPACE_RE.sub(" ", text).strip()
        if not text:
            continue
        if text in seen:
            duplicates += 1
            if seen[text] != row:
                seen[text] = None  # conflicting labels: drop every copy
            continue
        seen[text] = row
    kept = [(t, r) for t, r in seen.items() if r is not None]
    conflicts = sum(1 for r in seen.values() if r is None)
    labels = np.array([r for _, r in kept], dtype=np.int8).reshape(len(kept), len(CATEGORIES))
    return Dataset(
        name=name,
        licence=licence,
        source=source,
        texts=tuple(t for t, _ in kept),
        labels=labels,
        dropped_conflicts=conflicts,
        dropped_duplicates=duplicates,
    )


def clean_tweet(text: str) -> str:
    """Align Davidson tweets with OLID's conventions: ``@USER``, ``URL``, no ``RT`` marker."""
    text = html.unescape(text)
    text = _URL_RE.sub("URL", text)
    text = _MENTION_RE.sub("@USER", text)
    text = _RT_RE.sub("", text)
    return text


def load_davidson(root: Path) -> Dataset:
    path = root / "davidson2017" / "labeled_data.csv"

    def rows() -> Iterator[tuple[str, tuple[int, ...]]]:
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                cls = int(rec["class"])
                yield (
                    clean_tweet(rec["tweet"]),
                    _label_row(offensive=int(cls in (0, 1)), hate=int(cls == 0)),
                )

    return _dedupe("davidson2017", "MIT", "Davidson et al. 2017 (ICWSM)", rows())


def load_olid(root: Path) -> Dataset:
    path = root / "olid" / "olid-training-v1.0.tsv"

    def rows() -> Iterator[tuple[str, tuple[int, ...]]]:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            for rec in reader:
                label = rec["subtask_a"]
                if label not in ("OFF", "NOT"):
                    continue
                targeted = int(label == "OFF" and rec["subtask_b"] == "TIN")
                yield (
                    html.unescape(rec["tweet"]),
                    _label_row(offensive=int(label == "OFF"), targeted=targeted),
                )

    return _dedupe("olid", "CC BY 4.0", "OLID v1.0 training split (Zampieri et al. 2019)", rows())


def load_stormfront(root: Path) -> Dataset:
    path = root / "stormfront_degibert2018" / "stormfront.csv"

    def rows() -> Iterator[tuple[str, tuple[int, ...]]]:
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                label = rec["label"]
                if label not in ("hate", "noHate"):
                    continue
                yield html.unescape(rec["text"]), _label_row(hate=int(label == "hate"))

    return _dedupe("stormfront", "CC BY-SA 3.0", "de Gibert et al. 2018 (Stormfront, ALW2)", rows())


def load_sms_spam(root: Path) -> Dataset:
    path = root / "sms_spam_collection" / "SMSSpamCollection.tsv"

    def rows() -> Iterator[tuple[str, tuple[int, ...]]]:
        with path.open(encoding="utf-8", newline="") as fh:
            for lineno, line in enumerate(fh):
                line = line.rstrip("\n")
                if not line or (lineno == 0 and line.startswith("Label\t")):
                    continue
                label, _, text = line.partition("\t")
                if label not in ("spam", "ham"):
                    raise ValueError(f"{path}:{lineno + 1}: unexpected label {label!r}")
                yield html.unescape(text), _label_row(spam=int(label == "spam"))

    return _dedupe("sms_spam", "CC BY 4.0", "SMS Spam Collection v.1 (Almeida et al. 2011)", rows())


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "davidson2017": load_davidson,
    "olid": load_olid,
    "stormfront": load_stormfront,
    "sms_spam": load_sms_spam,
}


def load_all(root: Path) -> list[Dataset]:
    """Load every corpus under ``root`` (``shared/data``), in a fixed order."""
    return [loader(root) for loader in LOADERS.values()]


def _rng(seed: int, *parts: str) -> np.random.Generator:
    digest = hashlib.sha256("/".join((str(seed), *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _stratified_take(
    indices: IndexArray,
    strata: Sequence[tuple[int, ...]],
    fraction: float,
    rng: np.random.Generator,
) -> tuple[IndexArray, IndexArray]:
    """Split ``indices`` into (taken, rest) with ``fraction`` of every stratum taken."""
    taken: list[int] = []
    rest: list[int] = []
    by_stratum: dict[tuple[int, ...], list[int]] = {}
    for i in indices.tolist():
        by_stratum.setdefault(strata[i], []).append(i)
    for key in sorted(by_stratum):
        members = np.array(by_stratum[key], dtype=np.int64)
        rng.shuffle(members)
        n_take = round(fraction * len(members))
        taken.extend(members[:n_take].tolist())
        rest.extend(members[n_take:].tolist())
    return np.sort(np.array(taken, dtype=np.int64)), np.sort(np.array(rest, dtype=np.int64))


def _stratified_cap(
    indices: IndexArray, strata: Sequence[tuple[int, ...]], cap: int, rng: np.random.Generator
) -> IndexArray:
    if len(indices) <= cap:
        return indices
    taken, _ = _stratified_take(indices, strata, cap / len(indices), rng)
    return taken


def split_dataset(
    ds: Dataset,
    *,
    seed: int,
    test_fraction: float = 0.2,
    val_fraction: float = 0.15,
    max_val: int | None = None,
    max_train: int | None = None,
) -> Split:
    """Deterministic stratified split of ``ds``.

    The test split depends only on (texts, labels, seed, test_fraction): capping train or
    validation never changes which texts are held out for testing.
    """
    columns = [CATEGORIES.index(c) for c in SPLIT_CATEGORIES]
    strata = [tuple(int(v) for v in row[columns]) for row in ds.labels]
    everything = np.arange(len(ds), dtype=np.int64)
    test, rest = _stratified_take(everything, strata, test_fraction, _rng(seed, ds.name, "test"))
    val, train = _stratified_take(rest, strata, val_fraction, _rng(seed, ds.name, "val"))
    if max_val is not None:
        val = _stratified_cap(val, strata, max_val, _rng(seed, ds.name, "val-cap"))
    if max_train is not None:
        train = _stratified_cap(train, strata, max_train, _rng(seed, ds.name, "train-cap"))
    return Split(train=train, val=val, test=test)


def texts_digest(texts: Sequence[str]) -> str:
    """Order-independent sha256 over a set of texts (to pin a split in a manifest)."""
    digest = hashlib.sha256()
    for text in sorted(texts):
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()
