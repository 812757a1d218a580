"""Manifest parsing and integrity checks for shipped model directories."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from classifiers import DEFAULT_MODEL_DIR, ModelIntegrityError
from classifiers.manifest import (
    MANIFEST_FILE,
    Manifest,
    ManifestNotFoundError,
    sha256_file,
    verify,
)


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, dst)
    return dst


def _raw_manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEFAULT_MODEL_DIR / MANIFEST_FILE).read_text("utf-8"))
    return data


def _write_manifest(model_dir: Path, raw: dict[str, Any]) -> None:
    (model_dir / MANIFEST_FILE).write_text(json.dumps(raw), encoding="utf-8")


def test_shipped_manifest_is_complete_and_verifies() -> None:
    manifest = verify(DEFAULT_MODEL_DIR)
    assert manifest.name == "minilm-multitask"
    assert manifest.version == "2"
    assert manifest.categories == ("offensive", "hate", "spam", "targeted")
    assert set(manifest.thresholds) == set(manifest.categories)
    assert all(0.0 < t < 1.0 for t in manifest.thresholds.values())
    assert manifest.max_length == 128
    assert {"model.onnx", "tokenizer.json"} <= set(manifest.files)
    assert manifest.training["seed"] == 20240607
    assert set(manifest.training["datasets"]) == {"davidson2017", "olid", "stormfront", "sms_spam"}
    assert manifest.metrics["shipped_variant"] in ("fp32", "int8")


def test_model_version_is_name_at_model_hash_prefix() -> None:
    manifest = Manifest.load(DEFAULT_MODEL_DIR)
    digest = sha256_file(DEFAULT_MODEL_DIR / "model.onnx")
    assert manifest.model_version == f"minilm-multitask@{digest[:12]}"
    assert re.fullmatch(r"minilm-multitask@[0-9a-f]{12}", manifest.model_version)


def test_round_trip_through_dict() -> None:
    manifest = Manifest.load(DEFAULT_MODEL_DIR)
    assert Manifest.from_dict(manifest.to_dict()) == manifest


def test_flipped_byte_in_model_is_refused(model_copy: Path) -> None:
    model = model_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    expected = Manifest.load(model_copy).files["model.onnx"]
    with pytest.raises(ModelIntegrityError, match=r"model\.onnx") as info:
        verify(model_copy)
    message = str(info.value)
    assert expected[:12] in message
    assert sha256_file(model)[:12] in message


def test_missing_tokenizer_is_refused(model_copy: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json.*missing"):
        verify(model_copy)


def test_missing_manifest_is_a_clear_error(model_copy: Path) -> None:
    (model_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ManifestNotFoundError, match=r"no manifest\.json") as info:
        verify(model_copy)
    assert isinstance(info.value, ModelIntegrityError)
    assert isinstance(info.value, FileNotFoundError)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFoundError):
        verify(tmp_path / "does-not-exist")


def test_unlisted_required_file_is_refused(model_copy: Path) -> None:
    raw = _raw_manifest()
    del raw["files"]["tokenizer.json"]
    _write_manifest(model_copy, raw)
    with pytest.raises(ModelIntegrityError, match=r"'tokenizer\.json' is not listed"):
        verify(model_copy)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.pop("categories"), "missing keys"),
        (lambda raw: raw.update(categories=[]), "non-empty list"),
        (lambda raw: raw.update(categories=["spam", "spam", "hate"]), "duplicates"),
        (lambda raw: raw["thresholds"].pop("spam"), "do not match"),
        (lambda raw: raw["thresholds"].update(spam=1.5), r"in \[0, 1\]"),
        (lambda raw: raw.update(max_length="128"), "max_length"),
        (lambda raw: raw.update(max_batch=0), "max_batch"),
        (lambda raw: raw["files"].update({"../evil.onnx": "0" * 64}), "relative path"),
        (lambda raw: raw["files"].update({"model.onnx": "abc"}), "sha256"),
        (lambda raw: raw.update(training=[]), "'training'"),
    ],
)
def test_malformed_manifest_is_refused(model_copy: Path, mutate: Any, message: str) -> None:
    raw = _raw_manifest()
    mutate(raw)
    _write_manifest(model_copy, raw)
    with pytest.raises(ModelIntegrityError, match=message):
        Manifest.load(model_copy)


def test_invalid_json_is_refused(model_copy: Path) -> None:
    (model_copy / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match="cannot read manifest"):
        Manifest.load(model_copy)


def test_extra_listed_file_is_checked_too(model_copy: Path) -> None:
    (model_copy / "notes.txt").write_text("hello", encoding="utf-8")
    raw = _raw_manifest()
    raw["files"]["notes.txt"] = sha256_file(model_copy / "notes.txt")
    _write_manifest(model_copy, raw)
    verify(model_copy)
    (model_copy / "notes.txt").write_text("hello!", encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match=r"notes\.txt"):
        verify(model_copy)
