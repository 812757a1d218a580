"""Hot reload of the rules directory: a changed, valid rule set replaces the running one
between two batches; an invalid one is logged and counted, and the last good set keeps running.

Polling the files' hash (every ``VIGIL_POLICY_RELOAD_SECONDS``) rather than file-system
events: it also sees Kubernetes ConfigMap updates (an atomic symlink swap) and network
file systems, and a half-written file is retried on the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from policies.base import Policy, PolicyError
from policies.engine import RuleEngine
from policies.ruleset import rules_version
from stream.metrics import PipelineMetrics

log = logging.getLogger(__name__)


class PolicyReloader:
    def __init__(
        self,
        path: Path,
        categories: tuple[str, ...],
        current: Callable[[], Policy],
        install: Callable[[Policy], None],
        metrics: PipelineMetrics,
    ) -> None:
        self._path = path
        self._categories = categories
        self._current = current
        self._install = install
        self._metrics = metrics
        self._rejected: str | None = None

    async def check(self) -> bool:
        """Load the rules if they changed; True when a new rule set was installed."""
        loop = asyncio.get_running_loop()
        try:
            version = await loop.run_in_executor(None, rules_version, self._path)
        except OSError as exc:
            version = f"unreadable: {exc}"
        if version in (self._current().version, self._rejected):
            return False
        try:
            policy = await loop.run_in_executor(None, RuleEngine.load, self._path, self._categories)
        except (PolicyError, OSError) as exc:
            self._rejected = version
            self._metrics.policy_reload_failures.inc()
            log.error("rejected changed rule set, keeping %s: %s", self._current().version, exc)
            return False
        old = self._current().version
        self._install(policy)
        self._rejected = None
        self._metrics.policy_reloads.inc()
        self._metrics.policy_info.info({"version": policy.version})
        log.info("policy reloaded: %s → %s", old, policy.version)
        return True
