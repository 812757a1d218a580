"""Rule engine semantics: conflicts, shadow mode, exemptions, dependencies, reasons, versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cel

from policies.base import PolicyInput, decide_and_remember
from policies.engine import RuleEngine
from policies.state import MemoryHistoryStore
from tests.unit.policies.conftest import CATEGORIES, item, rule


def engine(root: Path) -> RuleEngine:
    return RuleEngine.load(root, CATEGORIES)


def test_most_severe_action_wins_and_every_match_is_reported(
    rules_dir: Callable[..., Path],
) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule("review", "scores.hate > 0.5")
            + rule("delete", "scores.hate > 0.8", action="action: delete_message", severity="high")
            + rule("short", "scores.hate > 0.8", action="action: timeout_user", duration="10m")
            + rule("long", "scores.hate > 0.9", action="action: timeout_user", duration="1h")
        )
    )
    verdict = e.decide(item(scores={"hate": 0.95}))
    assert verdict.action == "timeout_user"
    assert verdict.params == {"duration_seconds": 3600}
    assert [m.rule_id for m in verdict.matches] == ["review", "delete", "short", "long"]
    assert e.decide(item(scores={"hate": 0.85})).params == {"duration_seconds": 600}
    assert e.decide(item(scores={"hate": 0.6})).action == "flag_for_review"
    assert e.decide(item(scores={"hate": 0.1})).action == "allow"


def test_severity_then_priority_break_ties(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule("low", "scores.spam > 0.5", action="action: delete_message", severity="low")
            + rule("high", "scores.spam > 0.5", action="action: delete_message", severity="high")
            + rule("high_first", "scores.spam > 0.5", action="action: delete_message",
                   severity="high", priority="5")
        )
    )  # fmt: skip
    verdict = e.decide(item(scores={"spam": 0.9}))
    assert verdict.severity == 3
    assert [m.reason for m in verdict.enforced_matches][-1] == "test rule high_first"
    assert verdict.action == "delete_message"


def test_shadow_rules_are_recorded_but_never_act(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule("live", "scores.hate > 0.9", action="action: delete_message")
            + rule("trial", "scores.hate > 0.5", action="action: ban_user", mode="shadow")
        )
    )
    verdict = e.decide(item(scores={"hate": 0.7}))
    assert verdict.action == "allow"
    assert [(m.rule_id, m.enforced, m.action) for m in verdict.matches] == [
        ("trial", False, "ban_user")
    ]
    assert e.decide(item(scores={"hate": 0.95})).action == "delete_message"


def test_disabled_rules_never_match(rules_dir: Callable[..., Path]) -> None:
    e = engine(rules_dir("rules:\n" + rule("dormant", "scores.hate > 0.5", mode="disabled")))
    assert e.decide(item(scores={"hate": 0.99})).matches == ()


def test_exemptions_by_role_channel_and_guild(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule(
                "r",
                "scores.spam > 0.5",
                exempt="{roles: [moderator], channels: [ads], guilds: [g9]}",
            )
        )
    )
    hit = {"scores": {"spam": 0.9}}
    assert e.decide(item(**hit)).action == "flag_for_review"
    assert e.decide(item(roles=["member", "moderator"], **hit)).action == "allow"
    assert e.decide(item(channel_id="ads", **hit)).action == "allow"
    assert e.decide(item(guild_id="g9", **hit)).action == "allow"


def test_rules_can_use_other_rules_results(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule("combo", "rules.linky && scores.spam > 0.5", action="action: ban_user")
            + rule("linky", "message.links > 0")
        )
    )
    assert e.decide(item("see https://x.example", scores={"spam": 0.9})).action == "ban_user"
    assert e.decide(item("no link", scores={"spam": 0.9})).action == "allow"
    assert [m.rule_id for m in e.decide(item("https://x.example")).matches] == ["linky"]


def test_context_variables(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule("new", "author.account_age_days < 7.0 && !author.verified")
            + rule("nsfw", "channel.nsfw && channel.type == 'voice'")
            + rule("mentions", "message.mentions >= 2 && 'vip' in author.roles")
        )
    )
    assert [m.rule_id for m in e.decide(item(age=3, verified=False)).matches] == ["new"]
    assert e.decide(item(age=None)).matches == ()  # unknown age is not a new account
    assert [m.rule_id for m in e.decide(item(nsfw=True, channel_type="voice")).matches] == ["nsfw"]
    assert [m.rule_id for m in e.decide(item("<@1> @bob hi", roles=["vip"])).matches] == [
        "mentions"
    ]


def test_lists_match_the_normalized_text_and_feed_reasons(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n" + rule("scam", "lists.scams", reason='"scam words: {found.scams}"'),
            lists={"scams.keywords.txt": "free nitro\nclaim your prize\nprize\n"},
        )
    )
    verdict = e.decide(
        item("FREE   Nitro!! and claim your prize", text="FREE   Nitro!! and claim your prize")
    )
    assert verdict.matches[0].reason == "scam words: free nitro, claim your prize, prize"
    assert e.decide(item("nitrous oxide is not free")).matches == ()
    assert e.decide(item("surprize")).matches == ()  # whole words only


def test_reason_template_formats_scores(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n"
            + rule(
                "h",
                "scores.hate > 0.5",
                reason='"hate {scores.hate:.2f} by {rule.id} → {rule.action}"',
            )
        )
    )
    assert (
        e.decide(item(scores={"hate": 0.876})).matches[0].reason
        == "hate 0.88 by h → flag_for_review"
    )


def test_rule_runtime_errors_are_reported_not_fatal(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "rules:\n" + rule("lookup", "scores.spam > 0.5") + rule("other", "scores.hate > 0.5")
        )
    )
    # Lint rejects conditions that fail on its probes; this one fails only on live input.
    first = e.ruleset.levels[0][0]
    broken = replace(first, program=cel.compile("scores[message.content] > 0.5"))
    e = RuleEngine(replace(e.ruleset, levels=((broken, e.ruleset.levels[0][1]),)))
    verdict = e.decide(item("not-a-category", scores={"hate": 0.9}))
    assert verdict.rule_errors == ("lookup",)
    assert [m.rule_id for m in verdict.matches] == ["other"]


def test_ladder_escalates_with_strikes_in_its_window(rules_dir: Callable[..., Path]) -> None:
    e = engine(
        rules_dir(
            "ladders:\n  abuse:\n    window: 1h\n    steps:\n"
            "      - {strikes: 1, action: flag_for_review}\n"
            "      - {strikes: 2, action: timeout_user, duration: 10m}\n"
            "      - {strikes: 3, action: ban_user}\n"
            "rules:\n" + rule("abuse", "scores.offensive > 0.9", action="ladder: abuse")
        )
    )
    store = MemoryHistoryStore()

    def decide(i: int, at: float, score: float = 0.95) -> str:
        query = item(scores={"offensive": score}, message_id=f"m{i}", at=at)
        return decide_and_remember(e, store, query).action

    assert decide(1, 0) == "flag_for_review"
    assert decide(2, 10, score=0.1) == "allow"  # no strike
    assert decide(3, 60) == "timeout_user"
    assert decide(4, 120) == "ban_user"
    assert decide(5, 60 + 3600 + 1) == "timeout_user"  # the first two strikes expired
    assert e.history_seconds >= 3600


def test_version_covers_rules_and_lists(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir("rules:\n" + rule("s", "lists.w"), lists={"w.keywords.txt": "a\n"})
    first = engine(root).version
    assert engine(root).version == first
    (root / "lists" / "w.keywords.txt").write_text("b\n")
    second = engine(root).version
    assert second != first
    assert second.startswith("rules@")
    (root / "tests").mkdir()
    (root / "tests" / "x.yaml").write_text("cases: []\n")
    assert engine(root).version == second  # tests do not change behaviour


def test_policies_without_state_skip_history(rules_dir: Callable[..., Path]) -> None:
    e = engine(rules_dir("rules:\n" + rule("s", "scores.spam > 0.5")))
    assert e.history_seconds == 0

    class Untouchable(MemoryHistoryStore):
        def get(self, author_id: str) -> object:  # type: ignore[override]
            raise AssertionError("history read")

    decide_and_remember(e, Untouchable(), PolicyInput(item().event, {}, "x", 1.0))
