"""Evasion attacks on chat text, and how much they cost a classifier with and without
:func:`~classifiers.normalize.normalize_text`.

Attacks
-------
Each attack is a deterministic function ``attack(text, seed=0) -> str``: its random choices
come from a ``random.Random`` seeded with the attack name, the seed and the text, so a text
is perturbed the same way whatever else is evaluated with it. Every attack perturbs **every
word of three or more ASCII letters** (the simplest choice that does not need to know which
words are toxic); it leaves @mentions, #hashtags, URLs, e-mail addresses and the datasets'
``URL``/``USER`` placeholders alone, as a sender would.

====================  =====================================================================
attack                what happens to each word
====================  =====================================================================
homoglyph             each letter that has a Cyrillic or Greek lookalike is swapped for one
                      with probability 1/2 (at least one per word): ``ѕtuрid``
fullwidth             every letter becomes its fullwidth form: ``ｓｔｕｐｉｄ``
math_alnum            every letter becomes a mathematical alphanumeric in one randomly
                      chosen style (bold, italic, script, fraktur, double-struck, ...)
zero_width            U+200B, U+200D or U+FEFF after each letter but the last with
                      probability 1/2 (at least one per word)
leetspeak             ``a→4/@ e→3 i→1/! o→0 s→5/$ t→7 l→1/|``, each applicable letter with
                      probability 1/2 (at least one per word): ``5tup1d``
letter_spacing        letters separated by one space (p=1/2), dot or dash (p=1/4 each);
                      a space-spaced word gets an extra space on both sides so that word
                      boundaries stay visible: ``y o u  a r e  s t u p i d``
inserted_punctuation  one of ``. - _ * ' ~`` inserted at a random position inside the word
stretched_letters     one random letter repeated 2-4 extra times: ``stuuupid``
====================  =====================================================================

Evaluation (command line)
-------------------------
``python -m classifiers.evasion --model onnx_models/minilm-multitask-v2 --data ../shared/data
--category offensive [--limit 1500] [--json]`` takes the fixed held-out *test* split
(:func:`classifiers.training_data.split_dataset` with the model manifest's seed and test
fraction; the split is checked against the digests in the manifest) of every dataset that
labels the category, optionally a stratified seeded sample of it, and scores the clean texts
and each attack's perturbed texts, positives and negatives alike. With normalization the
texts go through ``normalize_text`` exactly as in the pipeline; without it they are scored
as they are. For every attack it reports recall at the manifest threshold on the positives
(clean vs perturbed) and its ratio, ROC-AUC clean vs perturbed and the difference, and
pass/fail against the targets: recall ratio ≥ 0.95 and |ΔAUC| ≤ 0.02. It also reports the
share of texts whose normalized perturbed form equals the normalized clean one
("recovered"), what normalization does to clean text, idempotence, and the speed of
``normalize_text``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.base import Classifier
from classifiers.normalize import normalize_text

Attack = Callable[..., str]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RECALL_RATIO_TARGET = 0.95
AUC_DELTA_TARGET = 0.02
DEFAULT_SPLIT_SEED = 20240607
DEFAULT_TEST_FRACTION = 0.2

# ------------------------------------------------------------------------------ attacks
_SKIP_RE = re.compile(
    r"(?:https?|ftp)://\S+|www\.\S+|[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)+|[@#]\w+", re.IGNORECASE
)
_WORD_RE = re.compile(r"(?<![A-Za-z])[A-Za-z]{3,}(?![A-Za-z])")
_PLACEHOLDERS = frozenset({"URL", "USER"})

WordFn = Callable[[str, random.Random], str]


def _perturb(text: str, name: str, seed: int, word_fn: WordFn) -> str:
    rng = random.Random(f"{name}\x00{seed}\x00{text}")
    skip = [m.span() for m in _SKIP_RE.finditer(text)]
    out: list[str] = []
    pos = 0
    for match in _WORD_RE.finditer(text):
        start, end = match.span()
        word = match.group()
        if word in _PLACEHOLDERS or any(a <= start < b for a, b in skip):
            continue
        out.append(text[pos:start])
        out.append(word_fn(word, rng))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _substitute(word: str, rng: random.Random, table: Mapping[str, str]) -> str:
    """Swap each letter found in ``table`` with probability 1/2, at least one per word."""
    chars = list(word)
    candidates = [i for i, ch in enumerate(chars) if ch in table]
    if not candidates:
        return word
    chosen = [i for i in candidates if rng.random() < 0.5] or [rng.choice(candidates)]
    for i in chosen:
        chars[i] = rng.choice(table[chars[i]])
    return "".join(chars)


HOMOGLYPHS: dict[str, str] = {
    "a": "аα", "c": "сϲ", "d": "ԁ", "e": "еε", "h": "һ", "i": "іι", "j": "ј", "k": "кκ",
    "l": "ӏ", "o": "оο", "p": "рρ", "q": "ԛ", "s": "ѕ", "t": "τ", "u": "υ", "v": "ν",
    "w": "ԝ", "x": "хχ", "y": "уγ",
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "ІΙ", "J": "Ј", "K": "КΚ",
    "M": "МΜ", "N": "Ν", "O": "ОΟ", "P": "РΡ", "S": "Ѕ", "T": "ТΤ", "X": "ХΧ", "Y": "УΥ",
    "Z": "Ζ",
}  # fmt: skip
"""Latin letter -> Cyrillic/Greek lookalikes used by :func:`homoglyph`."""

LEET: dict[str, str] = {
    "a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "l": "1|",
    "A": "4@", "E": "3", "I": "1!", "O": "0", "S": "5$", "T": "7", "L": "1|",
}  # fmt: skip
"""Letter -> leetspeak substitutes used by :func:`leetspeak`."""

ZERO_WIDTH = ("\u200b", "\u200d", "\ufeff")
INSERTED_PUNCTUATION = ".-_*'~"
_MATH_STYLES = (
    "BOLD",
    "ITALIC",
    "BOLD ITALIC",
    "SCRIPT",
    "BOLD SCRIPT",
    "FRAKTUR",
    "DOUBLE-STRUCK",
    "BOLD FRAKTUR",
    "SANS-SERIF",
    "SANS-SERIF BOLD",
    "SANS-SERIF ITALIC",
    "SANS-SERIF BOLD ITALIC",
    "MONOSPACE",
)
_LETTERLIKE_STYLE = {
    "SCRIPT": "SCRIPT",
    "FRAKTUR": "BLACK-LETTER",
    "DOUBLE-STRUCK": "DOUBLE-STRUCK",
}


def _math_table(style: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        case = "CAPITAL" if letter.isupper() else "SMALL"
        names = [f"MATHEMATICAL {style} {case} {letter.upper()}"]
        if style in _LETTERLIKE_STYLE:  # holes in the block live in Letterlike Symbols
            names.append(f"{_LETTERLIKE_STYLE[style]} {case} {letter.upper()}")
        if style == "ITALIC" and letter == "h":
            names.append("PLANCK CONSTANT")
        for name in names:
            try:
                table[letter] = unicodedata.lookup(name)
                break
            except KeyError:
                continue
    return table


MATH_ALPHABETS: dict[str, dict[str, str]] = {s: _math_table(s) for s in _MATH_STYLES}
"""Style -> letter -> mathematical alphanumeric (or Letterlike Symbols) character."""


def _homoglyph_word(word: str, rng: random.Random) -> str:
    return _substitute(word, rng, HOMOGLYPHS)


def _fullwidth_word(word: str, rng: random.Random) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in word)


def _math_word(word: str, rng: random.Random) -> str:
    alphabet = MATH_ALPHABETS[rng.choice(_MATH_STYLES)]
    return "".join(alphabet.get(ch, ch) for ch in word)


def _zero_width_word(word: str, rng: random.Random) -> str:
    gaps = list(range(1, len(word)))
    chosen = set(i for i in gaps if rng.random() < 0.5) or {rng.choice(gaps)}
    return "".join(
        (rng.choice(ZERO_WIDTH) if i in chosen else "") + ch for i, ch in enumerate(word)
    )


def _leet_word(word: str, rng: random.Random) -> str:
    return _substitute(word, rng, LEET)


def _spacing_word(word: str, rng: random.Random) -> str:
    sep = rng.choice((" ", " ", ".", "-"))
    spaced = sep.join(word)
    return f" {spaced} " if sep == " " else spaced


def _punctuation_word(word: str, rng: random.Random) -> str:
    pos = rng.randrange(1, len(word))
    return word[:pos] + rng.choice(INSERTED_PUNCTUATION) + word[pos:]


def _stretch_word(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    return word[: i + 1] + word[i] * rng.randint(2, 4) + word[i + 1 :]


def homoglyph(text: str, seed: int = 0) -> str:
    """Swap letters for Cyrillic/Greek lookalikes (``ѕtuрid``)."""
    return _perturb(text, "homoglyph", seed, _homoglyph_word)


def fullwidth(text: str, seed: int = 0) -> str:
    """Write words in fullwidth letters (``ｓｔｕｐｉｄ``)."""
    return _perturb(text, "fullwidth", seed, _fullwidth_word)


def math_alnum(text: str, seed: int = 0) -> str:
    """Write words in mathematical alphanumeric letters (``𝐬𝐭𝐮𝐩𝐢𝐝``, ``𝔰𝔱𝔲𝔭𝔦𝔡``)."""
    return _perturb(text, "math_alnum", seed, _math_word)


def zero_width(text: str, seed: int = 0) -> str:
    """Insert zero-width characters between letters (``st\\u200bupid``)."""
    return _perturb(text, "zero_width", seed, _zero_width_word)


def leetspeak(text: str, seed: int = 0) -> str:
    """Replace letters by digits and symbols (``5tup1d``)."""
    return _perturb(text, "leetspeak", seed, _leet_word)


def letter_spacing(text: str, seed: int = 0) -> str:
    """Separate letters by spaces, dots or dashes (``s t u p i d``, ``s.t.u.p.i.d``)."""
    return _perturb(text, "letter_spacing", seed, _spacing_word)


def inserted_punctuation(text: str, seed: int = 0) -> str:
    """Insert one punctuation character inside each word (``st.upid``)."""
    return _perturb(text, "inserted_punctuation", seed, _punctuation_word)


def stretched_letters(text: str, seed: int = 0) -> str:
    """Repeat one letter of each word (``stuuupid``)."""
    return _perturb(text, "stretched_letters", seed, _stretch_word)


ATTACKS: dict[str, Attack] = {
    "homoglyph": homoglyph,
    "fullwidth": fullwidth,
    "math_alnum": math_alnum,
    "zero_width": zero_width,
    "leetspeak": leetspeak,
    "letter_spacing": letter_spacing,
    "inserted_punctuation": inserted_punctuation,
    "stretched_letters": stretched_letters,
}


# ------------------------------------------------------------------------------ metrics


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC-AUC (Mann-Whitney U with average ranks for ties); NaN without both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average rank (1-based) of every run of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(s)]))
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def recall_at(scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float) -> float:
    """Share of positives scored at or above ``threshold`` (the pipeline's ``>=``)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if not y.any():
        return float("nan")
    return float((s[y] >= threshold).mean())


@dataclass(frozen=True)
class Comparison:
    """Clean vs perturbed scores of one condition (with or without normalization)."""

    recall_clean: float
    recall_perturbed: float
    recall_ratio: float
    auc_clean: float
    auc_perturbed: float
    auc_delta: float
    passed: bool
    fpr_clean: float
    """Share of negatives at or above the threshold (not a target; shows score inflation)."""
    fpr_perturbed: float

    @classmethod
    def of(
        cls, clean: FloatArray, perturbed: FloatArray, labels: IntArray, threshold: float
    ) -> Comparison:
        rc = recall_at(clean, labels, threshold)
        rp = recall_at(perturbed, labels, threshold)
        ac = roc_auc(clean, labels)
        ap = roc_auc(perturbed, labels)
        ratio = rp / rc if rc > 0 else float("nan")
        delta = ap - ac
        passed = bool(ratio >= RECALL_RATIO_TARGET and abs(delta) <= AUC_DELTA_TARGET)
        negatives = 1 - np.asarray(labels)
        fc = recall_at(clean, negatives, threshold)
        fp = recall_at(perturbed, negatives, threshold)
        return cls(rc, rp, ratio, ac, ap, delta, passed, fc, fp)


@dataclass(frozen=True)
class AttackResult:
    attack: str
    normalized: Comparison
    raw: Comparison
    changed: float
    """Share of texts the attack changed."""
    recovered: float
    """Share of texts whose normalized perturbed form has the same words and punctuation as
    the normalized clean one, ignoring case (:func:`same_tokens`)."""
    normalize_us: float
    """Mean ``normalize_text`` time per perturbed text, microseconds."""


@dataclass(frozen=True)
class SpeedReport:
    clean_mean_us: float
    clean_p50_us: float
    clean_p99_us: float
    clean_max_us: float
    perturbed_mean_us: float
    repeats: int


@dataclass
class Report:
    category: str
    model_version: str
    threshold: float
    n_texts: int
    n_positives: int
    n_test_available: int
    datasets: dict[str, dict[str, Any]]
    split_seed: int
    sample_seed: int
    attack_seed: int
    clean: Comparison
    """Raw clean text (``clean_*``) vs normalized clean text (``*_perturbed``): the harm."""
    clean_changed_by_normalization: float
    attacks: list[AttackResult] = field(default_factory=list)
    speed: SpeedReport | None = None
    non_idempotent: int = 0
    scored_texts: int = 0
    seconds: float = 0.0

    @property
    def all_passed(self) -> bool:
        return all(a.normalized.passed for a in self.attacks)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["all_passed"] = self.all_passed
        out["targets"] = {
            "recall_ratio_min": RECALL_RATIO_TARGET,
            "auc_delta_abs_max": AUC_DELTA_TARGET,
        }
        return out


# ------------------------------------------------------------------------------ evaluation


class CachedScorer:
    """Scores texts for one category column, scoring each distinct text once."""

    def __init__(self, classifier: Classifier, category: str) -> None:
        self._classifier = classifier
        self._column = classifier.categories.index(category)
        self._cache: dict[str, float] = {}

    @property
    def scored(self) -> int:
        return len(self._cache)

    def __call__(self, texts: Sequence[str]) -> FloatArray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            scores = self._classifier.predict(missing)[:, self._column]
            self._cache.update(zip(missing, (float(s) for s in scores), strict=True))
        return np.array([self._cache[t] for t in texts], dtype=np.float64)


def _time_normalize(texts: Sequence[str], repeats: int) -> list[float]:
    """Per-text ``normalize_text`` time in microseconds (best of ``repeats``)."""
    best = [float("inf")] * len(texts)
    clock = time.perf_counter_ns
    for _ in range(repeats):
        for i, text in enumerate(texts):
            t0 = clock()
            normalize_text(text)
            elapsed = (clock() - t0) / 1000.0
            if elapsed < best[i]:
                best[i] = elapsed
    return best


def _collapse(text: str) -> str:
    return " ".join(text.split())


_PRETOKEN_RE = re.compile(r"\w+|[^\w\s]")


def same_tokens(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` split into the same words and punctuation, ignoring case (what
    an uncased BERT pre-tokenizer sees: "stupid ." and "Stupid." are the same)."""
    return _PRETOKEN_RE.findall(a.casefold()) == _PRETOKEN_RE.findall(b.casefold())


def evaluate(
    classifier: Classifier,
    texts: Sequence[str],
    labels: npt.ArrayLike,
    *,
    category: str,
    attacks: Mapping[str, Attack] | None = None,
    attack_seed: int = 0,
    speed_repeats: int = 3,
    progress: Callable[[str], None] | None = None,
    report_fields: Mapping[str, Any] | None = None,
) -> Report:
    """Score clean and attacked ``texts`` with and without normalization; see module doc."""
    started = time.perf_counter()
    y = np.asarray(labels, dtype=np.int64)
    threshold = float(classifier.thresholds[category])
    attacks = ATTACKS if attacks is None else attacks
    score = CachedScorer(classifier, category)
    say = progress or (lambda _msg: None)

    say(f"scoring {len(texts)} clean texts")
    clean_norm_texts = [normalize_text(t) for t in texts]
    clean_raw = score(list(texts))
    clean_norm = score(clean_norm_texts)
    changed_clean = float(
        np.mean([n != _collapse(t) for t, n in zip(texts, clean_norm_texts, strict=True)])
    )
    fields = dict(report_fields or {})
    report = Report(
        category=category,
        model_version=classifier.version,
        threshold=threshold,
        n_texts=len(texts),
        n_positives=int(y.sum()),
        n_test_available=int(fields.pop("n_test_available", len(texts))),
        datasets=dict(fields.pop("datasets", {})),
        split_seed=int(fields.pop("split_seed", DEFAULT_SPLIT_SEED)),
        sample_seed=int(fields.pop("sample_seed", 0)),
        attack_seed=attack_seed,
        clean=Comparison.of(clean_raw, clean_norm, y, threshold),
        clean_changed_by_normalization=changed_clean,
    )
    normalized_outputs: list[str] = list(clean_norm_texts)
    perturbed_times: list[float] = []
    for name, attack in attacks.items():
        say(f"attack {name}")
        perturbed = [attack(t, attack_seed) for t in texts]
        t0 = time.perf_counter()
        perturbed_norm = [normalize_text(p) for p in perturbed]
        per_text_us = (time.perf_counter() - t0) * 1e6 / max(len(texts), 1)
        perturbed_times.append(per_text_us)
        normalized_outputs.extend(perturbed_norm)
        raw_scores = score(perturbed)
        norm_scores = score(perturbed_norm)
        report.attacks.append(
            AttackResult(
                attack=name,
                normalized=Comparison.of(clean_norm, norm_scores, y, threshold),
                raw=Comparison.of(clean_raw, raw_scores, y, threshold),
                changed=float(np.mean([p != t for p, t in zip(perturbed, texts, strict=True)])),
                recovered=float(
                    np.mean(
                        [
                            same_tokens(a, b)
                            for a, b in zip(perturbed_norm, clean_norm_texts, strict=True)
                        ]
                    )
                ),
                normalize_us=per_text_us,
            )
        )
    say("timing normalize_text")
    times = _time_normalize(texts, speed_repeats)
    report.speed = SpeedReport(
        clean_mean_us=statistics.fmean(times) if times else 0.0,
        clean_p50_us=float(np.percentile(times, 50)) if times else 0.0,
        clean_p99_us=float(np.percentile(times, 99)) if times else 0.0,
        clean_max_us=max(times) if times else 0.0,
        perturbed_mean_us=statistics.fmean(perturbed_times) if perturbed_times else 0.0,
        repeats=speed_repeats,
    )
    report.non_idempotent = sum(normalize_text(t) != t for t in normalized_outputs)
    report.scored_texts = score.scored
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------------------ data


def _stratified_sample(strata: Sequence[tuple[str, int]], limit: int, seed: int) -> IntArray:
    """Indices of a seeded sample of ``limit`` items, proportional per stratum."""
    n = len(strata)
    if limit <= 0 or limit >= n:
        return np.arange(n, dtype=np.int64)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(strata):
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    quotas = {k: limit * len(groups[k]) / n for k in keys}
    counts = {k: int(quotas[k]) for k in keys}
    by_remainder = sorted(keys, key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in by_remainder[: limit - sum(counts.values())]:
        counts[k] += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for k in keys:
        members = np.array(groups[k], dtype=np.int64)
        chosen.extend(rng.choice(members, size=counts[k], replace=False).tolist())
    return np.sort(np.array(chosen, dtype=np.int64))


def load_test_split(
    data: Path,
    category: str,
    *,
    seed: int,
    test_fraction: float,
    expected_digests: Mapping[str, str] | None = None,
) -> tuple[list[str], IntArray, list[str], dict[str, dict[str, Any]]]:
    """Texts, labels and dataset names of the held-out test split labelling ``category``."""
    from classifiers import training_data as td

    column = td.CATEGORIES.index(category)
    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    info: dict[str, dict[str, Any]] = {}
    for name, loader in td.LOADERS.items():
        ds = loader(data)
        if category not in ds.labelled_categories:
            continue
        split = td.split_dataset(ds, seed=seed, test_fraction=test_fraction)
        test_texts = [ds.texts[i] for i in split.test.tolist()]
        digest = td.texts_digest(test_texts)
        expected = (expected_digests or {}).get(name)
        kept = 0
        for i in split.test.tolist():
            label = int(ds.labels[i, column])
            if label == td.UNKNOWN:
                continue
            texts.append(ds.texts[i])
            labels.append(label)
            sources.append(name)
            kept += 1
        info[name] = {
            "test_texts": kept,
            "test_digest_matches_manifest": None if expected is None else digest == expected,
        }
    if not texts:
        raise SystemExit(f"no dataset under {data} labels category {category!r}")
    return texts, np.array(labels, dtype=np.int64), sources, info


# ------------------------------------------------------------------------------ output


def _fmt(x: float, digits: int = 3) -> str:
    return "  nan" if x != x else f"{x:.{digits}f}"


def format_report(report: Report) -> str:
    lines: list[str] = []
    ds = ", ".join(
        f"{name} ({v['test_texts']} test texts"
        + (
            ""
            if v["test_digest_matches_manifest"] is None
            else (
                ", split = manifest"
                if v["test_digest_matches_manifest"]
                else ", SPLIT DIFFERS FROM MANIFEST"
            )
        )
        + ")"
        for name, v in report.datasets.items()
    )
    lines.append(
        f"Evasion robustness of {report.model_version}, category {report.category!r}, "
        f"threshold {report.threshold:.4f}"
    )
    lines.append(f"Held-out test split: {ds}; split seed {report.split_seed}")
    lines.append(
        f"Evaluated {report.n_texts} of {report.n_test_available} test texts "
        f"({report.n_positives} positives; stratified sample seed {report.sample_seed}); "
        f"attack seed {report.attack_seed}"
    )
    lines.append(
        f"Targets per attack: recall(perturbed)/recall(clean) >= {RECALL_RATIO_TARGET}, "
        f"|AUC(perturbed) - AUC(clean)| <= {AUC_DELTA_TARGET}"
    )
    lines.append("")
    header = (
        f"{'attack':<21} {'changed':>7} {'recov':>6} | "
        f"{'with normalize_text: recall':>27} {'ratio':>6} {'AUC':>13} {'dAUC':>7} {'pass':>4} | "
        f"{'without: recall':>15} {'ratio':>6} {'AUC':>13} {'dAUC':>7} {'pass':>4}"
    )
    lines.append(header)
    lines.append("-" * len(header))

    def row(name: str, changed: str, recov: str, n: Comparison, r: Comparison) -> str:
        return (
            f"{name:<21} {changed:>7} {recov:>6} | "
            f"{_fmt(n.recall_clean) + ' -> ' + _fmt(n.recall_perturbed):>27} "
            f"{_fmt(n.recall_ratio):>6} "
            f"{_fmt(n.auc_clean) + '->' + _fmt(n.auc_perturbed):>13} "
            f"{n.auc_delta:>+7.3f} {'yes' if n.passed else 'NO':>4} | "
            f"{_fmt(r.recall_clean) + '->' + _fmt(r.recall_perturbed):>15} "
            f"{_fmt(r.recall_ratio):>6} "
            f"{_fmt(r.auc_clean) + '->' + _fmt(r.auc_perturbed):>13} "
            f"{r.auc_delta:>+7.3f} {'yes' if r.passed else 'NO':>4}"
        )

    for a in report.attacks:
        lines.append(row(a.attack, f"{a.changed:.1%}", f"{a.recovered:.1%}", a.normalized, a.raw))
    lines.append("")
    c = report.clean
    lines.append(
        "Clean text, raw -> normalized (harm check): "
        f"recall {_fmt(c.recall_clean)} -> {_fmt(c.recall_perturbed)}, "
        f"AUC {_fmt(c.auc_clean, 4)} -> {_fmt(c.auc_perturbed, 4)} ({c.auc_delta:+.4f}); "
        f"normalization changed {report.clean_changed_by_normalization:.1%} of clean texts "
        "beyond whitespace"
    )
    if report.speed is not None:
        s = report.speed
        lines.append(
            f"normalize_text speed: clean texts mean {s.clean_mean_us:.1f} us/message "
            f"(p50 {s.clean_p50_us:.1f}, p99 {s.clean_p99_us:.1f}, max {s.clean_max_us:.1f}; "
            f"best of {s.repeats}); perturbed texts mean {s.perturbed_mean_us:.1f} us/message"
        )
    lines.append(
        f"Idempotence: {report.non_idempotent} normalized texts change under a second "
        "normalize_text"
    )
    lines.append(
        f"Scored {report.scored_texts} distinct texts in {report.seconds:.0f} s. "
        f"All attacks pass with normalization: {'yes' if report.all_passed else 'NO'}"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m classifiers.evasion",
        description="Measure a classifier's robustness to text-obfuscation attacks.",
    )
    parser.add_argument("--model", type=Path, required=True, help="model directory")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--category", default="offensive")
    parser.add_argument(
        "--limit",
        type=int,
        default=1500,
        help="stratified seeded sample of the test split (0: all of it)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sample and attack seed")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--json-out", type=Path, help="also write the JSON report to this file")
    parser.add_argument(
        "--show-unrecovered",
        type=int,
        default=0,
        metavar="N",
        help="print up to N texts per attack whose normalized form differs from the clean one",
    )
    args = parser.parse_args(argv)

    from classifiers.onnx_classifier import OnnxClassifier

    unknown = [a for a in args.attacks.split(",") if a not in ATTACKS]
    if unknown:
        parser.error(f"unknown attacks {unknown}; known: {', '.join(ATTACKS)}")
    attacks = {a: ATTACKS[a] for a in args.attacks.split(",")}

    classifier = OnnxClassifier(args.model, intra_op_threads=args.threads)
    if args.category not in classifier.categories:
        parser.error(f"model has no category {args.category!r}: {classifier.categories}")
    training = classifier.manifest.training
    split_cfg = training.get("split", {})
    split_seed = int(training.get("seed", DEFAULT_SPLIT_SEED))
    test_fraction = float(split_cfg.get("test_fraction", DEFAULT_TEST_FRACTION))
    digests = {
        name: str(d["test_texts_sha256"])
        for name, d in training.get("datasets", {}).items()
        if isinstance(d, dict) and "test_texts_sha256" in d
    }
    texts, labels, sources, info = load_test_split(
        args.data,
        args.category,
        seed=split_seed,
        test_fraction=test_fraction,
        expected_digests=digests,
    )
    picked = _stratified_sample(
        list(zip(sources, labels.tolist(), strict=True)), args.limit, args.seed
    )
    sample = [texts[i] for i in picked.tolist()]

    def progress(msg: str) -> None:
        print(f"[evasion] {msg}", file=sys.stderr, flush=True)

    report = evaluate(
        classifier,
        sample,
        labels[picked],
        category=args.category,
        attacks=attacks,
        attack_seed=args.seed,
        progress=progress,
        report_fields={
            "n_test_available": len(texts),
            "datasets": info,
            "split_seed": split_seed,
            "sample_seed": args.seed,
        },
    )
    if args.show_unrecovered:
        for name, attack in attacks.items():
            shown = 0
            for text in sample:
                clean = normalize_text(text)
                perturbed = attack(text, args.seed)
                got = normalize_text(perturbed)
                if not same_tokens(got, clean) and shown < args.show_unrecovered:
                    print(
                        f"[{name}] {clean!r}\n    -> {perturbed!r}\n    -> {got!r}", file=sys.stderr
                    )
                    shown += 1
    encoded = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
    if args.json_out is not None:
        args.json_out.write_text(encoded + "\n", encoding="utf-8")
    if args.json:
        print(encoded)
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
