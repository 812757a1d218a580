"""bench.run_cost builds texts of exact token counts, so its batches hold no padding."""

from __future__ import annotations

import pytest

from bench.run_cost import model_tokenizer, text_of_length
from stream.settings import Settings


@pytest.mark.parametrize("tokens", [2, 3, 16, 128])
def test_texts_tokenize_to_exactly_the_asked_length(tokens: int) -> None:
    tokenizer = model_tokenizer(Settings().model_dir)
    assert len(tokenizer.encode(text_of_length(tokenizer, tokens)).ids) == tokens


def test_a_length_below_the_special_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 tokens"):
        text_of_length(model_tokenizer(Settings().model_dir), 1)
