"""The ``vigil`` command line."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from classifiers.base import Classifier, ClassifierOutputError
from classifiers.offline import InputError, read_labelled_csv, score_texts, text_of_line
from stream.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``VIGIL_*`` variables, with CLI flags (non-None) taking precedence."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = [
            f"  VIGIL_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise click.UsageError("invalid configuration:\n" + "\n".join(lines)) from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


broker_option = click.option(
    "--broker", metavar="HOST:PORT", default=None, help="Kafka bootstrap servers (VIGIL_BROKER)."
)


@click.group()
@click.version_option(package_name="vigil")
def main() -> None:
    """Vigil: real-time safety classification for chat messages."""


@main.command()
@broker_option
@click.option("--instance-id", default=None, help="Static membership id (VIGIL_INSTANCE_ID).")
@click.option("--metrics-port", type=int, default=None, help="/metrics port, 0 = off.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None)
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), default=None)
def worker(**flags: Any) -> None:
    """Consume the input topic and produce decisions, actions and dead letters."""
    settings = load_settings(**flags)
    _logging(settings.log_level)
    from classifiers.manifest import ModelIntegrityError
    from policies.base import PolicyError
    from stream.app import run_worker
    from stream.components import ComponentError

    try:
        run_worker(settings)
    except (ModelIntegrityError, PolicyError, ComponentError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def topics() -> None:
    """Manage Vigil's topics."""


@topics.command("create")
@broker_option
@click.option("--partitions", type=int, default=None, help="Partitions per topic.")
def topics_create(**flags: Any) -> None:
    """Create the input, decisions, actions and DLQ topics (existing ones are kept)."""
    settings = load_settings(**flags)
    from stream.topics import create_topics

    for topic, state in create_topics(settings).items():
        click.echo(f"{topic}\t{state}")


@main.command()
@broker_option
@click.option("--limit", type=int, default=None, help="Stop after N decisions.")
@click.option("--rate", type=float, default=25.0, show_default=True, help="Messages per second.")
def demo(broker: str | None, limit: int | None, rate: float) -> None:
    """Stream sample chat messages through a worker and show decisions live.

    Without --broker (or VIGIL_BROKER) it starts an embedded broker on 127.0.0.1.
    """
    from stream.demo import run_demo

    _logging("warning")
    sys.exit(run_demo(broker=broker, limit=limit, rate=rate))


@main.command("config")
def config_reference() -> None:
    """Print every setting as a Markdown table (environment variable, default, meaning)."""
    click.echo("| variable | default | meaning |\n|---|---|---|")
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, Path):
            default = default.relative_to(Path(__file__).resolve().parent.parent)
        description = " ".join((field.description or "").split())
        # The docstrings are reST; the table is Markdown, and the default has its own column.
        description = re.sub(r"\s*Default[ :].*$", "", description)
        description = description.replace(":class:", "").replace("``", "`")
        click.echo(f"| `VIGIL_{name.upper()}` | `{default}` | {description} |")


# ---------------------------------------------------------------- offline scoring: classify, eval

CLASSIFY_CHUNK = 512
"""Lines read, normalized and scored together by ``vigil classify`` (``--batch``)."""


def _load_onnx_classifier(settings: Settings) -> Classifier:
    """The model in ``settings.model_dir``; a missing or tampered model is a one-line error."""
    from classifiers.manifest import ModelIntegrityError
    from stream.components import onnx_classifier

    try:
        return onnx_classifier(settings)
    except (ModelIntegrityError, OSError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None


@main.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="File with one message per line (default: stdin).",
)
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=CLASSIFY_CHUNK,
    show_default=True,
    help="Lines read and scored per chunk.",
)
def classify(input_path: Path | None, model_dir: Path | None, batch: int) -> None:
    """Score messages offline: one message per input line, one JSON object per output line.

    A line is a JSON object with a string "content" field, or else plain text. Output, in
    input order: {"text": ..., "scores": {category: probability}, "flagged": [category, ...]}
    where flagged lists the categories scoring at least the model's threshold. A JSON object
    without a string "content" is reported on stderr with its line number and skipped; the
    exit status is then 1.
    """
    import itertools
    import os

    import orjson

    settings = load_settings(model_dir=model_dir)
    classifier = _load_onnx_classifier(settings)
    categories: tuple[str, ...] = tuple(classifier.categories)
    thresholds = [classifier.thresholds[c] for c in categories]
    if input_path is None or str(input_path) == "-":
        name, source = "stdin", sys.stdin.buffer
    else:
        name, source = str(input_path), input_path.open("rb")
    out = sys.stdout.buffer
    bad = 0
    lineno = 0
    try:
        with source:
            while chunk := list(itertools.islice(source, batch)):
                texts: list[str] = []
                for raw in chunk:
                    lineno += 1
                    try:
                        texts.append(text_of_line(raw, lineno == 1))
                    except InputError as exc:
                        bad += 1
                        click.echo(f"{name}:{lineno}: {exc}", err=True)
                if not texts:
                    continue
                scores = _score(classifier, texts, settings.max_content_chars, dedupe=True).tolist()
                out.write(
                    b"".join(
                        orjson.dumps(
                            {
                                "text": text,
                                "scores": dict(zip(categories, row, strict=True)),
                                "flagged": [
                                    c
                                    for c, v, t in zip(categories, row, thresholds, strict=True)
                                    if v >= t
                                ],
                            },
                            option=orjson.OPT_APPEND_NEWLINE,
                        )
                        for text, row in zip(texts, scores, strict=True)
                    )
                )
                out.flush()
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other filters do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if bad:
        click.echo(f"{name}: {bad} of {lineno} lines could not be scored", err=True)
        sys.exit(1)


def _score(classifier: Classifier, texts: list[str], max_chars: int, dedupe: bool = False) -> Any:
    try:
        return score_texts(classifier, texts, max_chars, dedupe=dedupe)
    except ClassifierOutputError as exc:
        raise click.ClickException(str(exc)) from None


def _labelled_csv(path: Path) -> tuple[list[str], list[int]]:
    try:
        return read_labelled_csv(path)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("eval")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with a header and columns text,label (1 = harmful, 0 = not).",
)
@click.option("--category", required=True, help="The model category the labels are for.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None)
def evaluate_model(data: Path, category: str, model_dir: Path | None) -> None:
    """Evaluate one category of the model on a labelled CSV; print one JSON object.

    Keys: n, positives, precision, recall, f1 (positive class, at the model's threshold),
    macro_f1 (mean F1 of both classes), roc_auc (null if the data has one class), threshold,
    texts_per_s (normalization + inference), model_version, category.
    """
    import time

    import numpy as np
    import orjson

    from classifiers.evaluate import binary_report

    settings = load_settings(model_dir=model_dir)
    texts, labels = _labelled_csv(data)
    classifier = _load_onnx_classifier(settings)
    if category not in classifier.categories:
        raise click.ClickException(
            f"unknown category {category!r}; model {classifier.version} scores: "
            + ", ".join(classifier.categories)
        )
    column = classifier.categories.index(category)
    started = time.perf_counter()
    scores = [
        _score(classifier, texts[i : i + CLASSIFY_CHUNK], settings.max_content_chars)
        for i in range(0, len(texts), CLASSIFY_CHUNK)
    ]
    elapsed = time.perf_counter() - started
    report = binary_report(
        labels, np.concatenate(scores)[:, column], classifier.thresholds[category]
    )
    if report.roc_auc is None:
        click.echo("warning: roc_auc is undefined: the data has only one class", err=True)
    result = {
        **report.to_dict(),
        "texts_per_s": round(len(texts) / elapsed, 1) if elapsed > 0 else None,
        "model_version": classifier.version,
        "category": category,
    }
    click.echo(orjson.dumps(result).decode())


# ------------------------------------------------------- policy authoring: lint, test, backtest


def _categories(model_dir: Path | None) -> tuple[str, ...]:
    """The categories the model scores, from its manifest (no model loading needed)."""
    from classifiers.manifest import Manifest, ModelIntegrityError

    settings = load_settings(model_dir=model_dir)
    try:
        return tuple(Manifest.load(settings.model_dir).categories)
    except (ModelIntegrityError, OSError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None


def _report_diagnostics(diagnostics: list[Any]) -> int:
    """Print diagnostics to stderr; the number of errors among them."""
    for d in diagnostics:
        click.echo(d.format(), err=True)
    return sum(1 for d in diagnostics if d.level == "error")


def _engine(path: Path, categories: tuple[str, ...]) -> Any:
    from policies.engine import RuleEngine
    from policies.ruleset import load_rules

    loaded = load_rules(path, categories)
    errors = _report_diagnostics(loaded.diagnostics)
    if loaded.ruleset is None:
        raise click.ClickException(f"{path}: {errors} error(s); run 'vigil policy lint {path}'")
    return RuleEngine(loaded.ruleset)


rules_argument = click.argument("path", type=click.Path(path_type=Path))
model_option = click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=None,
    help="Model directory whose categories rules may use (default: the shipped model).",
)  # fmt: skip


@main.group()
def policy() -> None:
    """Author policy rules: lint, test and backtest them before they go live."""


@policy.command("lint")
@rules_argument
@model_option
def policy_lint(path: Path, model_dir: Path | None) -> None:
    """Check a rules directory (or one rule file) and its lists; exit 1 on any error.

    Every problem is printed as FILE:LINE:COLUMN: LEVEL: MESSAGE with a hint.
    """
    from policies.ruleset import load_rules

    loaded = load_rules(path, _categories(model_dir))
    errors = _report_diagnostics(loaded.diagnostics)
    warnings = len(loaded.diagnostics) - errors
    if errors:
        click.echo(f"{path}: {errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(1)
    assert loaded.ruleset is not None
    rs = loaded.ruleset
    click.echo(
        f"{path}: ok ({len(rs.rules)} rules, {len(rs.lists)} lists, {len(rs.ladders)} ladders, "
        f"{warnings} warning(s)); version {rs.version}"
    )


@policy.command("test")
@rules_argument
@model_option
def policy_test(path: Path, model_dir: Path | None) -> None:
    """Run the rule tests in PATH/tests/*.yaml; exit 1 if any case fails."""
    from policies.testing import run_tests

    engine = _engine(path, _categories(model_dir))
    results, problems = run_tests(path, engine)
    errors = _report_diagnostics(problems)
    failed = [r for r in results if not r.passed]
    for r in failed:
        click.echo(f"FAIL {r.file}:{r.line}: {r.name}")
        for failure in r.failures:
            click.echo(f"    {failure}")
        for m in r.verdict.matches:
            state = "enforced" if m.enforced else "shadow"
            click.echo(f"    matched {m.rule_id} ({state}) → {m.action}: {m.reason}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed ({engine.version})")
    if failed or errors:
        sys.exit(1)


@policy.command("backtest")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
    help="CSV with a text column, or JSON lines (message events or {content}); label optional.",
)  # fmt: skip
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="Rules to compare against (e.g. the ones live now).")  # fmt: skip
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def policy_backtest(
    rules_path: Path, data: Path, baseline: Path | None, model_dir: Path | None, as_json: bool
) -> None:
    """Replay messages through the classifier and the rules, as the worker would.

    Prints matches per rule, precision and recall per rule where the data has labels, and
    with --baseline the messages whose action changes, grouped by old → new action.
    """
    import orjson

    from policies.backtest import backtest, read_samples

    settings = load_settings(model_dir=model_dir)
    try:
        samples = read_samples(data)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    classifier = _load_onnx_classifier(settings)
    engine = _engine(rules_path, tuple(classifier.categories))
    old = _engine(baseline, tuple(classifier.categories)) if baseline else None
    rules = [(r.spec.id, r.spec.mode) for r in engine.ruleset.rules]
    try:
        report = backtest(
            classifier, engine, samples, rules=rules, baseline=old,
            max_chars=settings.max_content_chars,
        )  # fmt: skip
    except ClassifierOutputError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(orjson.dumps(report.to_dict()).decode())
        return
    from policies.report import print_report

    print_report(report)


@main.command("bench")
@click.option("--quick", is_flag=True, help="Small corpus and short latency steps (~3 min).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-results.json"),
              show_default=True, help="JSON results; a Markdown table goes beside it.")  # fmt: skip
@click.option("--broker", default="127.0.0.1:19092", show_default=True)
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data"), show_default=True,
              help="Licensed datasets the benchmark corpus is generated from.")  # fmt: skip
@click.option("--messages", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Backlog size of each end-to-end run.")  # fmt: skip
@click.option("--soak", type=click.IntRange(min=0), default=0, metavar="N",
              help="Add a run of N messages that reports worker RSS growth.")  # fmt: skip
@click.option("--scale-out", is_flag=True, help="Add 1- vs 2-worker runs on 4 partitions.")
@click.option("--env", multiple=True, metavar="VIGIL_X=v", help="A worker setting (repeatable).")
def bench(**options: Any) -> None:
    """Benchmark the pipeline on the real broker against its ceilings (see bench/harness.py).

    Measures the ONNX-only ceiling, a naive transformers pipeline, end-to-end throughput on a
    realistic and a no-repeat corpus, open-loop latency at 25/50/75 % of throughput, time per
    stage and worker RSS. Start the broker first: deploy/kafka/broker start.
    """
    import argparse

    from bench.harness import execute

    options["env"] = list(options["env"])
    execute(argparse.Namespace(**options))


if __name__ == "__main__":
    main()
