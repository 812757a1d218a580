"""A bounded cache of recent scores, keyed by the prepared (normalized) text.

Chat repeats itself: greetings, reactions, copy-pasted spam waves. With the shipped model a
score is a function of the text alone (one text per ONNX run, see
``classifiers.onnx_classifier``), so a cached score equals a fresh one exactly and a repeat
costs a dictionary lookup instead of an inference. Least recently used texts are evicted
first, so memory stays bounded however many distinct texts pass.

An entry is a 128-bit digest of the text and the score row's bytes in a plain ``dict``: ~140
bytes (tracemalloc), where an ``OrderedDict`` with the text as key and a NumPy row took ~210
plus the text itself. A plain dict has no O(1) "drop the oldest", so the oldest eighth is
dropped at once when the cache is full (one copy of the dict, ~10 ms at 100,000 entries,
every capacity / 8 misses). 128 bits,
not 64: a sender who can find two texts with the same key could have a harmful message
served a harmless one's scores, and a 64-bit collision takes only ~2**32 tries.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Row = npt.NDArray[np.float32]


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ScoreCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: dict[bytes, bytes] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> Row | None:
        """The cached (read-only) row of ``text``, or None."""
        key = _key(text)
        packed = self._rows.pop(key, None)
        if packed is None:
            return None
        self._rows[key] = packed  # now the newest
        return np.frombuffer(packed, dtype=np.float32)

    def put_many(self, items: Iterable[tuple[str, Row]]) -> None:
        if self.capacity <= 0:
            return
        rows = self._rows
        for text, row in items:
            key = _key(text)
            rows.pop(key, None)
            rows[key] = np.asarray(row, dtype=np.float32).tobytes()
        if len(rows) > self.capacity:
            keep = self.capacity - self.capacity // 8
            self._rows = dict(itertools.islice(rows.items(), len(rows) - keep, None))
