"""A classifier run in a child process, so that model inference and the worker's event loop
never wait for each other's Python lock.

Why: onnxruntime releases the GIL while a graph runs, but every call re-enters Python to
tokenize, build the input arrays and read the result. In one process the inference thread
then queues behind the event loop (decoding, policy, the Kafka clients) for the GIL, which
made inference ~25 % slower inside the worker than alone. In a child process it runs on its
own core; the parent's inference thread only waits on a pipe.

The child is also a fault boundary: if the runtime crashes on some input (a segfault, the
OOM killer), the call in flight fails with :class:`ClassifierCrashed` and the next call
starts a fresh child. The batch processor then retries the batch text by text, so only the
text that kills the child again is dead-lettered.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from classifiers.base import Classifier, ClassifierUnavailable, Scores, StageTimed

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 300.0
"""How long a child may take to load its model (hashing and loading a large model)."""


class ClassifierCrashed(RuntimeError):
    """The child process died during a call; the next call starts a new one."""


class ChildClassifierError(RuntimeError):
    """``predict`` raised in the child; the message names the original exception."""


def _serve(factory: Callable[[], Classifier], conn: Connection) -> None:
    """The child's loop: build the classifier, then answer one ``predict`` per message."""
    # Ctrl-C reaches the whole process group; the parent decides when the child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        classifier = factory()
    except BaseException as exc:  # every load failure must reach the parent, explained
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    timed = isinstance(classifier, StageTimed)
    try:
        conn.send(("ready", classifier.categories, dict(classifier.thresholds), classifier.version))
        while (texts := conn.recv()) is not None:
            before = dict(classifier.stage_seconds) if timed else {}  # type: ignore[attr-defined]
            try:
                scores = classifier.predict(texts)
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                continue
            after = dict(classifier.stage_seconds) if timed else {}  # type: ignore[attr-defined]
            conn.send(("ok", scores, {k: v - before.get(k, 0.0) for k, v in after.items()}))
    except (EOFError, OSError):  # the parent is gone
        return


class IsolatedClassifier:
    """Runs the classifier that ``factory`` builds in a child process (a ``Classifier`` and
    ``StageTimed``). ``factory`` must be picklable (a top-level callable or a partial)."""

    def __init__(self, factory: Callable[[], Classifier]) -> None:
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._lock = threading.Lock()
        self._stage_seconds: dict[str, float] = {}
        self._process: Any = None
        self._conn: Connection | None = None
        self._categories: tuple[str, ...] = ()
        self._thresholds: Mapping[str, float] = MappingProxyType({})
        self._version = ""
        self._start()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(self._factory, child), name="vigil-model", daemon=True
        )
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_SECONDS):
            process.kill()
            raise RuntimeError(f"the model process did not start in {START_TIMEOUT_SECONDS} s")
        try:
            reply = parent.recv()
        except EOFError:
            process.join()
            raise RuntimeError(
                f"the model process exited while loading (exit code {process.exitcode})"
            ) from None
        if reply[0] == "failed":
            process.join()
            raise RuntimeError(f"the model could not be loaded: {reply[1]}")
        _, categories, thresholds, version = reply
        self._categories = tuple(categories)
        self._thresholds = MappingProxyType(dict(thresholds))
        self._version = version
        self._process, self._conn = process, parent

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    @property
    def thresholds(self) -> Mapping[str, float]:
        return self._thresholds

    @property
    def version(self) -> str:
        return self._version

    @property
    def stage_seconds(self) -> Mapping[str, float]:
        """Cumulative seconds per stage the child reported (``StageTimed``)."""
        return dict(self._stage_seconds)

    @property
    def pid(self) -> int | None:
        """The child's process id (for memory accounting)."""
        return self._process.pid if self._process is not None else None

    def predict(self, texts: Sequence[str]) -> Scores:
        with self._lock:
            if self._conn is None:
                started = time.perf_counter()
                try:
                    self._start()
                except RuntimeError as exc:
                    raise ClassifierUnavailable(f"cannot restart the model process: {exc}") from exc
                log.warning("model process restarted in %.1f s", time.perf_counter() - started)
            assert self._conn is not None
            try:
                self._conn.send(list(texts))
                reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                code = self._reap()
                raise ClassifierCrashed(
                    f"the model process died (exit code {code}) scoring {len(texts)} texts"
                ) from exc
        if reply[0] == "error":
            raise ChildClassifierError(reply[1])
        _, scores, stages = reply
        for stage, seconds in stages.items():
            self._stage_seconds[stage] = self._stage_seconds.get(stage, 0.0) + seconds
        return scores  # type: ignore[no-any-return]

    def _reap(self) -> int | None:
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None:
            return None
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
        return process.exitcode  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the child (it also exits by itself when this process dies)."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):  # already gone
                    self._conn.send(None)
            self._reap()
