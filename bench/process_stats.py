"""CPU time and resident memory of the worker under test and of the machine, from ``/proc``.

A worker is two processes, its event loop and the model process (a child), so memory and CPU
are summed over a process's descendants, and the event loop's share is kept apart."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from bench.worker_metrics import scrape, state_gauges

STATE_SAMPLE_SECONDS = 10.0
"""How often a backlog run records the worker's state gauges."""
CPU_PARTS = ("worker_loop", "model_process", "machine")
"""Where a backlog run's CPU time is counted (:meth:`WorkerSampler.cpu_cores`)."""


def children(pid: int) -> list[int]:
    found: list[int] = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(c) for c in tasks.read_text().split())
        except OSError:
            continue
    return found


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` and its descendants (the worker's model process)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total = int(line.split()[1]) * 1024
    except OSError:
        return None
    for child in children(pid):
        total += rss_bytes(child) or 0
    return total


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` alone (0 once it is gone)."""
    try:
        # Fields after the command name: state is field 3, utime 14 and stime 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (the worker's model process)."""
    return sum(own_cpu_seconds(proc) for proc in (pid, *children(pid)))


def worker_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds so far of a worker's own (event-loop) process and of its model process."""
    return own_cpu_seconds(pid), sum(cpu_seconds(child) for child in children(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores of this machine spent on anything but idling, since boot."""
    # The first line of /proc/stat: user nice system idle iowait irq softirq steal ...
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class WorkerSampler:
    """Samples a worker in a background thread: the resident memory of its process and
    children, the CPU time of its event-loop process, of its model process and of the whole
    machine; with ``metrics_port``, also its state gauges every ``STATE_SAMPLE_SECONDS``."""

    def __init__(self, pid: int, interval: float = 0.5, metrics_port: int | None = None) -> None:
        self.samples: list[tuple[float, int]] = []
        self.cpu_samples: list[tuple[float, float, float, float]] = []
        self.state_samples: list[dict[str, float]] = []
        self._pid, self._interval, self._port = pid, interval, metrics_port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last_state = 0.0
        while not self._stop.is_set():
            rss = rss_bytes(self._pid)
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            own, model = worker_cpu_seconds(self._pid)
            self.cpu_samples.append((time.time(), own, model, machine_busy_seconds()))
            if self._port and time.monotonic() - last_state >= STATE_SAMPLE_SECONDS:
                last_state = time.monotonic()
                with contextlib.suppress(OSError):  # not serving yet
                    self.state_samples.append(state_gauges(scrape(self._port)))
            self._stop.wait(self._interval)

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_cores(self, start: float, end: float) -> dict[str, float]:
        """Cores busy between wall-clock times ``start`` and ``end`` (the first and the last
        decision of a backlog): the worker's event-loop process, its model process, and the
        whole machine (the broker, the load generator and everything else included)."""
        inside = [c for c in self.cpu_samples if start <= c[0] <= end]
        if len(inside) < 2:
            return {}
        (t0, *first), (t1, *last) = inside[0], inside[-1]
        cores = [(b - a) / (t1 - t0) for a, b in zip(first, last, strict=True)]
        return dict(zip(CPU_PARTS, cores, strict=True))

    def summary(self) -> dict[str, float]:
        values = [v for _, v in self.samples] or [0]
        return {
            "start_mib": values[0] / 2**20,
            "peak_mib": max(values) / 2**20,
            "end_mib": values[-1] / 2**20,
        }
