from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from stream.process_group import stop_group


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _group(script: str) -> tuple[subprocess.Popen[bytes], int]:
    """A shell leading its own group, with one background child whose pid it prints."""
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    return proc, child


def _gone_soon(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_stops_the_child_and_its_children() -> None:
    proc, child = _group("sleep 60 & echo $!; wait")
    assert stop_group(proc, timeout_seconds=5) == -signal.SIGTERM
    assert _gone_soon(child)


def test_a_group_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    proc, child = _group("trap '' TERM; sleep 60 & echo $!; while :; do wait; done")
    started = time.monotonic()
    assert stop_group(proc, timeout_seconds=0.5) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5
    assert _gone_soon(child)


def test_a_child_that_already_exited_keeps_its_exit_code() -> None:
    proc = subprocess.Popen(["sh", "-c", "exit 3"], start_new_session=True)
    proc.wait()
    assert stop_group(proc, timeout_seconds=1) == 3
