"""A bounded cache of recent scores, keyed by the prepared (normalized) text.

Chat repeats itself: greetings, reactions, copy-pasted spam waves. With the shipped model a
score is a function of the text alone (one text per ONNX run, see
``classifiers.onnx_classifier``), so a cached score equals a fresh one exactly and a repeat
costs a dictionary lookup instead of an inference. Least recently used texts are evicted
first, so memory stays bounded however many distinct texts pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Row = npt.NDArray[np.float32]


class ScoreCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, Row] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> Row | None:
        row = self._rows.get(text)
        if row is not None:
            self._rows.move_to_end(text)
        return row

    def put_many(self, items: Iterable[tuple[str, Row]]) -> None:
        if self.capacity <= 0:
            return
        rows = self._rows
        for text, row in items:
            rows[text] = row
            rows.move_to_end(text)
        while len(rows) > self.capacity:
            rows.popitem(last=False)
