"""`vigil demo`: sample chat traffic through a real worker, decisions shown live."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from stream.embedded_broker import EmbeddedBroker
from stream.settings import Settings
from stream.topics import create_topics
from stream.worker_process import WorkerProcess

_WORKER_START_TIMEOUT_SECONDS = 120.0


def sample_messages() -> list[dict[str, Any]]:
    """The bundled demo sample (see stream/demo_data/README.md for sources and licences)."""
    raw = resources.files("stream").joinpath("demo_data/sample_messages.jsonl").read_bytes()
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Producer(threading.Thread):
    """Sends the sample in a loop at ``rate`` messages/s with fresh ids, until stopped."""

    def __init__(self, settings: Settings, run_id: str, rate: float, limit: int | None) -> None:
        super().__init__(daemon=True, name="demo-producer")
        self._settings, self._run_id, self._rate, self._limit = settings, run_id, rate, limit
        self.stop_event = threading.Event()
        self.sent = 0
        self.content: dict[str, str] = {}

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self._settings.broker.split(","), linger_ms=5)
        try:
            sample = sample_messages()
            start = time.monotonic()
            for i, msg in enumerate(itertools.cycle(sample)):
                if self.stop_event.is_set() or (self._limit is not None and i >= self._limit):
                    break
                msg = {
                    **msg,
                    "message_id": f"{self._run_id}-{i}",
                    "created_at": int(time.time() * 1000),
                }
                self.content[msg["message_id"]] = msg["content"]
                producer.send(
                    self._settings.input_topic,
                    key=msg["author_id"].encode(),
                    value=orjson.dumps(msg),
                )
                self.sent += 1
                delay = start + (i + 1) / self._rate - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
            producer.flush()
        finally:
            producer.close(timeout=5)


class _View:
    """Counts per action and the latest actions with reasons and scores."""

    def __init__(self, content: dict[str, str]) -> None:
        self.actions: Counter[str] = Counter()
        self.latest: deque[dict[str, Any]] = deque(maxlen=12)
        self.decided = 0
        self._content = content
        self.started = time.monotonic()

    def add_decision(self, decision: dict[str, Any]) -> None:
        self.decided += 1
        self.actions[decision["action"]] += 1
        if decision["action"] != "allow":
            self.latest.appendleft(decision)

    def snippet(self, message_id: str) -> str:
        text = " ".join(self._content.get(message_id, "").split())
        return text if len(text) <= 70 else text[:69] + "…"

    def render(self, header: str) -> Group:
        counts = Table(title="decisions by action", expand=False)
        counts.add_column("action")
        counts.add_column("count", justify="right")
        for action, n in self.actions.most_common():
            counts.add_row(action, str(n))
        latest = Table(title="latest enforcement decisions", expand=True)
        latest.add_column("action", no_wrap=True)
        latest.add_column("why (winning rule)", ratio=2)
        latest.add_column("message", ratio=3)
        for d in self.latest:
            winning = [
                m["reason"]
                for m in d["matched_rules"]
                if m["enforced"] and m["action"] == d["action"]
            ]
            latest.add_row(
                d["action"], winning[0] if winning else "", self.snippet(d["message_id"])
            )
        rate = self.decided / max(1e-9, time.monotonic() - self.started)
        return Group(Panel(f"{header}\ndecided {self.decided} ({rate:.1f}/s)"), counts, latest)


def _output_consumer(settings: Settings) -> KafkaConsumer:
    """Reads decisions from their current end: only this run's records are shown."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.broker.split(","), enable_auto_commit=False, group_id=None
    )
    parts = consumer.partitions_for_topic(settings.decisions_topic) or set()
    tps = [TopicPartition(settings.decisions_topic, p) for p in parts]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    return consumer


def run_demo(*, broker: str | None, limit: int | None, rate: float) -> int:
    console = Console()
    explicit = broker or os.environ.get("VIGIL_BROKER")
    run_id = f"demo-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if explicit:
            bootstrap = explicit
        else:
            console.print("[dim]no Kafka configured: starting the embedded broker[/]")
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
        metrics_port = _free_port()
        settings = Settings(
            broker=bootstrap, app_id="vigil-demo", metrics_port=metrics_port, log_level="warning"
        )
        create_topics(settings)
        consumer = _output_consumer(settings)
        stack.callback(consumer.close)
        log_dir = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
        worker = stack.enter_context(WorkerProcess(settings.to_env(), log_dir / "worker.log"))
        producer = _Producer(settings, run_id, rate, limit)
        producer.start()
        stack.callback(producer.join, 10)
        stack.callback(producer.stop_event.set)
        view = _View(producer.content)
        header = (
            f"Vigil demo · broker {bootstrap} · metrics http://127.0.0.1:{metrics_port}/metrics"
            f" · worker log {log_dir / 'worker.log'} · Ctrl-C to stop"
        )
        deadline = time.monotonic() + _WORKER_START_TIMEOUT_SECONDS
        live = (
            stack.enter_context(Live(view.render(header), console=console, refresh_per_second=4))
            if console.is_terminal
            else None
        )
        try:
            while limit is None or view.decided < limit:
                if not worker.alive():
                    console.print(f"[red]worker exited; see {worker.log_path}[/]")
                    return 1
                if view.decided == 0 and time.monotonic() > deadline:
                    console.print(
                        f"[red]no decision within {deadline:.0f} s; see {worker.log_path}[/]"
                    )
                    return 1
                for records in consumer.poll(timeout_ms=250).values():
                    for record in records:
                        decision = orjson.loads(record.value)
                        if not str(decision.get("message_id", "")).startswith(run_id):
                            continue
                        view.add_decision(decision)
                        if live is None and decision["action"] != "allow":
                            console.print(
                                f"{decision['action']:<16} {view.snippet(decision['message_id'])}"
                            )
                if live is not None:
                    live.update(view.render(header))
        except KeyboardInterrupt:
            console.print("[dim]stopping…[/]")
        if live is None:
            console.print(view.render(header))
    return 0
