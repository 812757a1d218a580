"""Evasion attacks, robustness metrics and the evaluation command."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from classifiers import evasion
from classifiers.base import Scores
from classifiers.evasion import (
    ATTACKS,
    HOMOGLYPHS,
    MATH_ALPHABETS,
    Comparison,
    evaluate,
    format_report,
    recall_at,
    roc_auc,
    same_tokens,
)
from classifiers.normalize import CONFUSABLES, normalize_text
from classifiers.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = DEFAULT_MODEL_DIR
DATA_DIR = REPO.parent / "shared" / "data"

TEXT = "you are stupid"

# ----------------------------------------------------------------------------- attacks


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_deterministic_and_changes_every_long_word(name: str) -> None:
    attack = ATTACKS[name]
    text = "@USER you are a stupid idiot, see URL #tag"
    first = attack(text, 3)
    assert first == attack(text, 3)
    assert first != text
    words = set(re.findall(r"\w+", first))
    for word in ("you", "are", "stupid", "idiot"):
        assert word not in words, (word, first)
    for kept in ("@USER", "URL", "#tag", " a "):  # mentions, placeholders, short words
        assert kept in first


@pytest.mark.parametrize("name", [n for n in ATTACKS if n != "fullwidth"])
def test_attack_depends_on_seed(name: str) -> None:
    outputs = {ATTACKS[name](TEXT, seed) for seed in range(10)}
    assert len(outputs) > 1


def test_attack_does_not_depend_on_other_texts() -> None:
    # Seeded per text: the same text is perturbed the same way in any batch.
    assert ATTACKS["leetspeak"]("stupid idiot") == ATTACKS["leetspeak"]("stupid idiot", 0)
    assert ATTACKS["homoglyph"]("a b", 0) == "a b"  # nothing of 3+ letters to perturb


def test_attack_examples() -> None:
    assert evasion.fullwidth(TEXT) == "ｙｏｕ ａｒｅ ｓｔｕｐｉｄ"
    assert all(ch in HOMOGLYPHS for ch in "you stupid idiot" if ch != " ")
    spaced = evasion.letter_spacing("stupid", 1)
    assert spaced.replace(" ", "").replace(".", "").replace("-", "") == "stupid"
    assert len(evasion.inserted_punctuation("stupid", 2)) == len("stupid") + 1
    stretched = evasion.stretched_letters("stupid", 4)
    assert 8 <= len(stretched) <= 10
    zw = evasion.zero_width("stupid", 5)
    assert any(ch in zw for ch in evasion.ZERO_WIDTH)
    assert "".join(ch for ch in zw if ch not in evasion.ZERO_WIDTH) == "stupid"


@pytest.mark.parametrize("name", list(ATTACKS))
def test_normalization_recovers_simple_text(name: str) -> None:
    attack = ATTACKS[name]
    misses = []
    for seed in range(40):
        perturbed = attack(TEXT, seed)
        normalized = normalize_text(perturbed)
        if "stupid" not in normalized.lower():
            misses.append(perturbed)
        elif name != "leetspeak":  # "@re" stays: a leading "@" makes a mention
            assert normalized.lower() == TEXT, perturbed
    if name == "inserted_punctuation":
        # Documented limits: "*" between two consonants with a one-letter side is kept (it
        # usually masks a letter, as in "f*ck"), "-" between two parts of 3+ letters is a
        # compound and "'d" an ending ("DM'd") as far as rules without a dictionary can tell.
        assert all(any(w in m for w in ("s*tupid", "stu-pid", "stupi'd")) for m in misses)
    else:
        assert misses == []


def test_attack_alphabets_are_undone_by_normalization() -> None:
    for subs in HOMOGLYPHS.values():
        for ch in subs:
            assert unicodedata.normalize("NFKC", ch) in CONFUSABLES, ch
    for style, alphabet in MATH_ALPHABETS.items():
        assert len(alphabet) == 52, style
        for latin, math in alphabet.items():
            assert unicodedata.normalize("NFKC", math) == latin, (style, latin)


def test_same_tokens() -> None:
    assert same_tokens("you are stupid .", "You are Stupid.")
    assert not same_tokens("youare stupid", "you are stupid")


# ----------------------------------------------------------------------------- metrics


def test_roc_auc() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    # 3 positives x 2 negatives = 6 pairs; 0.4 vs 0.4 is a tie (1/2), 0.3 < 0.35 loses
    assert roc_auc([0.3, 0.4, 0.9, 0.35, 0.4], [1, 1, 1, 0, 0]) == pytest.approx(3.5 / 6)
    assert np.isnan(roc_auc([0.1, 0.2], [1, 1]))


def test_recall_at_uses_the_pipelines_greater_or_equal() -> None:
    assert recall_at([0.5, 0.49, 0.9, 0.1], [1, 1, 1, 0], 0.5) == pytest.approx(2 / 3)
    assert np.isnan(recall_at([0.5], [0], 0.5))


def test_comparison_targets() -> None:
    labels = np.array([1, 1, 1, 1, 0, 0])
    clean = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.2])
    same = Comparison.of(clean, clean, labels, 0.5)
    assert same.passed
    assert same.recall_ratio == 1.0
    assert same.auc_delta == 0.0
    worse = Comparison.of(clean, np.array([0.9, 0.8, 0.7, 0.4, 0.1, 0.2]), labels, 0.5)
    assert worse.recall_ratio == 0.75
    assert not worse.passed


def test_stratified_sample_is_seeded_and_proportional() -> None:
    strata = [("a", 1)] * 60 + [("a", 0)] * 30 + [("b", 1)] * 10
    picked = evasion._stratified_sample(strata, 20, seed=7)
    assert len(picked) == 20
    assert len(set(picked.tolist())) == 20
    assert picked.tolist() == evasion._stratified_sample(strata, 20, seed=7).tolist()
    counts = {k: sum(1 for i in picked.tolist() if strata[i] == k) for k in set(strata)}
    assert counts == {("a", 1): 12, ("a", 0): 6, ("b", 1): 2}
    assert len(evasion._stratified_sample(strata, 0, seed=7)) == 100


# ----------------------------------------------------------------------------- evaluate


class InsultClassifier:
    """Scores 0.9 when a text contains an insult word, else 0.1: blind to every evasion."""

    categories = ("offensive",)
    thresholds: Mapping[str, float] = {"offensive": 0.5}
    version = "insults@test"

    def predict(self, texts: Sequence[str]) -> Scores:
        words = ("stupid", "idiot", "moron")
        return np.array(
            [[0.9 if any(w in t.lower() for w in words) else 0.1] for t in texts],
            dtype=np.float32,
        )


def test_evaluate_shows_what_normalization_recovers() -> None:
    texts = ["you are stupid", "what an idiot", "total moron here", "nice day", "see you soon"]
    labels = [1, 1, 1, 0, 0]
    report = evaluate(InsultClassifier(), texts, labels, category="offensive", speed_repeats=1)
    assert report.n_texts == 5
    assert report.n_positives == 3
    assert report.clean.recall_clean == 1.0
    assert report.clean.auc_perturbed == 1.0
    by_name = {a.attack: a for a in report.attacks}
    assert list(by_name) == list(ATTACKS)
    for name in ("homoglyph", "fullwidth", "math_alnum", "leetspeak", "letter_spacing"):
        assert by_name[name].normalized.passed, name
        assert by_name[name].normalized.recall_perturbed == 1.0
        assert by_name[name].raw.recall_perturbed < 1.0, name  # the attack works unnormalized
        assert not by_name[name].raw.passed
    assert by_name["fullwidth"].raw.recall_perturbed == 0.0
    assert by_name["fullwidth"].recovered == 1.0
    assert report.non_idempotent == 0
    assert report.speed is not None
    assert report.speed.clean_mean_us > 0

    table = format_report(report)
    for name in ATTACKS:
        assert name in table
    assert "normalize_text speed" in table
    encoded = json.loads(json.dumps(report.to_json()))
    assert encoded["attacks"][0]["attack"] == "homoglyph"
    assert encoded["targets"] == {"recall_ratio_min": 0.95, "auc_delta_abs_max": 0.02}


def test_shipped_model_scores_normalized_attacks_like_clean_text() -> None:
    from classifiers.onnx_classifier import OnnxClassifier

    classifier = OnnxClassifier(MODEL_DIR)
    col = classifier.categories.index("offensive")
    text = "you stupid idiot"
    attacked = [attack(text, 0) for attack in ATTACKS.values()]
    clean = float(classifier.predict([normalize_text(text)])[0, col])
    normalized = classifier.predict([normalize_text(a) for a in attacked])[:, col]
    raw = classifier.predict(attacked)[:, col]
    assert clean >= classifier.thresholds["offensive"]
    assert np.allclose(normalized, clean, atol=1e-5)  # every attack fully undone here
    assert raw.min() < classifier.thresholds["offensive"]  # and some of them work without it


def test_command_line_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = evasion.main(
        [
            "--model",
            str(MODEL_DIR),
            "--data",
            str(DATA_DIR),
            "--category",
            "offensive",
            "--limit",
            "24",
            "--attacks",
            "fullwidth,leetspeak",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_texts"] == 24
    assert [a["attack"] for a in out["attacks"]] == ["fullwidth", "leetspeak"]
    assert all(d["test_digest_matches_manifest"] for d in out["datasets"].values())
    assert out["threshold"] == pytest.approx(OnnxClassifier(MODEL_DIR).thresholds["offensive"])
