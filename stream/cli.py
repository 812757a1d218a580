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
    from policies.thresholds import PolicyError
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
    from classifiers.onnx_classifier import OnnxClassifier

    try:
        return OnnxClassifier(settings.model_dir, intra_op_threads=settings.inference_threads)
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


if __name__ == "__main__":
    main()
