"""Worker memory and CPU count the model process: both are summed over a process's
descendants."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import (
    _cpu_seconds,
    _machine_busy_seconds,
    _own_cpu_seconds,
    _rss_bytes,
    worker_cpu_seconds,
)


def test_rss_includes_child_processes() -> None:
    own = _rss_bytes(os.getpid())
    assert own is not None
    child = subprocess.Popen(
        [sys.executable, "-c", "b = b'x' * (64 << 20); print('ready', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        total = _rss_bytes(os.getpid())
        assert total is not None
        assert total - own > 60 << 20  # the child's 64 MiB, written so it is resident
    finally:
        child.communicate("\n")


def test_cpu_time_includes_child_processes() -> None:
    before = _cpu_seconds(os.getpid())
    own_before = _own_cpu_seconds(os.getpid())
    machine_before = _machine_busy_seconds()
    split_before = worker_cpu_seconds(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.process_time() + 1.0\n"
         "while time.process_time() < end: pass\nprint('spun', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "spun\n"
        # The child's second of CPU, not this process's (which did not spin).
        assert _cpu_seconds(os.getpid()) - before >= 0.9
        assert _own_cpu_seconds(os.getpid()) - own_before < 0.5
        assert _machine_busy_seconds() - machine_before >= 0.9
        # A worker's split: the process itself, and its children (the model process).
        split_after = worker_cpu_seconds(os.getpid())
        own, children = (b - a for a, b in zip(split_before, split_after, strict=True))
        assert own < 0.5
        assert children >= 0.9
    finally:
        child.communicate("\n")
