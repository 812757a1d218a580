"""Vigil's policy layer: rule files, the engine that runs them, and the tools around them."""

from policies.base import (
    ACTION_RANK,
    ALLOW,
    Policy,
    PolicyError,
    PolicyInput,
    RuleMatch,
    Verdict,
    decide_and_remember,
)

__all__ = [
    "ACTION_RANK",
    "ALLOW",
    "Policy",
    "PolicyError",
    "PolicyInput",
    "RuleMatch",
    "Verdict",
    "decide_and_remember",
]
