"""What the policy layer costs per message, as a share of the whole per-message pipeline.

    python -m bench.policy_cost [--messages 2000] [--runs 3] [--out FILE.json]

Generates a large rule set (100 rules over scores, context, per-author state and other
rules' results, plus 5 lists of 1,000 patterns each: 3 keyword lists, 2 regex lists) and
runs the demo corpus (400 chat messages, cycled) through
:class:`stream.processor.BatchProcessor` with the shipped model, in batches as the worker
does, once with that rule set and once with the shipped default policy. The per-stage wall
times come from the processor's own ``vigil_stage_duration_seconds``; the policy's share is
policy / (decode + normalize + classify + policy). Encoding and producing are left out,
which only overstates the share. Median of ``--runs`` runs; every ratio comes from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from classifiers.onnx_classifier import OnnxClassifier
from policies.engine import RuleEngine
from stream.author_history import AuthorHistories
from stream.components import onnx_classifier
from stream.demo import sample_messages
from stream.metrics import STAGES, PipelineMetrics
from stream.processor import BatchProcessor
from stream.records import InboundRecord, SourcePosition
from stream.settings import Settings

N_RULES = 100
N_LISTS = 5
PATTERNS_PER_LIST = 1000


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(n)]


def generate_rules(root: Path, categories: tuple[str, ...], seed: int = 7) -> None:
    """A realistic large rule set: thresholds, context, state, lists, exemptions, chains."""
    rng = random.Random(seed)
    vocab = _words(rng, 5000)
    lists = root / "lists"
    lists.mkdir(parents=True)
    names = []
    for n in range(N_LISTS):
        kind = "keywords" if n < 3 else "regex"
        name = f"list_{n}"
        names.append(name)
        if kind == "keywords":
            entries = {
                " ".join(rng.sample(vocab, rng.randint(1, 3))) for _ in range(PATTERNS_PER_LIST * 2)
            }
        else:
            entries = {
                rf"https?://([a-z0-9-]+\.)*{rng.choice(vocab)}[0-9]*\.(com|net|xyz|ru)/[a-z0-9/_-]*"
                for _ in range(PATTERNS_PER_LIST * 2)
            }
        body = sorted(entries)[:PATTERNS_PER_LIST]
        (lists / f"{name}.{kind}.txt").write_text("\n".join(body) + "\n")
    rules = []
    for i in range(N_RULES):
        cat = categories[i % len(categories)]
        threshold = 0.5 + (i % 50) / 100
        shape = i % 5
        if shape == 0:
            when = f"scores.{cat} >= {threshold:.2f}"
        elif shape == 1:
            when = f"lists.{names[i % N_LISTS]} && scores.{cat} >= {threshold / 2:.2f}"
        elif shape == 2:
            when = (
                f"author.account_age_days < {1 + i % 30}.0 && !author.verified"
                f" && scores.{cat} >= {threshold - 0.2:.2f}"
            )
        elif shape == 3:
            when = (
                f"state.messages_1m >= {5 + i % 10}"
                f" || state.same_content_channels_1h >= {3 + i % 4}"
            )
        else:
            when = f"rules.rule_{i - 4} && (message.links > 0 || 'vip' in author.roles)"
        action = ["flag_for_review", "delete_message", "timeout_user"][i % 3]
        extra = "    duration: 10m\n" if action == "timeout_user" else ""
        rules.append(
            f"  - id: rule_{i}\n    description: generated rule {i}\n    owner: bench\n"
            f'    when: "{when}"\n    action: {action}\n{extra}    severity: medium\n'
            f'    exempt: {{roles: [moderator]}}\n    reason: "rule {i}: {{scores.{cat}:.2f}}"\n'
        )
    (root / "rules.yaml").write_text("rules:\n" + "".join(rules))


def records(messages: list[dict[str, Any]]) -> list[InboundRecord]:
    now = time.time()
    return [
        InboundRecord(
            m["author_id"].encode(),
            orjson.dumps(m),
            (),
            SourcePosition("messages", 0, i, now + i / 100),
        )
        for i, m in enumerate(messages)
    ]


def run_once(
    classifier: OnnxClassifier, policy: RuleEngine, batch: list[InboundRecord], size: int
) -> dict[str, float]:
    metrics = PipelineMetrics()
    processor = BatchProcessor(
        classifier=classifier,
        policy=policy,
        settings=Settings(),
        metrics=metrics,
        executor=ThreadPoolExecutor(1),
        history=AuthorHistories(topic=None),
    )

    async def go() -> None:
        for s in range(0, len(batch), size):
            await processor.process(batch[s : s + size])

    asyncio.run(go())
    seconds = {
        stage: metrics.registry.get_sample_value(
            "vigil_stage_duration_seconds_sum", {"stage": stage}
        )
        or 0.0
        for stage in STAGES
        if stage != "produce"
    }
    total = sum(seconds.values())
    matches = sum(
        sample.value
        for family in metrics.rule_matches.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )
    per_msg = {f"{k}_us_per_msg": round(v / len(batch) * 1e6, 1) for k, v in seconds.items()}
    return {
        **per_msg,
        "rule_matches_per_msg": round(matches / len(batch), 2),
        "pipeline_us_per_msg": round(total / len(batch) * 1e6, 1),
        "policy_share": seconds["policy"] / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings()
    classifier = onnx_classifier(settings)
    sample = sample_messages()
    batch = records(
        [{**sample[i % len(sample)], "message_id": f"b{i}"} for i in range(args.messages)]
    )
    results: dict[str, Any] = {"messages": args.messages, "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        generate_rules(Path(tmp), tuple(classifier.categories))
        policies = {
            "large_100_rules_5x1000_patterns": RuleEngine.load(
                Path(tmp), tuple(classifier.categories)
            ),
            "shipped_default": RuleEngine.load(settings.policy_path, tuple(classifier.categories)),
        }
        for name, policy in policies.items():
            run_once(classifier, policy, batch[:200], settings.batch_max)  # warm-up
            runs = [
                run_once(classifier, policy, batch, settings.batch_max) for _ in range(args.runs)
            ]
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            median["policy_share"] = round(median["policy_share"], 4)
            results[name] = {
                "rules": len(policy.ruleset.rules),
                "lists": len(policy.ruleset.lists),
                **median,
            }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
