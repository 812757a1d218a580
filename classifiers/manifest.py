"""Model manifest: what a model directory contains, and proof that it is intact.

A shipped model directory holds ``manifest.json`` next to the artifacts it lists::

    {
      "name": "minilm-multitask",
      "version": "2",
      "categories": ["offensive", "hate", "spam", "targeted"],
      "thresholds": {"offensive": 0.63, "hate": 0.3, "spam": 0.36, "targeted": 0.37},
      "max_length": 128,
      "max_batch": 1,
      "files": {"model.onnx": "<sha256 hex>", "tokenizer.json": "<sha256 hex>"},
      "training": {...},
      "metrics": {...}
    }

``max_batch`` is optional: the sub-batch size the runtime uses unless the caller overrides it
(the build measures what is fastest and, for int8 graphs, what keeps scores independent of
batch composition). Every listed file is hashed before it is used; any mismatch raises
:class:`ModelIntegrityError` so that a worker refuses to start on a corrupted or
swapped model instead of silently producing different scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
REQUIRED_FILES: tuple[str, ...] = (MODEL_FILE, TOKENIZER_FILE)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK = 1 << 20


class ModelIntegrityError(Exception):
    """A model directory is missing, malformed, or does not match its manifest."""


class ManifestNotFoundError(ModelIntegrityError, FileNotFoundError):
    """The model directory has no ``manifest.json`` (or does not exist)."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise ModelIntegrityError(f"invalid manifest {path}: {message}")


@dataclass(frozen=True)
class Manifest:
    """Parsed, validated ``manifest.json``."""

    name: str
    version: str
    categories: tuple[str, ...]
    thresholds: Mapping[str, float]
    max_length: int
    files: Mapping[str, str]
    max_batch: int | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, model_dir: Path | str) -> Manifest:
        """Read and validate ``<model_dir>/manifest.json`` (does not hash the files)."""
        path = Path(model_dir) / MANIFEST_FILE
        if not path.is_file():
            raise ManifestNotFoundError(
                f"no {MANIFEST_FILE} in model directory {Path(model_dir)}; "
                "refusing to load an unverifiable model"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelIntegrityError(f"cannot read manifest {path}: {exc}") from exc
        return cls.from_dict(raw, source=path)

    @classmethod
    def from_dict(cls, raw: object, *, source: Path | None = None) -> Manifest:
        """Validate a decoded manifest object; ``source`` is only used in error messages."""
        where = source if source is not None else Path(MANIFEST_FILE)
        _require(isinstance(raw, dict), where, "top level must be a JSON object")
        assert isinstance(raw, dict)
        missing = [
            k
            for k in ("name", "version", "categories", "thresholds", "max_length", "files")
            if k not in raw
        ]
        _require(not missing, where, f"missing keys {missing}")

        name, version = raw["name"], raw["version"]
        _require(isinstance(name, str) and bool(name), where, "'name' must be a non-empty string")
        _require(
            isinstance(version, str) and bool(version),
            where,
            "'version' must be a non-empty string",
        )

        cats = raw["categories"]
        _require(
            isinstance(cats, list) and bool(cats) and all(isinstance(c, str) and c for c in cats),
            where,
            "'categories' must be a non-empty list of strings",
        )
        _require(len(set(cats)) == len(cats), where, "'categories' contains duplicates")

        thr = raw["thresholds"]
        _require(isinstance(thr, dict), where, "'thresholds' must be an object")
        _require(
            set(thr) == set(cats),
            where,
            f"'thresholds' keys {sorted(thr)} do not match categories {sorted(cats)}",
        )
        thresholds: dict[str, float] = {}
        for cat in cats:
            value = thr[cat]
            _require(
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and 0.0 <= value <= 1.0,
                where,
                f"threshold for {cat!r} must be a number in [0, 1]",
            )
            thresholds[cat] = float(value)

        max_length = raw["max_length"]
        _require(
            isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 2,
            where,
            "'max_length' must be an integer >= 2",
        )

        max_batch = raw.get("max_batch")
        _require(
            max_batch is None
            or (isinstance(max_batch, int) and not isinstance(max_batch, bool) and max_batch >= 1),
            where,
            "'max_batch' must be an integer >= 1 when present",
        )

        files = raw["files"]
        _require(
            isinstance(files, dict) and bool(files), where, "'files' must be a non-empty object"
        )
        for fname, digest in files.items():
            pure = PurePosixPath(fname)
            _require(
                bool(fname)
                and not pure.is_absolute()
                and ".." not in pure.parts
                and "\\" not in fname,
                where,
                f"file entry {fname!r} must be a relative path inside the model directory",
            )
            _require(
                isinstance(digest, str) and _SHA256_RE.fullmatch(digest) is not None,
                where,
                f"file entry {fname!r} must map to a lowercase hex sha256",
            )
        for required in REQUIRED_FILES:
            _require(
                required in files, where, f"required file {required!r} is not listed in 'files'"
            )

        training = raw.get("training", {})
        metrics = raw.get("metrics", {})
        _require(isinstance(training, dict), where, "'training' must be an object")
        _require(isinstance(metrics, dict), where, "'metrics' must be an object")

        return cls(
            name=name,
            version=version,
            categories=tuple(cats),
            thresholds=thresholds,
            max_length=max_length,
            files=dict(files),
            max_batch=max_batch,
            training=training,
            metrics=metrics,
        )

    @property
    def model_sha256(self) -> str:
        """Expected SHA-256 of ``model.onnx``."""
        return self.files[MODEL_FILE]

    @property
    def model_version(self) -> str:
        """Version string carried in decisions: ``<name>@<first 12 hex of sha256(model.onnx)>``."""
        return model_version_string(self.name, self.model_sha256)

    def check_digest(self, fname: str, actual: str) -> None:
        """Raise :class:`ModelIntegrityError` unless ``actual`` is the listed hash of ``fname``."""
        expected = self.files.get(fname)
        if expected is None:
            raise ModelIntegrityError(f"{fname} is not listed in {MANIFEST_FILE}")
        if actual != expected:
            raise ModelIntegrityError(
                f"{fname}: sha256 mismatch (expected {expected[:12]}..., got {actual[:12]}...); "
                "the model directory was modified or corrupted"
            )

    def verify(self, model_dir: Path | str, *, skip: Collection[str] = ()) -> None:
        """Hash every listed file under ``model_dir`` (except ``skip``) against the manifest."""
        root = Path(model_dir)
        for fname in self.files:
            if fname in skip:
                continue
            path = root / fname
            if not path.is_file():
                raise ModelIntegrityError(
                    f"{fname} is listed in {MANIFEST_FILE} but missing from {root}"
                )
            self.check_digest(fname, sha256_file(path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "categories": list(self.categories),
            "thresholds": dict(self.thresholds),
            "max_length": self.max_length,
        }
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        out.update(files=dict(self.files), training=dict(self.training), metrics=dict(self.metrics))
        return out


def model_version_string(name: str, model_sha256: str) -> str:
    """``<name>@<sha256[:12]>`` — the identifier carried in every decision."""
    return f"{name}@{model_sha256[:12]}"


def verify(model_dir: Path | str) -> Manifest:
    """Load ``<model_dir>/manifest.json``, check every listed file's sha256, return the manifest.

    Raises :class:`ModelIntegrityError` naming the offending file and the expected/actual
    hash prefixes; :class:`ManifestNotFoundError` if there is no manifest.
    """
    manifest = Manifest.load(model_dir)
    manifest.verify(model_dir)
    return manifest
