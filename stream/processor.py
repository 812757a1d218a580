"""One batch of consumed records in, every record they cause out: decisions, actions, DLQ.

This is the whole per-message pipeline (decode → normalize → classify → policy → encode),
independent of Faust so it can be tested and benchmarked without a broker. Its contract:
every input record yields exactly one decision or exactly one dead letter; it never raises
for a single bad input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from classifiers.base import (
    AnyClassifier,
    AsyncClassifier,
    ClassifierUnavailable,
    Scores,
    StageTimed,
    checked,
    predict_checked,
)
from classifiers.normalize import prepare_content
from policies.base import ALLOW, Policy, PolicyInput, decide_and_remember
from stream.author_history import AuthorHistories
from stream.dead_letter import dead_letter, sanitize
from stream.decode import DecodeError, decode_message
from stream.metrics import PipelineMetrics
from stream.outputs import Scored, encode_outputs
from stream.records import InboundRecord, MessageEvent, OutboundRecord, event_time
from stream.score_cache import Row, ScoreCache
from stream.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Valid:
    record: InboundRecord
    event: MessageEvent
    text: str
    truncated: bool


Outcomes = dict[str, Row | Exception]
"""A scoring's result per distinct text: its row, or why it could not be scored."""

_Scoring = dict[str, "asyncio.Future[Outcomes]"]


@dataclass(slots=True)
class PendingBatch:
    """A batch between :meth:`BatchProcessor.submit` and :meth:`BatchProcessor.complete`."""

    received_at: float
    out: list[OutboundRecord]
    """Dead letters so far (decode)."""
    valid: list[_Valid]
    rows: dict[str, Row]
    """Scores found in the cache."""
    scoring: _Scoring
    """The scoring (this batch's or an earlier one's) that yields each other distinct text."""


class BatchProcessor:
    """Turns consumed records into output records; see the module docstring for the contract."""

    def __init__(
        self,
        *,
        classifier: AnyClassifier,
        policy: Policy,
        settings: Settings,
        metrics: PipelineMetrics,
        executor: Executor,
        history: AuthorHistories | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.classifier = classifier
        # Scored elsewhere (awaited on the loop) or computed here (on an inference thread).
        self._awaited = classifier if isinstance(classifier, AsyncClassifier) else None
        self._called = None if isinstance(classifier, AsyncClassifier) else classifier
        self._timed = classifier if isinstance(classifier, StageTimed) else None
        self.policy = policy
        """Swapped by the hot reloader; read once per batch, so a batch sees one rule set."""
        self.history = history if history is not None else AuthorHistories(topic=None)
        self.cache = ScoreCache(settings.score_cache_size)
        """Per-author state; its changes leave as records of the batch they belong to."""
        self._settings = settings
        self._metrics = metrics
        self._executor = executor
        self._clock = clock
        self._in_flight: dict[str, asyncio.Future[Outcomes]] = {}

    def _dead(
        self, record: InboundRecord, stage: str, reason: str, exc: BaseException, content: str
    ) -> OutboundRecord:
        message = sanitize(str(exc), content)
        self._metrics.dead_lettered.labels(stage=stage, reason=reason).inc()
        log.warning(
            "dead-lettered %s[%d]@%d stage=%s reason=%s error=%s: %s",
            record.source.topic, record.source.partition, record.source.offset,
            stage, reason, type(exc).__name__, message,
        )  # fmt: skip
        return dead_letter(
            record,
            topic=self._settings.dlq_topic,
            stage=stage,
            reason=reason,
            error_class=type(exc).__name__,
            message=message,
        )

    def _observe_classify(self, elapsed: float, stage_seconds: Mapping[str, float]) -> None:
        """Stage metrics of one scoring; ``classify`` leaves out time queued behind others."""
        stages = dict(stage_seconds)
        stage = self._metrics.stage_duration
        stage.labels(stage="classify").observe(elapsed - stages.pop("queued", 0.0))
        for name, seconds in stages.items():
            stage.labels(stage=name).observe(seconds)

    def _timed_predict(self, texts: Sequence[str]) -> Scores:
        """Runs on an inference thread (a classifier that computes in this process)."""
        assert self._called is not None
        started = time.perf_counter()
        scores = predict_checked(self._called, texts)
        stages = self._timed.last_stage_seconds if self._timed is not None else {}
        self._observe_classify(time.perf_counter() - started, stages)
        return scores

    async def _predict(self, texts: Sequence[str]) -> Scores:
        if self._awaited is not None:  # scored elsewhere: wait on the loop, no thread
            started = time.perf_counter()
            scoring = await self._awaited.predict_async(texts)
            self._observe_classify(time.perf_counter() - started, scoring.stage_seconds)
            return checked(self._awaited, texts, scoring.scores)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._timed_predict, texts)

    async def _score(self, texts: list[str]) -> Outcomes:
        """Score distinct ``texts``; if the batch fails, one by one to isolate the bad ones."""
        outcomes: Outcomes = {}
        try:
            outcomes.update(zip(texts, await self._predict(texts), strict=True))
        except ClassifierUnavailable:
            raise
        except Exception:
            log.exception("batch classification failed; retrying %d texts one by one", len(texts))
            for text in texts:
                try:
                    outcomes[text] = (await self._predict([text]))[0]
                except ClassifierUnavailable:
                    raise
                except Exception as exc:
                    outcomes[text] = exc
        self.cache.put_many((t, r) for t, r in outcomes.items() if not isinstance(r, Exception))
        return outcomes

    def _start_scoring(self, valid: list[_Valid]) -> tuple[dict[str, Row], _Scoring]:
        """Cached rows now; every other distinct text joins the scoring of an earlier batch
        that has it in flight, or is scored once in a new one."""
        rows: dict[str, Row] = {}
        scoring: _Scoring = {}
        todo: dict[str, None] = {}
        hits = 0
        for v in valid:
            text = v.text
            if text in rows:
                hits += 1
            elif text in scoring or text in todo:
                continue
            elif (row := self.cache.get(text)) is not None:
                rows[text] = row
                hits += 1
            elif (earlier := self._in_flight.get(text)) is not None:
                scoring[text] = earlier
            else:
                todo[text] = None
        self._metrics.score_cache.labels(result="hit").inc(hits)
        self._metrics.score_cache.labels(result="miss").inc(len(valid) - hits)
        if todo:
            texts = list(todo)
            future = asyncio.ensure_future(self._score(texts))
            for text in texts:
                scoring[text] = self._in_flight[text] = future
            future.add_done_callback(lambda f: self._scored(f, texts))
        return rows, scoring

    def _scored(self, future: asyncio.Future[Outcomes], texts: list[str]) -> None:
        for text in texts:
            if self._in_flight.get(text) is future:
                del self._in_flight[text]

    def submit(self, batch: Sequence[InboundRecord]) -> PendingBatch:
        """Decode and prepare ``batch`` and start scoring it; call on the event loop.

        Returns at once: scoring runs (in the model process or on the inference thread)
        while the caller completes earlier batches. Batches must be completed in the order
        they were submitted.
        """
        s, m = self._settings, self._metrics
        received_at = self._clock()
        m.batch_size.observe(len(batch))
        m.consumed.labels(topic=s.input_topic).inc(len(batch))
        dead: list[OutboundRecord] = []

        t0 = time.perf_counter()
        events: list[tuple[InboundRecord, MessageEvent]] = []
        for record in batch:
            try:
                events.append(
                    (
                        record,
                        decode_message(
                            record.value, max_bytes=s.max_message_bytes, max_depth=s.max_json_depth
                        ),
                    )
                )
            except DecodeError as exc:
                dead.append(self._dead(record, "decode", exc.reason, exc, ""))
        t1 = time.perf_counter()

        valid: list[_Valid] = []
        for record, event in events:
            text, truncated = prepare_content(event.content, s.max_content_chars)
            if truncated:
                m.truncated.inc()
            valid.append(_Valid(record, event, text, truncated))
        t2 = time.perf_counter()
        m.stage_duration.labels(stage="decode").observe(t1 - t0)
        m.stage_duration.labels(stage="normalize").observe(t2 - t1)
        rows, scoring = self._start_scoring(valid)
        return PendingBatch(received_at, dead, valid, rows, scoring)

    async def process(self, batch: Sequence[InboundRecord]) -> list[OutboundRecord]:
        """Return the output records for ``batch``, in input order per stage."""
        return await self.complete(self.submit(batch))

    async def complete(self, pending: PendingBatch) -> list[OutboundRecord]:
        """Wait for ``pending``'s scores, then decide and encode: its output records."""
        s, m = self._settings, self._metrics
        out = pending.out
        outcomes: dict[str, Row | Exception] = dict(pending.rows)
        for text, future in pending.scoring.items():
            outcomes[text] = (await future)[text]

        t3 = time.perf_counter()
        scored: list[tuple[_Valid, Row]] = []
        for v in pending.valid:
            row = outcomes[v.text]
            if isinstance(row, Exception):
                out.append(
                    self._dead(v.record, "classify", "classifier_error", row, v.event.content)
                )
            else:
                scored.append((v, row))
        received_at = pending.received_at
        policy, classifier = self.policy, self.classifier
        categories, thresholds = classifier.categories, classifier.thresholds
        decided: list[tuple[InboundRecord, Scored]] = []
        for v, row in scored:
            score_map = {c: float(row[i]) for i, c in enumerate(categories)}
            query = PolicyInput(
                v.event, score_map, v.text, event_time(v.event, v.record.source, received_at)
            )
            try:
                store = self.history.store_for(v.record.source.partition)
                verdict = decide_and_remember(policy, store, query)
            except Exception as exc:
                out.append(self._dead(v.record, "policy", "policy_error", exc, v.event.content))
                continue
            for match in verdict.matches:
                m.rule_matched(match.rule_id, match.mode)
            for rule_id in verdict.rule_errors:
                m.rule_errors.labels(rule=rule_id).inc()
            flagged = tuple(c for c in categories if score_map[c] >= thresholds[c])
            decided.append(
                (
                    v.record,
                    Scored(v.event, v.record.source, score_map, flagged, verdict, v.truncated),
                )
            )
        out.extend(self.history.take_writes())
        t4 = time.perf_counter()

        now = self._clock()
        for record, item in decided:
            try:
                records = encode_outputs(
                    item,
                    decisions_topic=s.decisions_topic,
                    actions_topic=s.actions_topic,
                    model_version=classifier.version,
                    policy_version=policy.version,
                    received_at=received_at,
                    now=now,
                )
            except Exception as exc:
                out.append(self._dead(record, "encode", "encode_error", exc, item.event.content))
                continue
            out.extend(records)
            m.decided.labels(action=item.verdict.action).inc()
            if item.verdict.action == ALLOW:
                continue
            for match in item.verdict.enforced_matches:
                m.actions.labels(action=item.verdict.action, rule=match.rule_id).inc()

        m.stage_duration.labels(stage="policy").observe(t4 - t3)
        m.score_cache_entries.set(len(self.cache))
        m.author_histories.set(self.history.authors())
        return out
