"""`vigil demo` as a user runs it: embedded broker, live decisions, clean exit, no leftovers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def vigil_processes() -> set[int]:
    """Pids of tansu brokers and vigil workers currently running."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return {
        int(line.split(None, 1)[0])
        for line in out.splitlines()
        if "tansu" in line or "stream.cli worker" in line
    }


def test_demo_on_embedded_broker_shows_decisions_and_cleans_up() -> None:
    before = vigil_processes()
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_BROKER"}
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "demo", "--limit", "60", "--rate", "200"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "embedded broker" in result.stdout
    assert "decided 60" in result.stdout
    assert "delete_message" in result.stdout or "flag_for_review" in result.stdout
    assert vigil_processes() - before == set()


def test_demo_against_the_real_broker(kafka_broker: str) -> None:
    env = {**os.environ, "VIGIL_BROKER": kafka_broker}
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "demo", "--limit", "20", "--rate", "200"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "embedded broker" not in result.stdout
    assert "decided 20" in result.stdout
