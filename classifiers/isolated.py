"""A classifier run in a child process and awaited on the worker's event loop.

Why a process: onnxruntime releases the GIL while a graph runs, but every call re-enters
Python to tokenize, build the input arrays and read the result. In one process the inference
thread then queued behind the event loop (decoding, policy, the Kafka clients) for the GIL,
which made inference ~25 % slower inside the worker than alone. In a child process it runs
on its own core.

Why awaited, not called on a thread: the parent writes each request to a socket and reads
the answers when its event loop sees them arrive, so a call needs no thread and no hand-off
between threads. A call made on a thread pool cost ~85 µs more CPU per call in the parent
(a thread wake-up, a GIL hand-off for the answer and a wake-up of the loop), which matters
when each batch holds one message (README "Performance", item 13). Calls overlap: the next
batch already waits in the socket while the child scores the current one (with one call at
a time the child sat idle ~5 % of a backlog run), and answers come back in the order sent.

The child is also a fault boundary: if the runtime crashes on some input (a segfault, the
OOM killer), the calls in flight fail with :class:`ClassifierCrashed` and the next call
starts a fresh child. The batch processor then retries those batches text by text, so only
the text that kills the child again is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO

from classifiers.base import Classifier, ClassifierUnavailable, Scoring, StageTimed

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 300.0
"""How long a child may take to load its model (hashing and loading a large model)."""

_HEADER = struct.Struct("!I")
"""Each message on the socket: its length, then the pickled object."""
_READ_SIZE = 1 << 16


class ClassifierCrashed(RuntimeError):
    """The child process died during a call; the next call starts a new one."""


class ChildClassifierError(RuntimeError):
    """``predict`` raised in the child; the message names the original exception."""


class _Gone(Exception):
    """The child's socket closed with this call unanswered."""


def _frame(obj: object) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def _read_frame(stream: BinaryIO) -> Any:
    """The next object on a blocking ``stream``; None when it ends."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    return pickle.loads(payload) if len(payload) == size else None


def _serve(factory: Callable[[], Classifier], sock: socket.socket) -> None:
    """The child's loop: build the classifier, then answer each request in turn."""
    # Ctrl-C reaches the whole process group; the parent decides when the child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with sock, sock.makefile("rb") as requests:
        try:
            classifier = factory()
        except BaseException as exc:  # every load failure must reach the parent, explained
            sock.sendall(_frame(("failed", f"{type(exc).__name__}: {exc}")))
            return
        timed = isinstance(classifier, StageTimed)
        ready = ("ready", classifier.categories, dict(classifier.thresholds), classifier.version)
        try:
            sock.sendall(_frame(ready))
            while (texts := _read_frame(requests)) is not None:
                try:
                    scores = classifier.predict(texts)
                except Exception as exc:
                    reply: tuple[Any, ...] = ("error", f"{type(exc).__name__}: {exc}")
                else:
                    stages = dict(classifier.last_stage_seconds) if timed else {}  # type: ignore[attr-defined]
                    reply = ("ok", scores, stages)
                sock.sendall(_frame(reply))
        except OSError:  # the parent is gone
            return


@dataclass(eq=False)
class _Child:
    """One model process and the parent's end of its socket."""

    process: Any
    sock: socket.socket
    loop: asyncio.AbstractEventLoop | None = None
    """The event loop that reads this child's answers (the first caller's)."""
    waiting: deque[tuple[asyncio.Future[tuple[Any, float]] | None, float]] = field(
        default_factory=deque
    )
    """Unanswered calls in the order sent (None: its caller's loop stopped), and when."""
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    """What the socket did not take yet (written when it can)."""
    answered_at: float = 0.0
    gone: bool = False
    exit_code: asyncio.Future[int | None] | None = None

    def reap(self) -> int | None:
        """Wait for the process to end (killing it after 5 s); its exit code."""
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        return self.process.exitcode  # type: ignore[no-any-return]


def _spawn(
    factory: Callable[[], Classifier], context: Any
) -> tuple[_Child, tuple[tuple[str, ...], dict[str, float], str]]:
    """Start a child and wait until its model is loaded: the child and what it runs."""
    parent, child_end = socket.socketpair()
    process = context.Process(
        target=_serve, args=(factory, child_end), name="vigil-model", daemon=True
    )
    process.start()
    child_end.close()
    parent.settimeout(START_TIMEOUT_SECONDS)
    try:
        with parent.makefile("rb") as answers:
            reply = _read_frame(answers)
    except TimeoutError:
        process.kill()
        parent.close()
        raise RuntimeError(
            f"the model process did not start in {START_TIMEOUT_SECONDS} s"
        ) from None
    if reply is None or reply[0] == "failed":
        process.join()
        parent.close()
        if reply is None:
            raise RuntimeError(
                f"the model process exited while loading (exit code {process.exitcode})"
            )
        raise RuntimeError(f"the model could not be loaded: {reply[1]}")
    parent.setblocking(False)
    _, categories, thresholds, version = reply
    return _Child(process, parent), (tuple(categories), dict(thresholds), version)


class IsolatedClassifier:
    """Runs the classifier that ``factory`` builds in a child process: an
    :class:`~classifiers.base.AsyncClassifier` for one event loop at a time (the first
    caller's; another loop may take over once that one has stopped). ``factory`` must be
    picklable (a top-level callable or a partial). The child is started, and its model
    loaded, before the constructor returns."""

    def __init__(self, factory: Callable[[], Classifier]) -> None:
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        child, (categories, thresholds, version) = _spawn(factory, self._context)
        self._child: _Child | None = child
        self._restarting: asyncio.Future[None] | None = None
        self._categories = categories
        self._thresholds = MappingProxyType(thresholds)
        self._version = version

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
    def pid(self) -> int | None:
        """The child's process id (for memory accounting)."""
        return self._child.process.pid if self._child is not None else None

    async def predict_async(self, texts: Sequence[str]) -> Scoring:
        """The child's scores for ``texts``; stage times include ``queued``, how long the
        call waited for the calls sent before it."""
        loop = asyncio.get_running_loop()
        child = await self._child_on(loop)
        future: asyncio.Future[tuple[Any, float]] = loop.create_future()
        child.waiting.append((future, time.perf_counter()))
        self._send(child, _frame(list(texts)))
        try:
            reply, queued = await future
        except _Gone:
            raise await self._crashed(child, len(texts)) from None
        if reply[0] == "error":
            raise ChildClassifierError(reply[1])
        _, scores, stages = reply
        return Scoring(scores, {**stages, "queued": queued})

    async def _child_on(self, loop: asyncio.AbstractEventLoop) -> _Child:
        """The running child, reading its answers on ``loop``; a new one after a crash."""
        while self._child is None:
            if self._restarting is None:
                self._restarting = asyncio.ensure_future(self._restart())
            restarting = self._restarting
            try:
                await asyncio.shield(restarting)
            finally:
                if restarting.done() and self._restarting is restarting:
                    self._restarting = None
        child = self._child
        if child.loop is not loop:
            previous = child.loop
            if previous is not None and previous.is_running():
                raise RuntimeError("this model process already serves another event loop")
            # Calls of the stopped loop still get their answers, in order, for no one.
            child.waiting = deque((None, sent_at) for _, sent_at in child.waiting)
            if previous is not None and not previous.is_closed():
                previous.remove_reader(child.sock.fileno())
                previous.remove_writer(child.sock.fileno())
            child.loop = loop
            loop.add_reader(child.sock.fileno(), self._receive, child)
        return child

    async def _restart(self) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            child, _ = await loop.run_in_executor(None, _spawn, self._factory, self._context)
        except RuntimeError as exc:
            raise ClassifierUnavailable(f"cannot restart the model process: {exc}") from exc
        self._child = child
        log.warning("model process restarted in %.1f s", time.perf_counter() - started)

    def _send(self, child: _Child, frame: bytes) -> None:
        if child.outbox:  # earlier requests are still waiting for room: keep the order
            child.outbox += frame
            return
        try:
            sent = child.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._gone(child)
            return
        if sent < len(frame):
            child.outbox += memoryview(frame)[sent:]
            assert child.loop is not None
            child.loop.add_writer(child.sock.fileno(), self._flush, child)

    def _flush(self, child: _Child) -> None:
        try:
            sent = child.sock.send(child.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._gone(child)
            return
        del child.outbox[:sent]
        if not child.outbox and child.loop is not None:
            child.loop.remove_writer(child.sock.fileno())

    def _receive(self, child: _Child) -> None:
        """Reader callback: resolve the oldest calls with the answers that arrived."""
        try:
            data = child.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._gone(child)
            return
        inbox = child.inbox
        inbox += data
        while len(inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(inbox)
            end = _HEADER.size + size
            if len(inbox) < end:
                break
            reply = pickle.loads(inbox[_HEADER.size : end])
            del inbox[:end]
            future, sent_at = child.waiting.popleft()
            now = time.perf_counter()
            queued = max(0.0, child.answered_at - sent_at)
            child.answered_at = now
            if future is not None and not future.done():  # else no one waits for it
                future.set_result((reply, queued))

    def _gone(self, child: _Child) -> None:
        """The child's socket closed: fail its unanswered calls; the next call starts anew."""
        if child.gone:
            return
        child.gone = True
        if self._child is child:
            self._child = None
        if child.loop is not None and not child.loop.is_closed():
            child.loop.remove_reader(child.sock.fileno())
            child.loop.remove_writer(child.sock.fileno())
        child.sock.close()
        for future, _ in child.waiting:
            if future is not None and not future.done():
                future.set_exception(_Gone())
        child.waiting.clear()

    async def _crashed(self, child: _Child, texts: int) -> ClassifierCrashed:
        """Why a call failed: the dead child's exit code (reaped once, off the loop)."""
        if child.exit_code is None:
            child.exit_code = asyncio.get_running_loop().run_in_executor(None, child.reap)
        code = await child.exit_code
        return ClassifierCrashed(
            f"the model process died (exit code {code}) with {texts} texts to score"
        )

    def close(self) -> None:
        """Stop the child (it also exits by itself when this process dies). Call it with no
        call in flight, e.g. after the event loop has stopped."""
        child = self._child
        if child is None:
            return
        with contextlib.suppress(OSError):  # already gone
            child.sock.shutdown(socket.SHUT_RDWR)  # the child reads the end and exits
        self._gone(child)
        child.reap()
