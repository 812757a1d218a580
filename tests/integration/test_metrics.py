"""/metrics scraped while a worker runs: the named series exist and move."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import (
    Samples,
    consume_until,
    encode,
    free_port,
    message,
    produce,
    scrape,
    value,
)

pytestmark = pytest.mark.integration


def test_metrics_endpoint_during_a_run(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    port = free_port()
    n_valid, n_bad = 600, 5
    produce(
        settings,
        [
            encode(message(i, "you are an idiot" if i % 3 == 0 else "good morning"))
            for i in range(n_valid)
        ]
        + [(b"k", b"{broken", []) for _ in range(n_bad)],
    )
    worker = start_worker(VIGIL_METRICS_PORT=str(port))

    deadline = time.monotonic() + 120
    samples: Samples = {}
    while time.monotonic() < deadline:
        try:
            samples = scrape(port)
        except OSError:
            samples = {}
        if value(samples, "vigil_messages_consumed_total") >= n_valid + n_bad:
            break
        time.sleep(0.5)
    consume_until(
        settings,
        [settings.decisions_topic],
        lambda s: len(s[settings.decisions_topic]) >= n_valid,
        timeout_seconds=120,
    )
    time.sleep(6)  # one lag-export interval
    samples = scrape(port)
    assert worker.alive()

    assert (
        value(samples, "vigil_messages_consumed_total", topic=settings.input_topic)
        == n_valid + n_bad
    )
    assert value(samples, "vigil_messages_decided_total") == n_valid
    assert value(samples, "vigil_messages_decided_total", action="allow") > 0
    assert (
        value(samples, "vigil_messages_dead_lettered_total", stage="decode", reason="invalid_json")
        == n_bad
    )
    assert value(samples, "vigil_end_to_end_latency_seconds_count") == n_valid + n_bad
    assert value(samples, "vigil_end_to_end_latency_seconds_sum") > 0
    for stage in ("decode", "normalize", "classify", "policy", "produce"):
        assert value(samples, "vigil_stage_duration_seconds_count", stage=stage) > 0, stage
    assert value(samples, "vigil_batch_size_sum") == n_valid + n_bad
    assert value(samples, "vigil_actions_total") > 0
    assert all(
        lbl["rule"] and lbl["action"] != "allow" for lbl, _ in samples["vigil_actions_total"]
    )
    (model,) = samples["vigil_model_info"]
    assert model[0]["version"].startswith("minilm-multitask@")
    (policy,) = samples["vigil_policy_info"]
    assert policy[0]["version"].startswith("rules@")
    lag = samples["vigil_consumer_lag_messages"]
    assert {lbl["partition"] for lbl, _ in lag} == {str(p) for p in range(settings.partitions)}
    assert all(v == 0 for _, v in lag)
    # No unbounded label values: no message, author or channel id (m1, a1, c1) anywhere.
    ids = re.compile(r"^[mac]\d+$")
    for name, series in samples.items():
        for labels, _ in series:
            assert not any(ids.match(v) for v in labels.values()), (name, labels)
