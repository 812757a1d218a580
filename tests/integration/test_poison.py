"""Every kind of bad input is dead-lettered exactly once, byte for byte; the rest is decided."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce
from tests.integration.faults import CLASSIFIER_FAULT, POLICY_FAULT

pytestmark = pytest.mark.integration

MAX_BYTES = 20_000
MAX_CHARS = 500


def poison_corpus() -> list[tuple[str, str, bytes | None]]:
    """(name, expected stage, raw value) for every dead-letter case of the pipeline issue."""
    nested: dict[str, object] = {"leaf": 1}
    for _ in range(40):
        nested = {"n": nested}
    return [
        ("invalid_json", "decode", b'{"message_id": "p1", "content": '),
        ("invalid_utf8", "decode", b'{"message_id": "p2", "content": "caf\xe9"}'),
        ("not_an_object", "decode", b'["p3"]'),
        ("missing_field", "decode", orjson.dumps({"message_id": "p4", "content": "x"})),
        ("wrong_type", "decode", orjson.dumps({**message(5, "x"), "author_id": 5})),
        ("wrong_type", "decode", orjson.dumps({**message(6, "x"), "author": "bob"})),
        ("empty_field", "decode", orjson.dumps({**message(7, "x"), "message_id": ""})),
        ("empty_value", "decode", None),
        ("empty_value", "decode", b""),
        ("too_deep", "decode", orjson.dumps({**message(10, "x"), "meta": nested})),
        ("too_large", "decode", orjson.dumps(message(11, "y" * (MAX_BYTES + 10)))),
        ("invalid_timestamp", "decode", orjson.dumps({**message(12, "x"), "created_at": "soon"})),
        ("classifier_error", "classify", orjson.dumps(message(13, f"hi {CLASSIFIER_FAULT}"))),
        ("policy_error", "policy", orjson.dumps(message(14, f"hello {POLICY_FAULT}"))),
    ]


def test_poison_messages_dead_lettered_and_valid_ones_decided(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    poison = poison_corpus()
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    valid_ids: list[str] = []
    for i, (name, _, value) in enumerate(poison):
        for j in range(3):  # valid messages around every poison one
            m = message(1000 + 3 * i + j, "have a lovely evening" if j else "z" * (MAX_CHARS + 50))
            records.append(encode(m))
            valid_ids.append(m["message_id"])
        records.append(
            (f"key-{i}".encode(), value, [("case", name.encode()), ("n", str(i).encode())])
        )
    produce(settings, records)

    integration_dir = str(Path(__file__).resolve().parent)
    worker = start_worker(
        PYTHONPATH=integration_dir,
        VIGIL_CLASSIFIER_FACTORY="faults:classifier",
        VIGIL_POLICY_FACTORY="faults:policy",
        VIGIL_MAX_MESSAGE_BYTES=str(MAX_BYTES),
        VIGIL_MAX_CONTENT_CHARS=str(MAX_CHARS),
        VIGIL_BATCH_MAX="16",
    )
    seen = consume_until(
        settings,
        [settings.decisions_topic, settings.dlq_topic],
        lambda s: len(s[settings.decisions_topic]) + len(s[settings.dlq_topic]) >= len(records),
        timeout_seconds=300,
    )
    assert worker.alive(), worker.log_path.read_text()[-3000:]

    decisions = [orjson.loads(r.value) for r in seen[settings.decisions_topic]]
    assert sorted(d["message_id"] for d in decisions) == sorted(valid_ids)
    truncated = [d for d in decisions if d["content_truncated"]]
    assert len(truncated) == len(poison)  # long content: scored on its prefix, not dropped

    dead = sorted(seen[settings.dlq_topic], key=lambda r: int(dict(r.headers)["n"]))
    assert len(dead) == len(poison)
    for record, (name, stage, value) in zip(dead, poison, strict=True):
        headers = dict(record.headers)
        assert headers["case"] == name.encode()
        # byte for byte: an empty value and a null value stay distinguishable
        assert record.value == value
        assert record.key == f"key-{headers['n'].decode()}".encode()
        assert record.headers[:2] == [("case", name.encode()), ("n", headers["n"])]
        assert headers["vigil.source.topic"] == settings.input_topic.encode()
        assert int(headers["vigil.source.partition"]) in range(settings.partitions)
        assert int(headers["vigil.source.offset"]) >= 0
        assert headers["vigil.error.stage"] == stage.encode()
        assert headers["vigil.error.reason"] == name.encode()
        assert headers["vigil.error.class"]
        assert headers["vigil.error.message"]

    # Content never reaches the logs, not even for dead letters.
    log = worker.log_path.read_text()
    assert "dead-lettered" in log
    for fragment in ("have a lovely evening", CLASSIFIER_FAULT, POLICY_FAULT, "zzzzzzzz"):
        assert fragment not in log
