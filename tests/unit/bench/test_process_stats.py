"""Worker memory and CPU count the model process: both are summed over a process's
descendants; a backlog's cores come from the samples between its first and last decision."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.process_stats import (
    WorkerSampler,
    cpu_seconds,
    machine_busy_seconds,
    own_cpu_seconds,
    rss_bytes,
    worker_cpu_seconds,
)


def test_rss_includes_child_processes() -> None:
    own = rss_bytes(os.getpid())
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
        total = rss_bytes(os.getpid())
        assert total is not None
        assert total - own > 60 << 20  # the child's 64 MiB, written so it is resident
    finally:
        child.communicate("\n")


def test_cpu_time_includes_child_processes() -> None:
    before = cpu_seconds(os.getpid())
    own_before = own_cpu_seconds(os.getpid())
    machine_before = machine_busy_seconds()
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
        assert cpu_seconds(os.getpid()) - before >= 0.9
        assert own_cpu_seconds(os.getpid()) - own_before < 0.5
        assert machine_busy_seconds() - machine_before >= 0.9
        # A worker's split: the process itself, and its children (the model process).
        split_after = worker_cpu_seconds(os.getpid())
        own, children = (b - a for a, b in zip(split_before, split_after, strict=True))
        assert own < 0.5
        assert children >= 0.9
    finally:
        child.communicate("\n")


def test_cpu_cores_between_the_first_and_last_decision() -> None:
    sampler = WorkerSampler(pid=1)
    # (wall time, loop CPU s, model CPU s, machine busy s); the first and last are outside.
    sampler.cpu_samples = [
        (99.0, 0.0, 0.0, 0.0),
        (100.0, 1.0, 2.0, 5.0),
        (102.0, 1.5, 4.0, 8.0),
        (104.0, 2.0, 6.0, 11.0),
        (106.0, 9.0, 9.0, 19.0),
    ]
    assert sampler.cpu_cores(100.0, 105.0) == {
        "worker_loop": 0.25,
        "model_process": 1.0,
        "machine": 1.5,
    }
    assert sampler.cpu_cores(100.5, 101.5) == {}  # fewer than two samples: no figure
