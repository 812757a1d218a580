"""Stopping a child started with ``start_new_session=True`` together with its own children."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen[bytes], timeout_seconds: float) -> int:
    """SIGTERM the child's process group, SIGKILL it if still alive after the timeout.

    Returns the child's exit code. The whole group, because a worker has a model process of
    its own, which a SIGKILL to the worker alone would leave running.
    """
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode
