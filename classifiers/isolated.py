"""A classifier run in a child process, so that model inference and the worker's event loop
never wait for each other's Python lock.

Why: onnxruntime releases the GIL while a graph runs, but every call re-enters Python to
tokenize, build the input arrays and read the result. In one process the inference thread
then queues behind the event loop (decoding, policy, the Kafka clients) for the GIL, which
made inference ~25 % slower inside the worker than alone. In a child process it runs on its
own core; the parent's inference thread only waits on a pipe.

Calls are pipelined (:class:`~classifiers.base.Pipelined`): with ``PIPELINE_DEPTH`` calls in
flight, the next batch already waits in the pipe while the child scores the current one.
With one call at a time the child sat idle ~5 % of a backlog run, while the parent's thread
waited for the lock to read a result and send the next batch.

The child is also a fault boundary: if the runtime crashes on some input (a segfault, the
OOM killer), the calls in flight fail with :class:`ClassifierCrashed` and the next call
starts a fresh child. The batch processor then retries those batches text by text, so only
the text that kills the child again is dead-lettered.
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
PIPELINE_DEPTH = 2
"""Calls in flight at once: one being scored, the next waiting in the pipe."""


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
            try:
                scores = classifier.predict(texts)
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
                continue
            stages = dict(classifier.last_stage_seconds) if timed else {}  # type: ignore[attr-defined]
            conn.send(("ok", scores, stages))
    except (EOFError, OSError):  # the parent is gone
        return


class IsolatedClassifier:
    """Runs the classifier that ``factory`` builds in a child process (a ``Classifier``,
    ``StageTimed`` and ``Pipelined``). ``factory`` must be picklable (a top-level callable or
    a partial)."""

    def __init__(self, factory: Callable[[], Classifier]) -> None:
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._sending = threading.Lock()  # one writer on the pipe at a time
        # Guards the child and the call order. A call takes ticket n when it sends and reads
        # the n-th reply of that child; a new child (generation) starts counting afresh.
        self._state = threading.Condition()
        self._generation = 0
        self._sent = self._received = 0
        self._exit_code: int | None = None
        self._calls = threading.local()  # per thread: the latest call's stage times
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
    def pipeline_depth(self) -> int:
        return PIPELINE_DEPTH

    @property
    def last_stage_seconds(self) -> Mapping[str, float]:
        """The child's stage times for this thread's latest call, and ``queued``: how long
        the call waited for the calls sent before it."""
        stages: Mapping[str, float] = getattr(self._calls, "stages", {})
        return stages

    @property
    def pid(self) -> int | None:
        """The child's process id (for memory accounting)."""
        return self._process.pid if self._process is not None else None

    def predict(self, texts: Sequence[str]) -> Scores:
        with self._sending:
            with self._state:
                if self._conn is None:
                    self._restart()
                assert self._conn is not None
                conn, generation, ticket = self._conn, self._generation, self._sent
                self._sent += 1
            sent_at = time.perf_counter()
            try:
                conn.send(list(texts))
            except (EOFError, OSError) as exc:
                raise self._crashed(generation, len(texts)) from exc
        with self._state:
            self._state.wait_for(lambda: self._generation != generation or self._received == ticket)
            if self._generation != generation:
                raise self._died(len(texts))
        queued = time.perf_counter() - sent_at
        try:
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            raise self._crashed(generation, len(texts)) from exc
        with self._state:
            self._received += 1
            self._state.notify_all()
        if reply[0] == "error":
            raise ChildClassifierError(reply[1])
        _, scores, stages = reply
        self._calls.stages = {**stages, "queued": queued}
        return scores  # type: ignore[no-any-return]

    def _restart(self) -> None:
        """A new child after a crash; call holding ``_state``."""
        started = time.perf_counter()
        try:
            self._start()
        except RuntimeError as exc:
            raise ClassifierUnavailable(f"cannot restart the model process: {exc}") from exc
        log.warning("model process restarted in %.1f s", time.perf_counter() - started)

    def _crashed(self, generation: int, texts: int) -> ClassifierCrashed:
        """Reap a dead child once, whichever of its calls noticed first, and fail its calls."""
        with self._state:
            if self._generation == generation:
                self._exit_code = self._retire()
            return self._died(texts)

    def _died(self, texts: int) -> ClassifierCrashed:
        return ClassifierCrashed(
            f"the model process died (exit code {self._exit_code}) with {texts} texts to score"
        )

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
        with self._sending, self._state:
            if self._conn is not None:
                with contextlib.suppress(OSError):  # already gone
                    self._conn.send(None)
            self._retire()

    def _retire(self) -> int | None:
        """End the current child and fail the calls still waiting on it (holding ``_state``);
        the next call starts a new child with its own call order. Returns the exit code."""
        code = self._reap()
        self._generation += 1
        self._sent = self._received = 0
        self._state.notify_all()
        return code
