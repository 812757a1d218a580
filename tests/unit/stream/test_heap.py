"""The heap trimmer: present on glibc, the C library of every supported image."""

from __future__ import annotations

from stream.heap import heap_trimmer


def test_trims_the_heap_on_glibc() -> None:
    trim = heap_trimmer()
    assert trim is not None
    blocks = [bytearray(4096) for _ in range(10_000)]
    del blocks[::2]  # leave holes for the trim to hand back
    trim()
