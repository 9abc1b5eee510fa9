"""Send the documents of concurrent polls to the parse workers together: one round trip per batch.

With one parse worker (the default on two cores), each document was a round trip of its own:
the poll takes the idle worker, a reader thread pickles and sends the body, the worker parses,
the answer comes back through the thread and the event loop, and only then can the next poll
take the worker. In round C of `bench/bench_poll.py` (1,000 feeds) the worker was held 2.4 ms
per document for 1.0 ms of parsing, and polls waited for it most of the round.

`Coalescing` keeps at most one batch in flight per worker; the documents asked for meanwhile
wait and go out together as the next batch (`WorkerPool.run_many`: each document keeps its own
deadline, and one that overruns fails alone). The worker parses a batch back to back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, TypeVar

from bot.sources.workers import Call, Offload, WorkerStopped

T = TypeVar("T")

# A batch holds at most this many documents, and this many bytes of them (the first one whatever
# its size): bounded memory in flight, and a bounded wait for the polls whose documents are in it.
MAX_BATCH_CALLS = 32
MAX_BATCH_BYTES = 16 * 1024 * 1024


class Coalescing:
    """An Offload over another (the worker pool): calls made while every slot is busy go together."""

    def __init__(self, inner: Offload, slots: int) -> None:
        self._inner = inner
        self._slots = max(1, slots)
        self._busy = 0
        self._queue: deque[tuple[Call, asyncio.Future[Any]]] = deque()
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Return fn(*args, **kwargs), computed by the inner Offload in the next batch."""
        if self._closed:
            raise WorkerStopped("the worker pool was closed")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(((fn, args, kwargs), done))
        self._dispatch()
        outcome = await done
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def run_many(self, calls: Sequence[Call]) -> list[Any]:
        """Return each call's value or exception, in order (already one round trip: passed on)."""
        return await self._inner.run_many(calls)

    async def close(self) -> None:
        """Close the inner Offload; calls waiting for a batch raise WorkerStopped."""
        self._closed = True
        while self._queue:
            _, done = self._queue.popleft()
            if not done.done():
                done.set_exception(WorkerStopped("the worker pool was closed"))
        await self._inner.close()

    def _dispatch(self) -> None:
        while self._queue and self._busy < self._slots:
            batch: list[tuple[Call, asyncio.Future[Any]]] = []
            size = 0
            while self._queue and len(batch) < MAX_BATCH_CALLS:
                call, done = self._queue[0]
                if done.done():  # its poll was cancelled while it waited
                    self._queue.popleft()
                    continue
                weight = _bytes_in(call)
                if batch and size + weight > MAX_BATCH_BYTES:
                    break
                self._queue.popleft()
                batch.append((call, done))
                size += weight
            if not batch:
                return
            self._busy += 1
            task = asyncio.create_task(self._send(batch), name="parse-batch")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Call, asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await self._inner.run_many([call for call, _ in batch])
        except asyncio.CancelledError:
            for _, done in batch:
                done.cancel()
            raise
        except BaseException as exc:  # the pool was closed, or the batch could not be sent
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if not done.done():
                    done.set_result(outcome)
        finally:
            self._busy -= 1
            if not self._closed:
                self._dispatch()


def _bytes_in(call: Call) -> int:
    """Return the size of the documents (bytes arguments) a call carries."""
    _, args, kwargs = call
    return sum(len(v) for v in (*args, *kwargs.values()) if isinstance(v, bytes | bytearray))
