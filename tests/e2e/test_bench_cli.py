"""`vigil bench --quick` runs end to end on the real broker and writes its JSON and table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import topic_names

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
KEYS = (
    "raw_ceiling_msgs_per_s", "naive_msgs_per_s", "e2e_msgs_per_s", "e2e_unique_msgs_per_s",
    "latency", "p99_ms_at_50pct", "stages", "rss", "corpus", "ratios", "cpu_cores",
    "worker_cpu_ms_per_msg",
)  # fmt: skip
BENCH_TOPIC_PREFIXES = ("bench", "idle", "lat", "scale")
"""How ``bench.harness`` and ``bench.open_loop`` name the topics of their runs."""


def test_quick_bench(kafka_broker: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    before = topic_names(kafka_broker)
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "bench", "--quick", "--broker", kafka_broker,
         "--data", str(DATA), "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = orjson.loads(out.read_bytes())
    assert set(KEYS) <= set(report)
    assert report["raw_ceiling_msgs_per_s"] > 0
    assert report["e2e_msgs_per_s"] > 0
    assert len(report["latency"]) == 3
    assert all(step["decided"] == step["sent"] for step in report["latency"].values())
    assert report["stages"]["us_per_msg"]["infer"] > 0
    assert report["rss"]["peak_mib"] > 50
    # The model process works through the backlog; the machine's count includes it.
    cores = report["cpu_cores"]
    assert cores["model_process"] > 0.3
    assert cores["machine"] > cores["model_process"]
    assert report["worker_cpu_ms_per_msg"] > 0
    assert "| raw ceiling" in out.with_suffix(".md").read_text()
    # Its topics are gone again: left behind, they pile up in the broker and slow it down.
    # (Only the bench's own names count: other clients may share a developer's broker.)
    left = {t for t in topic_names(kafka_broker) - before if t.startswith(BENCH_TOPIC_PREFIXES)}
    assert not left
