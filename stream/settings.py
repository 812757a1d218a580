"""The one settings object for the whole application.

Every field is read from an environment variable named ``VIGIL_<FIELD>`` (case-insensitive),
e.g. ``VIGIL_BROKER=kafka1:9092``. CLI flags override the environment. The README's
configuration reference is generated from the docstrings below (``vigil config``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Vigil configuration; environment prefix ``VIGIL_``."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", use_attribute_docstrings=True, extra="ignore", frozen=True
    )

    broker: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, ``HOST:PORT[,HOST:PORT…]``. Default ``127.0.0.1:9092``."""

    app_id: str = "vigil"
    """Consumer group id and prefix of Faust's internal topics. Default ``vigil``."""

    input_topic: str = "messages"
    """Topic with message events. Default ``messages``."""

    decisions_topic: str = "decisions"
    """Topic that receives one decision per valid input. Default ``decisions``."""

    actions_topic: str = "actions"
    """Topic that receives one action per non-``allow`` decision. Default ``actions``."""

    dlq_topic: str = "messages.dlq"
    """Dead-letter topic for inputs that could not be processed. Default ``messages.dlq``."""

    history_topic: str = "author-history"
    """Compacted topic holding per-author history (strikes, recent posts), partitioned like
    the input topic; created by the worker if missing. Default ``author-history``."""

    partitions: int = Field(default=4, ge=1)
    """Partitions used by ``vigil topics create`` for every topic. Default ``4``."""

    replication_factor: int = Field(default=1, ge=1)
    """Replication factor used by ``vigil topics create``. Default ``1``."""

    batch_max: int = Field(default=64, ge=1, le=4096)
    """Most messages classified in one batch. Default ``64``."""

    batch_within_seconds: float = Field(default=0.002, ge=0)
    """Longest wait, from a batch's first message, for the batch to fill before it is
    classified anyway; ``0`` takes what has arrived. Short, because batches fill by
    themselves while the previous one is being scored (a backlog gives full batches) and the
    shipped model runs one text at a time. Not ``0``: a little coalescing keeps the per-batch
    work (a produce and its acks) from queueing up under load. ``bench.latency_probe``, three
    runs each: at 223 msgs/s p99 36.5 / 38.6 / 75.5 ms at 0.002 against 66.3 / 59.0 / 57.0 at
    0; at 100 msgs/s p50 9.2 ms at 0.002 against 6.6 at 0 (0.02 gave a p99 of 208 ms at
    200 msgs/s). ``0.004`` trades the other way: at 210 msgs/s (11 alternated probes) 12 %
    less event-loop CPU per message and a p99 of 44.7 against 53.9 ms (medians), but a p50
    2 ms higher, and at 105 msgs/s p50 / p99 12.0 / 24.6 against 9.1 / 20.1 ms; six
    alternated full runs did not separate the two (README "Performance"). An idle worker
    sleeps whatever the value. Default ``0.002``."""

    model_dir: Path = REPO_ROOT / "onnx_models" / "minilm-multitask-v2"
    """Directory of the ONNX model (manifest, model, tokenizer). Default: the shipped model."""

    policy_path: Path = REPO_ROOT / "policies" / "rules"
    """Rules directory (rule files, ``lists/``, ``tests/``) or a single rule file. Default: the
    shipped ``policies/rules``."""

    policy_reload_seconds: float = Field(default=2.0, ge=0)
    """How often the worker checks the rules for changes and hot-reloads a valid new set;
    ``0`` disables reloading. Default ``2``."""

    classifier_factory: str | None = None
    """Extension point: ``module:callable`` taking the settings and returning a
    :class:`classifiers.base.Classifier` (computes in the worker, called on its inference
    thread) or a :class:`classifiers.base.AsyncClassifier` (scores elsewhere, awaited on the
    event loop). Default: unset (the ONNX model in ``model_dir``)."""

    policy_factory: str | None = None
    """Extension point: ``module:callable`` taking the settings and the classifier's categories
    and returning a :class:`policies.base.Policy`. Default: unset (the rule file in
    ``policy_path``)."""

    inference_threads: int = Field(default=1, ge=1)
    """onnxruntime intra-op threads per worker. One: the event loop, the Kafka client and
    the model process then each have a core on a 2-core machine; scale with workers (one
    per core), which adds more than threads do for short chat texts (README "Scaling
    out"). Default ``1``."""

    inference_spinning: bool = False
    """Let onnxruntime's threads busy-wait between operations: faster inference alone, but
    they compete with the event loop, the Kafka client and the broker for the cores. Default
    ``false``."""

    fuse_attention: bool = True
    """Fuse each attention block of the model graph into onnxruntime's MultiHeadAttention
    kernel when it loads (``classifiers.graph_rewrite``): the same scores, ~8 % less model time
    per message in the worker (README "Performance"). ``false`` runs the graph as exported.
    Default ``true``."""

    inference_process: bool = True
    """Run the model in a child process: inference and the event loop then never wait for
    each other's Python lock, and a crash in the model runtime restarts the child instead
    of the worker. ``false`` runs it on a thread of the worker process. Ignored with
    ``classifier_factory``. Default ``true``."""

    score_cache_size: int = Field(default=100_000, ge=0)
    """Recent distinct texts whose scores are kept for repeats (LRU); ``0`` disables. Exact
    for the shipped model (a score depends on the text alone). Default ``100000``."""

    max_content_chars: int = Field(default=2000, ge=1)
    """Longer content is scored on this prefix and marked truncated, never dropped. Default
    ``2000``."""

    max_message_bytes: int = Field(default=1_048_576, ge=1)
    """A raw value larger than this is dead-lettered unparsed (``too_large``). Default 1 MiB."""

    max_json_depth: int = Field(default=32, ge=2)
    """Deeper JSON nesting is dead-lettered (``too_deep``). Default ``32``."""

    metrics_host: str = "127.0.0.1"
    """Bind address of the Prometheus ``/metrics`` endpoint. Default ``127.0.0.1``."""

    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Port of the ``/metrics`` endpoint; ``0`` disables it. Default ``9464``."""

    session_timeout_seconds: float = Field(default=10.0, gt=0)
    """Consumer session timeout: how long a silent worker keeps its partitions. Default
    ``10``."""

    heartbeat_interval_seconds: float = Field(default=1.0, gt=0)
    """Consumer heartbeat interval (≤ a third of the session timeout). Default ``1``."""

    instance_id: str | None = None
    """Static group membership id (e.g. the pod name). A restarted worker with the same id
    gets its partitions back at once, without a rebalance. Default: unset (dynamic)."""

    commit_interval_seconds: float = Field(default=1.0, gt=0)
    """How often processed offsets are committed. Default ``1``."""

    produce_timeout_seconds: float = Field(default=30.0, gt=0)
    """Per-attempt delivery timeout of the output sinks before a retry. Default ``30``."""

    produce_retry_backoff_max_seconds: float = Field(default=5.0, gt=0)
    """Upper bound of the sinks' exponential retry backoff; sinks retry until delivered
    (an input is never acknowledged before its outputs are). Default ``5``."""

    producer_linger_seconds: float = Field(default=0.0, ge=0)
    """Producer linger. The worker already sends a whole batch's records at once, so
    lingering only delays them (and the next batch's delivery waits for this one's acks):
    0.005 gave 7.3 ms per batch in the produce stage, 0 gave 1.9. Default ``0``."""

    log_level: str = "info"
    """Log level of the worker. Default ``info``."""

    @field_validator("broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        value = value.strip().removeprefix("kafka://")
        if not value or any(":" not in part for part in value.split(",")):
            raise ValueError(f"expected HOST:PORT[,HOST:PORT…], got {value!r}")
        return value

    def to_env(self) -> dict[str, str]:
        """These settings as ``VIGIL_*`` variables for a child process (unset ones omitted)."""
        return {
            f"VIGIL_{name.upper()}": str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    @property
    def faust_broker_url(self) -> str:
        return ";".join(f"kafka://{part}" for part in self.broker.split(","))

    @property
    def output_topics(self) -> tuple[str, str, str]:
        return (self.decisions_topic, self.actions_topic, self.dlq_topic)
