"""Run CPU-heavy document work (parsing, page extraction, article text) in worker processes.

Native parsers hold the GIL while they work: a hostile document in a thread freezes the event
loop, and with it `/healthz`, Discord's 3-second replies and every other source. Here each call
runs in a separate process with a hard deadline. Rules, in order:

1. The pool has `size` workers (spawned, one pipe each), started on first use. A call waits for
   an idle worker; its deadline starts when the worker takes it, not while it queues.
2. A call that overruns its deadline is killed with its worker (SIGKILL: native code cannot be
   interrupted politely) and raises `ParseTimeout` ("parse took longer than N s"); a fresh worker
   replaces the dead one. Nothing else waits for it beyond its deadline.
3. A batch (`run_many`) goes to one worker in one round trip; each document in it has its own
   deadline, answers come back one by one, and a document that overruns is the only one that
   fails: the rest of the batch goes on in a fresh worker.
4. `close()` kills every worker at once, whatever it is doing; calls in flight raise
   `WorkerStopped`. Shutdown never waits for a parse.
5. Exceptions raised by the function come back as they were (ParseError stays ParseError).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, Protocol, TypeVar

from bot.domain.errors import ParseError, RegwatchError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A fresh worker imports the parsers before it answers; on a loaded machine that takes seconds.
_START_TIMEOUT = 120.0


class ParseTimeout(ParseError):
    """A document took longer than the deadline; its worker was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"parse took longer than {seconds:g} s (the document was abandoned)")
        self.seconds = seconds


class WorkerStopped(RegwatchError):
    """The pool was closed (shutdown) while a call was in flight."""


Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Offload(Protocol):
    """Run picklable functions away from the event loop."""

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Return fn(*args, **kwargs), computed elsewhere."""

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Return each call's value or exception, in order."""

    async def close(self) -> None:
        """Stop whatever is running; later calls raise WorkerStopped."""


class InThread:
    """Run calls in threads, without a deadline: one-shot commands (`regwatch match`) and tests."""

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Return fn(*args, **kwargs) computed in a thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Return each call's value or exception, in order."""
        return list(
            await asyncio.gather(
                *(asyncio.to_thread(fn, *args, **kwargs) for fn, args, kwargs in calls),
                return_exceptions=True,
            )
        )

    async def close(self) -> None:
        """Do nothing: threads cannot be stopped, and one-shot commands end with their work."""


def default_size() -> int:
    """Return the number of spare cores (at least 1): one stays with the event loop."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


# ---------------------------------------------------------------- the worker process


def _worker_main(conn: Connection) -> None:
    """Answer calls from the pipe until it closes: ("ok", value) or ("err", exception) per call."""
    # The parent handles SIGINT (Ctrl-C reaches the whole process group) and kills us itself.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Import the parsers now, so the first deadline measures parsing, not imports.
    with contextlib.suppress(Exception):
        import bot.sources.adapters  # noqa: F401
    conn.send(("ready", None))
    while True:
        try:
            calls = conn.recv()
        except (EOFError, OSError):
            return
        for fn, args, kwargs in calls:
            try:
                reply: tuple[str, Any] = ("ok", fn(*args, **kwargs))
            except BaseException as exc:  # every failure goes back to the caller
                reply = ("err", exc)
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError):
                text = "".join(traceback.format_exception_only(type(reply[1]), reply[1])).strip()
                conn.send(("err", RuntimeError(f"unpicklable result: {text}")))


# ---------------------------------------------------------------- the parent side


def child_main(fd: int) -> None:
    """Entry point of a worker process: serve calls on the inherited socket `fd`."""
    _die_with_parent()
    _worker_main(Connection(fd))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the service dies (even by SIGKILL) mid-parse."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the service died before the request took effect
        raise SystemExit(0)


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[Any]
    conn: Connection
    ready: bool = False
    calls: int = field(default=0)
    killed: bool = False

    def alive(self) -> bool:
        return not self.killed and self.process.poll() is None

    def kill(self) -> None:
        self.killed = True
        # The pipe stays open: a reader thread may be polling it (it sees EOF once we are dead).
        with contextlib.suppress(Exception):
            self.process.kill()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(Exception):
            self.process.wait(5)
        with contextlib.suppress(Exception):
            self.conn.close()


class WorkerPool:
    """A small pool of worker processes with a hard deadline per document."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = max(1, size)
        self.timeout = timeout
        self._idle: asyncio.Queue[_Worker | None] | None = None
        self._busy: set[_Worker] = set()
        self._closed = False
        # Blocking pipe reads wait here, never on the event loop (one thread per worker).
        self._readers = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="worker-pipe")
        self.killed = 0  # workers killed for overrunning (for tests and metrics)
        self.in_flight = 0  # documents sent to a worker and not answered yet

    async def start(self) -> None:
        """Create the idle slots; workers start when first needed."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._idle.put_nowait(None)

    async def warm(self) -> None:
        """Start every idle worker now (the service's first poll then pays no interpreter start)."""
        await self.start()
        assert self._idle is not None
        started: list[_Worker] = []
        try:
            for _ in range(self._idle.qsize()):
                slot = self._idle.get_nowait()
                started.append(slot if slot is not None and slot.alive() else await self._spawn())
        except (ParseError, WorkerStopped) as exc:
            log.warning("could not start the parse workers ahead of time: %s", exc)
        finally:
            for worker in started:
                self._idle.put_nowait(worker)
            for _ in range(self.size - len(self._busy) - self._idle.qsize()):
                self._idle.put_nowait(None)

    async def close(self) -> None:
        """Kill every worker at once; calls in flight raise WorkerStopped."""
        self._closed = True
        for worker in list(self._busy):
            worker.kill()
        if self._idle is not None:
            while not self._idle.empty():
                idle = self._idle.get_nowait()
                if idle is not None:
                    idle.close()
        busy = list(self._busy)
        self._busy.clear()
        loop = asyncio.get_running_loop()
        for worker in busy:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, worker.close)
        self._readers.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Return fn(*args, **kwargs) computed in a worker, or raise ParseTimeout past the deadline."""
        [outcome] = await self.run_many([(fn, args, kwargs)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Run calls in one round trip; return each value or its exception, in order."""
        outcomes: list[Any] = []
        remaining = list(calls)
        while remaining:
            worker = await self._acquire()
            try:
                done = await self._run_on(worker, remaining, outcomes)
            except BaseException:
                self._discard(worker)
                raise
            remaining = remaining[done:]
            if worker.alive():
                self._release(worker)
            else:
                self._discard(worker)
        return outcomes

    async def _run_on(
        self,
        worker: _Worker,
        calls: list[Call],
        outcomes: list[Any],
    ) -> int:
        """Send the calls; collect answers until one overruns. Return how many calls are settled."""
        log.debug("parse worker %d: %d documents sent", worker.process.pid, len(calls))
        self.in_flight += len(calls)
        try:
            return await self._collect(worker, calls, outcomes)
        finally:
            self.in_flight -= len(calls)

    async def _collect(self, worker: _Worker, calls: list[Call], outcomes: list[Any]) -> int:
        for done in range(len(calls)):
            try:
                # The batch goes out with the wait for its first answer: one thread hop, not three.
                kind, value = await self._receive(worker, self.timeout, calls if done == 0 else None)
            except TimeoutError:
                worker.kill()
                self.killed += 1
                log.warning("a worker overran its %g s deadline and was killed", self.timeout)
                outcomes.append(ParseTimeout(self.timeout))
                return done + 1
            outcomes.append(value if kind == "ok" else _as_exception(value))
            worker.calls += 1
        return len(calls)

    async def _receive(
        self, worker: _Worker, seconds: float, send: list[Call] | None = None
    ) -> tuple[str, Any]:
        """Send `send` (if any), then wait up to `seconds` for one answer and read it, off the loop."""
        loop = asyncio.get_running_loop()
        # Pickling and writing a large body, and waiting, happen in a reader thread, not on the loop.
        exchange = loop.run_in_executor(self._readers, _exchange, worker.conn, send, seconds)
        try:
            reply = await exchange
        except asyncio.CancelledError:
            worker.kill()
            raise
        except _SendFailed as failed:
            if isinstance(failed.error, OSError):
                worker.kill()
                raise self._stopped_or(failed.error) from None
            raise failed.error from None  # not picklable: the caller's mistake, the worker is fine
        except (EOFError, OSError) as exc:
            worker.kill()
            raise self._stopped_or(exc) from None
        if self._closed:
            raise WorkerStopped("the worker pool was closed")
        if reply is None:
            raise TimeoutError
        return reply

    def _stopped_or(self, exc: BaseException) -> Exception:
        if self._closed:
            return WorkerStopped("the worker pool was closed")
        return ParseError(f"the parse worker died ({exc.__class__.__name__}); the document was abandoned")

    async def _acquire(self) -> _Worker:
        if self._closed:
            raise WorkerStopped("the worker pool was closed")
        await self.start()
        assert self._idle is not None
        worker = await self._idle.get()
        if worker is None or not worker.alive():
            try:
                worker = await self._spawn()
            except BaseException:
                self._idle.put_nowait(None)
                raise
        self._busy.add(worker)
        return worker

    async def _spawn(self) -> _Worker:
        # A fresh interpreter (not fork: the parent has threads and an event loop; not
        # multiprocessing's spawn: it re-imports the caller's main module).
        parent, child = multiprocessing.Pipe(duplex=True)
        command = [
            sys.executable,
            "-c",
            f"from bot.sources.workers import child_main; child_main({child.fileno()})",
        ]
        loop = asyncio.get_running_loop()
        try:
            process = await loop.run_in_executor(
                None,
                partial(subprocess.Popen, command, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL),
            )
        finally:
            child.close()
        worker = _Worker(process, parent)
        if self._closed:
            _reap(worker)
            raise WorkerStopped("the worker pool was closed")
        try:
            kind, _ = await self._receive(worker, _START_TIMEOUT)
        except TimeoutError:
            _reap(worker)
            raise ParseError(f"a parse worker did not start within {_START_TIMEOUT:g} s") from None
        if kind != "ready":
            _reap(worker)
            raise ParseError("a parse worker failed to start")
        worker.ready = True
        return worker

    def _release(self, worker: _Worker) -> None:
        self._busy.discard(worker)
        if self._closed:
            worker.close()
            return
        assert self._idle is not None
        self._idle.put_nowait(worker)

    def _discard(self, worker: _Worker) -> None:
        """Drop a dead or killed worker; its slot gets a fresh worker when next needed."""
        self._busy.discard(worker)
        _reap(worker)
        if self._idle is not None and not self._closed:
            self._idle.put_nowait(None)


def _reap(worker: _Worker) -> None:
    """Kill a worker and collect it off the loop (join only reads the status of the dead process)."""
    worker.kill()
    threading.Thread(target=worker.close, name="worker-reap", daemon=True).start()


class _SendFailed(Exception):
    """Sending calls to a worker failed (told apart from a failure while waiting for the answer)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _exchange(conn: Connection, send: list[Call] | None, seconds: float) -> tuple[str, Any] | None:
    """Send calls (if any), wait up to `seconds` for an answer and read it; None when none came."""
    if send is not None:
        try:
            conn.send(send)
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            raise _SendFailed(exc) from exc
    if not conn.poll(seconds):
        return None
    reply: tuple[str, Any] = conn.recv()
    return reply


def _as_exception(value: object) -> BaseException:
    if isinstance(value, Exception):
        return value
    # KeyboardInterrupt, SystemExit, MemoryError... in a worker: that document failed, nothing more.
    return ParseError(f"the parse worker failed: {value!r}")
