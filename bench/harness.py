"""`vigil bench`: one run that measures the pipeline against its ceilings, on the real broker.

    deploy/kafka/broker start
    vigil bench [--quick] [--scale-out] [--soak N] --out bench-results.json   # and .md

Measured, with the shipped model, the default policy and the settings a worker would use:
- ``raw_ceiling_msgs_per_s``: ONNX inference alone (same model, threads and sub-batching as
  the worker, tokenization included), on the corpus without repeats, outside Kafka;
  measured before, between and after the end-to-end runs (the machine is shared), and each
  ratio divides a run by the mean of the ceilings measured next to it;
- ``naive_msgs_per_s``: the shipped model's weights (dequantized from the int8 graph) in a
  ``transformers`` ``pipeline()`` on PyTorch fp32, one message at a time, what a team
  writes first, timed on 400 messages spread evenly over the realistic corpus (needs the
  ``train`` extra; ``naive_weights`` says how closely its scores match the shipped model's,
  see :mod:`bench.naive`);
- ``e2e_msgs_per_s``: a preloaded backlog of the realistic corpus until every decision is
  produced (``e2e_unique_msgs_per_s``: the same on the corpus without repeats);
- latency: an open-loop producer at 25 %, 50 % and 75 % of ``e2e_msgs_per_s`` sends on a
  fixed schedule; latency runs from each message's *scheduled* send time to the Kafka
  timestamp of its decision, so a stalled pipeline is not hidden by a stalled producer
  (no coordinated omission); each step sends 5 s at its rate before its measured window,
  whose p99 is reported alongside (``p99_ms_with_step_start``);
- ``stages``: time per message in each pipeline stage, from the worker's own histograms;
- ``rss``: resident memory of the worker and its model process, sampled every 0.5 s;
- ``cpu_cores``: cores busy from the first to the last decision of the realistic backlog,
  in the worker's event-loop process, its model process and the whole machine (broker and
  load generator included); ``worker_cpu_ms_per_msg``: the worker's CPU per message, for
  sizing (``…_unique``: the same for the no-repeat backlog);
- ``idle_cpu_cores``: CPU a started worker uses with no input (cores, over 30 s).
``--soak N`` adds one long run of N messages reporting RSS growth after warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench import chat_corpus
from bench.decisions import decision_times
from bench.kafka_io import Record, isolated_topics, produce
from bench.naive import naive_rate
from bench.open_loop import STEP_SETTLE_SECONDS, open_loop
from bench.process_stats import WorkerSampler, cpu_seconds
from bench.report import markdown
from bench.worker_metrics import scrape, stage_breakdown, state_gauges
from bench.worker_setup import env_overrides, free_port, worker_env, worker_settings
from classifiers.normalize import prepare_content
from stream.components import onnx_classifier
from stream.settings import Settings
from stream.worker_process import WorkerProcess

LATENCY_FRACTIONS = (0.25, 0.5, 0.75)


@contextlib.contextmanager
def _preloaded(
    broker: str, prefix: str, corpus: Sequence[dict[str, Any]], **overrides: Any
) -> Iterator[Settings]:
    """Settings for fresh topics named ``prefix…``, with ``corpus`` already in the input;
    the topics are deleted afterwards."""
    tag = f"{prefix}{uuid.uuid4().hex[:8]}"
    with isolated_topics(broker, tag, log_level="warning", **overrides) as settings:
        records: list[Record] = [(k, v, []) for k, v in chat_corpus.iter_records(list(corpus))]
        produce(broker, settings.input_topic, records)
        yield settings


def backlog_run(
    broker: str, corpus: Sequence[dict[str, Any]], extra: dict[str, str]
) -> dict[str, Any]:
    """Preload ``corpus``, start a worker, drain every decision; throughput, stages, RSS."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "worker.log"
    n = len(corpus)
    started = time.time()
    with (
        _preloaded(broker, "bench", corpus) as settings,
        WorkerProcess(worker_env(settings, port, extra), log) as worker,
    ):
        assert worker.pid is not None
        with WorkerSampler(worker.pid, metrics_port=port) as sampler:
            stamps = decision_times(broker, settings.decisions_topic, n, 7200, [worker])
            metrics = scrape(port)
    if len(stamps) < n:
        raise SystemExit(f"only {len(stamps)} of {n} decisions; worker log: {log}")
    stamps.sort()
    rate = (n - 1) / (stamps[-1] - stamps[0])
    cores = sampler.cpu_cores(stamps[0], stamps[-1])
    return {
        "messages": n,
        "msgs_per_s": round(rate, 1),
        "cpu_cores": {k: round(v, 3) for k, v in cores.items()},
        # CPU the worker needs per message, for sizing (the broker's share is not in it).
        "worker_cpu_ms_per_msg": (
            round((cores["worker_loop"] + cores["model_process"]) / rate * 1000, 3)
            if cores
            else None
        ),
        "startup_s": round(stamps[0] - started, 2),
        "wall_s": round(stamps[-1] - started, 2),
        "stages": stage_breakdown(metrics, n),
        "state_at_end": state_gauges(metrics),
        "state_samples": sampler.state_samples,
        "rss": {k: round(v, 1) for k, v in sampler.summary().items()},
        "rss_samples": sampler.samples,
    }


def idle_cpu(
    broker: str, corpus: Sequence[dict[str, Any]], extra: dict[str, str], seconds: float
) -> float:
    """Cores a worker with nothing to do keeps busy: CPU time of the worker and its model
    process over ``seconds`` without input, after ``corpus`` (a few messages) is decided."""
    log = Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "worker.log"
    with (
        _preloaded(broker, "idle", corpus) as settings,
        WorkerProcess(worker_env(settings, free_port(), extra), log) as worker,
    ):
        assert worker.pid is not None
        decided = decision_times(broker, settings.decisions_topic, len(corpus), 300, [worker])
        if len(decided) < len(corpus):
            raise SystemExit(f"the idle worker did not start; worker log: {log}")
        time.sleep(2.0)  # commits and history writes of the warm-up settle
        before = cpu_seconds(worker.pid)
        time.sleep(seconds)
        return round((cpu_seconds(worker.pid) - before) / seconds, 4)


def scale_out(
    broker: str, corpus: Sequence[dict[str, Any]], extra: dict[str, str]
) -> dict[str, Any]:
    """Backlog throughput of 1 worker and of 2 workers sharing a 4-partition input topic.

    Both setups get the same cores: the single worker runs ``VIGIL_INFERENCE_THREADS`` as
    configured, each of the two runs half of them (at least 1), so the ratio shows what a
    second process adds (overlapping one worker's Kafka I/O with the other's inference)
    rather than what more hardware adds.
    """
    threads = int(extra.get("VIGIL_INFERENCE_THREADS", Settings().inference_threads))
    out: dict[str, Any] = {}
    for workers in (1, 2):
        env = {**extra, "VIGIL_INFERENCE_THREADS": str(max(1, threads // workers))}
        with _preloaded(broker, "scale", corpus, partitions=4) as settings:
            procs = [
                WorkerProcess(
                    {**worker_env(settings, free_port(), env), "VIGIL_INSTANCE_ID": f"w{i}"},
                    Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "worker.log",
                )
                for i in range(workers)
            ]
            for proc in procs:
                proc.start()
            try:
                stamps = sorted(
                    decision_times(broker, settings.decisions_topic, len(corpus), 3600, procs)
                )
            finally:
                for proc in procs:
                    proc.stop()
        if len(stamps) < len(corpus):
            raise SystemExit(
                f"{workers} workers: only {len(stamps)} of {len(corpus)} decisions; "
                f"worker logs: {', '.join(str(p.log_path) for p in procs)}"
            )
        # The first decisions come before both workers have joined; measure the second half.
        half = stamps[len(stamps) // 2 :]
        out[f"workers_{workers}_msgs_per_s"] = round((len(half) - 1) / (half[-1] - half[0]), 1)
        out[f"workers_{workers}_inference_threads"] = max(1, threads // workers)
    out["scaling_ratio"] = round(out["workers_2_msgs_per_s"] / out["workers_1_msgs_per_s"], 3)
    return out


def raw_ceiling(settings: Settings, texts: Sequence[str], runs: int) -> float:
    """Texts/s of the worker's model setup alone: prepared texts, worker-sized calls, no cache."""
    classifier = onnx_classifier(settings)
    prepared = [prepare_content(t, settings.max_content_chars)[0] for t in texts]
    size = settings.batch_max
    classifier.predict(prepared[:size])
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for s in range(0, len(prepared), size):
            classifier.predict(prepared[s : s + size])
        rates.append(len(prepared) / (time.perf_counter() - started))
    return round(statistics.median(rates), 1)


def soak(broker: str, data: Path, n: int, extra: dict[str, str]) -> dict[str, Any]:
    """RSS growth over a long backlog run: last sample vs the one at 10 % of the run."""
    corpus = chat_corpus.messages(data, n, seed=29)
    run = backlog_run(broker, corpus, extra)
    samples = run.pop("rss_samples")
    warm = samples[len(samples) // 10][1] if samples else 0
    last = samples[-1][1] if samples else 0
    run["rss_growth_after_warmup"] = round((last - warm) / warm, 4) if warm else None
    states = run.pop("state_samples")
    run["state_by_tenth_of_run"] = [
        states[min(len(states) - 1, len(states) * k // 10)] for k in range(11) if states
    ]
    run["rss_mib_by_tenth_of_run"] = [
        round(samples[min(len(samples) - 1, len(samples) * k // 10)][1] / 2**20, 1)
        for k in range(11)
        if samples
    ]
    return run


def run(args: argparse.Namespace) -> dict[str, Any]:
    extra = env_overrides(args.env)
    settings = worker_settings(extra)
    n = 2000 if args.quick else args.messages
    realistic = chat_corpus.messages(args.data, n)
    unique = chat_corpus.messages(args.data, n, unique=True)
    log: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "corpus": chat_corpus.statistics(realistic),
        "corpus_unique": chat_corpus.statistics(unique),
        "worker_env": extra,
    }
    # The machine is shared and noisy: the ceiling and the naive rate are measured right
    # before and after the runs they are compared with, and each ratio uses its neighbours.
    # The very texts of the no-repeat backlog: its later texts are longer on average.
    ceiling_texts = [m["content"] for m in unique]
    ceilings: list[float] = []
    naives: list[float] = []

    def ceiling() -> None:
        log("raw ceiling…")
        ceilings.append(raw_ceiling(settings, ceiling_texts, 1))

    def naive() -> None:
        log("naive pipeline…")
        sample = chat_corpus.spread_sample(realistic, 100 if args.quick else 400)
        texts = [m["content"] for m in sample]
        measured = naive_rate(texts, settings.model_dir, settings.inference_threads)
        if measured is not None:
            naives.append(measured.pop("msgs_per_s"))
            result["naive_weights"] = measured

    ceiling()
    log("end to end, no repeats…")
    unique_run = backlog_run(args.broker, unique, extra)
    unique_run.pop("rss_samples")
    unique_run.pop("state_samples")
    ceiling()
    naive()
    log("end to end, realistic…")
    real_run = backlog_run(args.broker, realistic, extra)
    real_run.pop("rss_samples")
    real_run.pop("state_samples")
    naive()
    ceiling()
    result.update(
        raw_ceiling_msgs_per_s=statistics.median(ceilings),
        raw_ceiling_samples=ceilings,
        naive_msgs_per_s=round(statistics.median(naives), 1) if naives else None,
        naive_samples=naives,
        e2e_msgs_per_s=real_run["msgs_per_s"],
        e2e_unique_msgs_per_s=unique_run["msgs_per_s"],
        stages=real_run["stages"],
        stages_unique=unique_run["stages"],
        rss=real_run["rss"],
        cpu_cores=real_run["cpu_cores"],
        cpu_cores_unique=unique_run["cpu_cores"],
        worker_cpu_ms_per_msg=real_run["worker_cpu_ms_per_msg"],
        worker_cpu_ms_per_msg_unique=unique_run["worker_cpu_ms_per_msg"],
    )
    log("latency…")
    rates = [f * real_run["msgs_per_s"] for f in LATENCY_FRACTIONS]
    seconds = 8.0 if args.quick else 30.0
    # Fresh texts for every step (a corpus that wrapped around would be all cache hits).
    needed = 200 + sum(int(r * STEP_SETTLE_SECONDS) + max(50, int(r * seconds)) for r in rates)
    latency_corpus = chat_corpus.messages(args.data, needed, seed=23)
    result["latency"] = open_loop(args.broker, latency_corpus, rates, seconds, extra)
    result["p99_ms_at_50pct"] = result["latency"][f"{rates[1]:.0f}"]["p99_ms"]
    result["ratios"] = {
        "e2e_unique_over_ceiling": round(
            unique_run["msgs_per_s"] / statistics.mean(ceilings[:2]), 3
        ),
        "e2e_over_ceiling": round(real_run["msgs_per_s"] / statistics.mean(ceilings[1:]), 3),
        "e2e_over_naive": (
            round(real_run["msgs_per_s"] / statistics.mean(naives), 2) if naives else None
        ),
    }
    log("idle worker…")
    result["idle_cpu_cores"] = idle_cpu(
        args.broker, realistic[:20], extra, 10.0 if args.quick else 30.0
    )
    if args.scale_out:
        log("scale-out: 1 and 2 workers…")
        result["scale_out"] = scale_out(args.broker, unique, extra)
    if args.soak:
        log(f"soak, {args.soak} messages…")
        result["soak"] = soak(args.broker, args.data, args.soak, extra)
    return result


def execute(args: argparse.Namespace) -> None:
    result = run(args)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    table = markdown(result)
    args.out.with_suffix(".md").write_text(table)
    print(table)
