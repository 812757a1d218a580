"""The shape of rule files and rule-test files; unknown fields are rejected."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from policies.base import ACTION_RANK, SEVERITY

ActionName = Literal["allow", "flag_for_review", "delete_message", "timeout_user", "ban_user"]
SeverityName = Literal["low", "medium", "high", "critical"]
assert set(ActionName.__args__) == set(ACTION_RANK)  # type: ignore[attr-defined]
assert set(SeverityName.__args__) == set(SEVERITY)  # type: ignore[attr-defined]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("a duration is a number with a unit: 30s, 10m, 1h, 7d or 2w")
        return int(match.group(1)) * _UNITS[match.group(2)]
    return value


Duration = Annotated[int, BeforeValidator(_seconds), Field(gt=0)]
"""Seconds, written ``30s``, ``10m``, ``1h``, ``7d`` or ``2w`` (or a number of seconds)."""
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exempt(_Strict):
    """Authors with any of these roles, or messages in these channels or guilds, never match."""

    roles: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    guilds: tuple[str, ...] = ()


def _check_duration(action: str | None, duration: int | None) -> None:
    if action == "timeout_user" and duration is None:
        raise ValueError("timeout_user needs a duration, e.g. duration: 10m")
    if action != "timeout_user" and duration is not None:
        raise ValueError("duration only applies to action: timeout_user")


class LadderStep(_Strict):
    action: ActionName
    duration: Duration | None = None
    strikes: int = Field(ge=1)
    """Applies from this many strikes (this one included) within the ladder's window."""

    @model_validator(mode="after")
    def _duration_fits_action(self) -> LadderStep:
        _check_duration(self.action, self.duration)
        return self


class Ladder(_Strict):
    """An escalation ladder: repeated hits by one author within ``window`` escalate."""

    description: str = ""
    window: Duration
    steps: tuple[LadderStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps_ascend(self) -> Ladder:
        counts = [s.strikes for s in self.steps]
        if counts[0] != 1:
            raise ValueError("the first step must be strikes: 1 (what a first hit does)")
        if counts != sorted(set(counts)):
            raise ValueError("steps must be listed by strictly increasing strikes")
        return self


class Rule(_Strict):
    id: Identifier
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    mode: Literal["enforce", "shadow", "disabled"] = "enforce"
    when: str = Field(min_length=1)
    """A CEL condition, see policies/README.md."""
    action: ActionName | None = None
    duration: Duration | None = None
    ladder: Identifier | None = None
    """Take the action of this ladder's step instead of a fixed action (adds a strike)."""
    severity: SeverityName
    priority: int = 0
    """Breaks ties between rules with the same action and severity (higher wins)."""
    exempt: Exempt = Exempt()
    reason: str | None = None
    """Template rendered into the action, e.g. ``hate score {scores.hate:.2f}``."""

    @model_validator(mode="after")
    def _one_way_to_act(self) -> Rule:
        if (self.action is None) == (self.ladder is None):
            raise ValueError("give exactly one of 'action' or 'ladder'")
        _check_duration(self.action, self.duration)
        return self


class RuleFile(_Strict):
    ladders: dict[Identifier, Ladder] = {}
    rules: tuple[Rule, ...] = ()


class AuthorSpec(_Strict):
    account_age_days: float | None = None
    roles: tuple[str, ...] = ()
    verified: bool | None = None


class ChannelSpec(_Strict):
    nsfw: bool | None = None
    type: str | None = None


class MessageSpec(_Strict):
    content: str = ""
    message_id: str | None = None
    author_id: str = "author-1"
    channel_id: str = "channel-1"
    guild_id: str | None = "guild-1"
    author: AuthorSpec = AuthorSpec()
    channel: ChannelSpec = ChannelSpec()
    scores: dict[str, float] = {}
    """Classifier scores; categories left out score 0."""
    seconds_ago: float | None = Field(default=None, ge=0)
    """For history entries: seconds before the case's message (default: 1 s apart, ending
    1 s before it)."""


class Expectation(_Strict):
    action: ActionName
    rules: tuple[str, ...] | None = None
    """Ids of every rule that matches (shadow ones included); omitted = not checked."""
    duration: Duration | None = None


class TestCase(_Strict):
    name: str = Field(min_length=1)
    message: MessageSpec
    history: tuple[MessageSpec, ...] = ()
    """Earlier messages by the same author, oldest first, run through the policy first."""
    expect: Expectation
