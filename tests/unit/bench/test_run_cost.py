"""bench.run_cost builds texts of exact token counts, so its batches hold no padding."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from bench.run_cost import text_of_length
from classifiers.onnx_classifier import OnnxClassifier
from stream.settings import Settings


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return OnnxClassifier(Settings().model_dir, fuse_attention=False).tokenizer


@pytest.mark.parametrize("tokens", [2, 3, 16, 128])
def test_texts_tokenize_to_exactly_the_asked_length(tokenizer: Tokenizer, tokens: int) -> None:
    assert len(tokenizer.encode(text_of_length(tokenizer, tokens)).ids) == tokens


def test_a_length_below_the_special_tokens_is_refused(tokenizer: Tokenizer) -> None:
    with pytest.raises(ValueError, match="at least 2 tokens"):
        text_of_length(tokenizer, 1)
