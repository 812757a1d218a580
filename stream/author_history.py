"""Per-author history in a changelog-backed Faust table, so strikes survive worker restarts.

The table is keyed by author id, like the input topic, and has as many partitions: the
worker that owns input partition p owns the same table partition, recovered from the
changelog topic before it processes anything. Writes from inside ``noack_take`` batches
use the key's partitioner (``use_partitioner=True``), since there is no single current event.
Producers must key input messages by author id with Kafka's default partitioner (murmur2),
which every standard client uses.

Why one table of sliding-window histories rather than Faust windowed tables: the rules need
sliding windows of several lengths (10 s, 1 min, 1 h, each ladder's window) read together
per message; hopping windowed tables would need one table per length and one changelog
write per window per message, and still only approximate a sliding window. One value per
author holds timestamped entries, pruned on every write and bounded in size
(``policies.state``); idle authors are deleted by a periodic sweep.
"""

from __future__ import annotations

from typing import Any

import faust

from policies.state import AuthorHistory

TABLE_NAME = "author-history"


def history_table(app: faust.App, partitions: int) -> Any:
    return app.Table(
        TABLE_NAME,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
        use_partitioner=True,
        help="Per-author recent posts and strikes (policies.state.AuthorHistory).",
    )


class TableHistoryStore:
    """Implements :class:`policies.state.HistoryStore` on a Faust table."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, author_id: str) -> AuthorHistory:
        return AuthorHistory.from_bytes(self._table.get(author_id.encode("utf-8", "surrogatepass")))

    def put(self, author_id: str, history: AuthorHistory) -> None:
        self._table[author_id.encode("utf-8", "surrogatepass")] = history.to_bytes()

    def sweep(self, now: float, keep_seconds: float) -> int:
        """Delete authors with nothing newer than ``keep_seconds``; returns how many."""
        stale = [
            key
            for key, raw in list(self._table.items())
            if AuthorHistory.from_bytes(raw).newest() <= now - keep_seconds
        ]
        for key in stale:
            del self._table[key]
        return len(stale)
