"""The ``vigil`` command line."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

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


if __name__ == "__main__":
    main()
