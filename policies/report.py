"""The human-readable backtest report (tables on the terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from policies.backtest import Report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(
        f"[bold]{report.messages}[/] messages ({report.labelled} labelled, "
        f"{report.positives} harmful) · policy {report.policy_version} · "
        f"model {report.model_version}"
    )
    actions = Table(title="Final actions")
    actions.add_column("action")
    actions.add_column("messages", justify="right")
    for action, count in report.actions.items():
        actions.add_row(action, str(count))
    console.print(actions)
    rules = Table(title="Rules (precision and recall against the labels)")
    for name, justify in (
        ("rule", "left"), ("mode", "left"), ("matches", "right"),
        ("precision", "right"), ("recall", "right"),
    ):  # fmt: skip
        rules.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report.rules:
        rules.add_row(
            r["rule"], r["mode"], str(r["matches"]), _pct(r["precision"]), _pct(r["recall"])
        )
    console.print(rules)
    if report.baseline_version is None:
        return
    if not report.changes:
        console.print(f"No action changes against the baseline {report.baseline_version}.")
        return
    changes = Table(title=f"Action changes against the baseline {report.baseline_version}")
    for name in ("from → to", "messages", "labelled harmful", "examples"):
        changes.add_column(name)
    for c in report.changes:
        examples = "\n".join(f"line {e['line']}: {e['content'][:60]}" for e in c["examples"])
        changes.add_row(f"{c['from']} → {c['to']}", str(c["count"]), str(c["harmful"]), examples)
    console.print(changes)
