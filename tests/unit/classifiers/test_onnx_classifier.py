"""The shipped ONNX classifier: shape/range contract, ordering, sanity, tamper refusal."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers import (
    DEFAULT_MODEL_DIR,
    Classifier,
    ModelIntegrityError,
    OnnxClassifier,
    load_classifier,
)
from classifiers.manifest import Manifest

# Largest |score(text in a padded multi-text sub-batch) - score(text alone)| we accept.
# Measured on the shipped dynamic-int8 model: up to ~0.2 with padded batches of 32 mixed
# test texts (metrics.batch_dependence in manifest.json); fp32 differs by < 1e-6. Dynamic
# quantization scales activations per sub-batch, hence the loose bound for int8.
MULTI_TEXT_SUB_BATCH_TOL = 0.3
# Same text, same sub-batch contents: only float rounding may differ.
EXACT_TOL = 1e-5

TEXTS = [
    "have a nice day",
    "",
    "you are a stupid idiot",
    "URGENT! You have won a 1 week FREE membership in our prize jackpot! Txt the word CLAIM "
    "to 81010 now to collect your reward. T&C apply, 18+ only",
    "ok",
    "I really enjoyed the match last night, the second half was brilliant and the keeper "
    "made some incredible saves. Can't wait for the next one on Saturday!",
    "lol",
    "what time is the meeting tomorrow?",
    "shut up you worthless piece of garbage, nobody wants you here",
    "word " * 400,  # longer than max_length: must be truncated, not fail
]


@pytest.fixture(scope="module")
def clf() -> OnnxClassifier:
    return load_classifier()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, dst)
    return dst


def _alone(clf: OnnxClassifier, texts: list[str]) -> np.ndarray:
    return np.concatenate([clf.predict([t]) for t in texts])


def test_implements_protocol(clf: OnnxClassifier) -> None:
    assert isinstance(clf, Classifier)
    assert clf.categories == ("offensive", "hate", "spam", "targeted")
    assert set(clf.thresholds) == set(clf.categories)
    manifest = Manifest.load(DEFAULT_MODEL_DIR)
    assert clf.version == manifest.model_version
    assert clf.version.startswith("minilm-multitask@")


def test_scores_shape_dtype_and_range(clf: OnnxClassifier) -> None:
    scores = clf.predict(TEXTS)
    assert scores.shape == (len(TEXTS), 4)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert (scores >= 0.0).all()
    assert (scores <= 1.0).all()


def test_empty_batch(clf: OnnxClassifier) -> None:
    scores = clf.predict([])
    assert scores.shape == (0, 4)
    assert scores.dtype == np.float32


def test_rejects_bare_string_and_non_text(clf: OnnxClassifier) -> None:
    with pytest.raises(TypeError):
        clf.predict("have a nice day")
    with pytest.raises(TypeError):
        clf.predict(["fine", 42])  # type: ignore[list-item]


def test_default_batch_equals_each_text_alone(clf: OnnxClassifier) -> None:
    # The manifest's max_batch (1 for int8) makes scores independent of batch company.
    assert np.allclose(clf.predict(TEXTS), _alone(clf, TEXTS), atol=EXACT_TOL, rtol=0)


@pytest.mark.parametrize("max_batch", [1, 3, 64])
def test_length_bucketing_preserves_order(max_batch: int) -> None:
    clf = OnnxClassifier(DEFAULT_MODEL_DIR, max_batch=max_batch)
    batched = clf.predict(TEXTS)
    alone = _alone(clf, TEXTS)
    tol = EXACT_TOL if max_batch == 1 else MULTI_TEXT_SUB_BATCH_TOL
    assert np.abs(batched - alone).max() <= tol
    # Rows must follow the input order, not the length-sorted order.
    assert batched[2, 0] > batched[0, 0] + 0.2  # toxic vs benign
    assert batched[3, 2] > batched[0, 2] + 0.2  # spam vs benign


@pytest.mark.parametrize("max_batch", [1, 3, 64])
def test_permuting_inputs_permutes_outputs(max_batch: int) -> None:
    # With max_batch >= len(texts) the single sub-batch has the same contents in any order,
    # so even int8 scores must match tightly; smaller sub-batches may regroup texts.
    clf = OnnxClassifier(DEFAULT_MODEL_DIR, max_batch=max_batch)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    base = clf.predict(TEXTS)
    permuted = clf.predict([TEXTS[i] for i in perm])
    tol = EXACT_TOL if max_batch in (1, 64) else MULTI_TEXT_SUB_BATCH_TOL
    assert np.abs(permuted - base[perm]).max() <= tol


def test_toxic_scores_above_benign(clf: OnnxClassifier) -> None:
    toxic, benign = clf.predict(["you are a stupid idiot", "have a nice day"])
    off = clf.categories.index("offensive")
    assert toxic[off] > benign[off]
    assert toxic[off] >= clf.thresholds["offensive"]
    assert benign[off] < clf.thresholds["offensive"]


def test_sms_spam_scores_high_spam(clf: OnnxClassifier) -> None:
    spam = clf.categories.index("spam")
    scores = clf.predict(
        [
            "Congratulations! You have been selected to receive a FREE 500 pound prize. "
            "Call 09061234567 now to claim, valid 12hrs only. 150p/min",
            "can you pick up some milk on the way home?",
        ]
    )
    assert scores[0, spam] > 0.5
    assert scores[0, spam] >= clf.thresholds["spam"]
    assert scores[1, spam] < clf.thresholds["spam"]


def test_thread_settings_do_not_change_scores(clf: OnnxClassifier) -> None:
    two = OnnxClassifier(DEFAULT_MODEL_DIR, intra_op_threads=2, inter_op_threads=1)
    assert np.allclose(two.predict(TEXTS), clf.predict(TEXTS), atol=EXACT_TOL, rtol=0)


def test_tokenizer_truncates_at_max_length_and_never_pads(clf: OnnxClassifier) -> None:
    assert len(clf.tokenizer.encode("word " * 400).ids) == clf.manifest.max_length
    short = clf.tokenizer.encode_batch(["ok", "have a nice day"])
    assert [len(e.ids) for e in short] == [3, 6]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        OnnxClassifier(DEFAULT_MODEL_DIR, max_batch=0)
    with pytest.raises(ValueError, match="thread"):
        OnnxClassifier(DEFAULT_MODEL_DIR, intra_op_threads=-1)


def test_flipped_model_byte_refuses_to_load(model_copy: Path) -> None:
    model = model_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-100] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.onnx: sha256 mismatch"):
        OnnxClassifier(model_copy)


def test_flipped_tokenizer_byte_refuses_to_load(model_copy: Path) -> None:
    tok = model_copy / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[1000] ^= 0x01
    tok.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json: sha256 mismatch"):
        OnnxClassifier(model_copy)


def test_missing_tokenizer_refuses_to_load(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json"):
        load_classifier(model_copy)


def test_missing_manifest_refuses_to_load(model_copy: Path) -> None:
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"no manifest\.json"):
        load_classifier(model_copy)


def test_intact_copy_loads_with_same_version(model_copy: Path, clf: OnnxClassifier) -> None:
    other = load_classifier(model_copy)
    assert other.version == clf.version
    assert np.array_equal(other.predict(TEXTS[:3]), clf.predict(TEXTS[:3]))


def test_runtime_does_not_import_training_stack() -> None:
    code = (
        "import sys, classifiers\n"
        "classifiers.load_classifier().predict(['hello there'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    repo = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, timeout=120)
