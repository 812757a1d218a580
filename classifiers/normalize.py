"""Text normalization applied before tokenization.

Minimal, safe baseline: Unicode NFKC (folds fullwidth and compatibility forms), removal of
zero-width and other format characters (category Cf) that split words invisibly, and
whitespace collapsing. It never changes the meaning of clean text.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def _is_format(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf"


def normalize_text(text: str) -> str:
    """Return the text the classifier sees for ``text``."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not _is_format(ch))
    return _WHITESPACE.sub(" ", text).strip()
