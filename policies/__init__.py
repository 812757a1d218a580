"""Policy layer: turns an event and its classifier scores into a verdict."""

from policies.base import ALLOW, Policy, RuleMatch, Verdict
from policies.thresholds import PolicyError, ThresholdPolicy

__all__ = ["ALLOW", "Policy", "PolicyError", "RuleMatch", "ThresholdPolicy", "Verdict"]
