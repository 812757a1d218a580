"""Fixtures shared by the classifier tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "minilm-multitask-v2-pytorch-reference.json"
)


@pytest.fixture(scope="session")
def pytorch_reference() -> dict[str, Any]:
    """64 held-out test texts and the fp32 PyTorch model's probabilities for them, recorded
    when the shipped model was exported."""
    reference: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return reference
