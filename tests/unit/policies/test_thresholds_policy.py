from __future__ import annotations

from pathlib import Path

import pytest

from policies.thresholds import PolicyError, ThresholdPolicy
from stream.records import MessageEvent

CATEGORIES = ("offensive", "hate", "spam")
SHIPPED = Path(__file__).resolve().parents[3] / "policies" / "rules" / "thresholds.yaml"
EVENT = MessageEvent(message_id="m", author_id="a", channel_id="c", content="x")


def scores(offensive: float = 0.0, hate: float = 0.0, spam: float = 0.0) -> dict[str, float]:
    return {"offensive": offensive, "hate": hate, "spam": spam}


def test_shipped_policy_loads_and_most_severe_action_wins() -> None:
    policy = ThresholdPolicy.load(SHIPPED, CATEGORIES)
    assert policy.decide(EVENT, scores()).action == "allow"
    verdict = policy.decide(EVENT, scores(offensive=0.99, spam=0.2))
    assert verdict.action == "delete_message"
    assert {m.rule_id for m in verdict.matches} == {"offensive-review", "offensive-delete"}


def test_version_is_a_hash_of_the_rule_file(tmp_path: Path) -> None:
    copy = tmp_path / "rules.yaml"
    copy.write_bytes(SHIPPED.read_bytes())
    assert (
        ThresholdPolicy.load(copy, CATEGORIES).version
        == ThresholdPolicy.load(SHIPPED, CATEGORIES).version
    )
    copy.write_bytes(SHIPPED.read_bytes() + b"\n# changed\n")
    assert (
        ThresholdPolicy.load(copy, CATEGORIES).version
        != ThresholdPolicy.load(SHIPPED, CATEGORIES).version
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "invalid YAML"),
        ("- just a list", "'rules' list"),
        (
            "rules:\n  - {id: a, category: toxicity, above: 0.5, action: ban_user}",
            "unknown category",
        ),
        ("rules:\n  - {id: a, category: hate, above: 0.5, action: nuke}", "unknown action"),
        ("rules:\n  - {id: a, category: hate, above: 1.5, action: ban_user}", "within [0, 1]"),
        ("rules:\n  - {id: a, category: hate, action: ban_user}", "missing field 'above'"),
        (
            "rules:\n  - {id: a, category: hate, above: 0.5, action: ban_user}\n"
            "  - {id: a, category: spam, above: 0.5, action: ban_user}",
            "duplicate rule id",
        ),
    ],
)
def test_invalid_rule_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=r"rules\.yaml") as info:
        ThresholdPolicy.load(path, CATEGORIES)
    assert message in str(info.value)


def test_missing_rule_file() -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        ThresholdPolicy.load(Path("/nonexistent.yaml"), CATEGORIES)
