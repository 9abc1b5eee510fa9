"""Write the outcomes of polls that stored nothing (unchanged, failed) in shared transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from sqlite_utils import Database

from bot.storage import sources
from bot.storage.db import AsyncDatabase
from bot.storage.sources import PollOutcome

# The longest a round holds its outcomes back waiting for its slowest poll to finish planning.
MAX_HOLD_SECONDS = 2.0
# During a round, stored polls are written once this many new items wait, the oldest has waited
# STORE_WAIT_SECONDS, or the round has planned.
STORE_BATCH_ITEMS = 2_000
STORE_WAIT_SECONDS = 1.0


class OutcomeWriter:
    """Group commit: outcomes wait for the round they belong to, then go out in one transaction.

    A round of 1,000 sources answering 304 used to be 1,000 autocommit UPDATEs, one thread hop
    each. Now a round (the polls one scheduler tick started) holds the writes back until each of
    its polls has planned, or MAX_HOLD_SECONDS passed, and writes them with one executemany per
    kind; outcomes outside a round (or after the hold) go out together as they arrive. Each
    caller still waits until its own outcome is committed, so a poll is recorded when `record`
    returns.
    """

    def __init__(self, adb: AsyncDatabase) -> None:
        self._adb = adb
        self._pending: list[tuple[PollOutcome, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._holds = 0

    released_in_time = True

    def hold(self, polls: int) -> Round:
        """Start a round of `polls` polls: outcomes wait until every one has planned (or the hold ends)."""
        return Round(polls, self)

    def _hold(self) -> None:
        self._holds += 1

    def _release(self) -> None:
        self._holds -= 1
        if self._holds == 0 and self._pending and self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="poll-outcomes")

    async def record(self, outcome: PollOutcome) -> None:
        """Queue an outcome and wait until it is committed (raise what the write raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        if self._writer is None and not self._holds:
            self._writer = asyncio.create_task(self._write(), name="poll-outcomes")
        await done

    async def _write(self) -> None:
        batch: list[tuple[PollOutcome, asyncio.Future[None]]] = []
        try:
            await asyncio.sleep(0)  # let the polls finishing in this loop turn join the first batch
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._adb.call(sources.record_outcomes, [outcome for outcome, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
                batch = []
        finally:
            self._writer = None
            for _, done in batch + self._pending:  # cancelled mid-write: nobody waits for ever
                if not done.done():
                    done.cancel()
            self._pending = []


class _Holder(Protocol):
    # True: the round's MAX_HOLD_SECONDS ends this writer's hold; False: it bounds its own wait.
    released_in_time: bool

    def _hold(self) -> None: ...

    def _release(self) -> None: ...


class Round:
    """The polls of one tick: their writes are held back until all of them have planned."""

    def __init__(self, polls: int, *writers: _Holder) -> None:
        self._held = list(writers)
        for writer in writers:
            writer._hold()
        self._left = polls
        # Never wait for ever on a slow source: past the hold, outcomes go out as they come.
        self._timer = asyncio.get_running_loop().call_later(MAX_HOLD_SECONDS, self._time_up)
        if polls <= 0:
            self.close()

    def planned(self) -> None:
        """Count one poll of the round as planned; the last one lets the writes go."""
        self._left -= 1
        if self._left <= 0:
            self.close()

    def _time_up(self) -> None:
        for writer in [w for w in self._held if w.released_in_time]:
            self._held.remove(writer)
            writer._release()

    def close(self) -> None:
        """End the hold (idempotent)."""
        self._timer.cancel()
        held, self._held = self._held, []
        for writer in held:
            writer._release()


class StoreQueue:
    """Group commit of stored polls: many polls' writes in one transaction.

    Outside a round, the polls whose store arrives while one is being written are written
    together next. During a round (`Round`), stores wait until the round has planned, until
    `batch_items` new items wait (bounding the memory held), or until the oldest has waited
    STORE_WAIT_SECONDS (bounding an alert's delay; the writes go on while the round fetches).
    A round of 1,000 polls with 5 new items each was about 600 transactions, each with its
    commit, its own segment of the full-text index and its hand-offs of the GIL.

    `prepare(db, works)` runs first in the batch's transaction (the poller takes the batch's
    locks there, in one order, so two processes storing batches cannot deadlock).

    All or nothing: if one poll of a batch cannot be stored (locked past the timeout, disk full),
    the whole batch rolls back and each of its polls fails alike, to be polled again. Each caller
    waits until its own poll is committed.
    """

    def __init__(
        self,
        adb: AsyncDatabase,
        store: Callable[[Database, Any], int],
        *,
        size: Callable[[Any], int] = lambda work: 1,
        prepare: Callable[[Database, list[Any]], None] | None = None,
        batch_items: int | None = None,
    ) -> None:
        self._adb = adb
        self._store = store
        self._prepare = prepare
        self._size = size
        self._batch_items = STORE_BATCH_ITEMS if batch_items is None else batch_items
        self._pending: list[tuple[Any, asyncio.Future[int]]] = []
        self._pending_items = 0
        self._writer: asyncio.Task[None] | None = None
        self._holds = 0
        self._timer: asyncio.TimerHandle | None = None  # ends the wait of the oldest held store
        self._due = False

    released_in_time = False  # a held store waits at most STORE_WAIT_SECONDS, whatever the round

    def _hold(self) -> None:
        self._holds += 1

    def _release(self) -> None:
        self._holds -= 1
        self._kick()

    def _time_up(self) -> None:
        self._timer, self._due = None, True
        self._kick()

    def _ready(self) -> bool:
        if not self._pending:
            return False
        return not self._holds or self._due or self._pending_items >= self._batch_items

    def _kick(self) -> None:
        if self._writer is None and self._ready():
            self._writer = asyncio.create_task(self._write(), name="poll-stores")

    async def store(self, work: Any) -> int:
        """Queue one poll's writes; return what `store` returned for it once committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((work, done))
        self._pending_items += max(1, self._size(work))
        if self._holds and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(STORE_WAIT_SECONDS, self._time_up)
        self._kick()
        return await done

    async def _write(self) -> None:
        batch: list[tuple[Any, asyncio.Future[int]]] = []
        try:
            await asyncio.sleep(0)
            while self._ready():
                batch, self._pending, self._pending_items = self._pending, [], 0
                self._due = False
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                try:
                    works = [work for work, _ in batch]
                    counts = await self._adb.call(_store_all, self._store, works, self._prepare)
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for (_, done), count in zip(batch, counts, strict=True):
                        if not done.done():
                            done.set_result(count)
                batch = []
        except asyncio.CancelledError:  # cancelled mid-write: nobody waits for ever
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for _, done in batch + self._pending:
                if not done.done():
                    done.cancel()
            self._pending, self._pending_items = [], 0
            raise
        finally:
            self._writer = None


def _store_all(
    db: Database,
    store: Callable[[Database, Any], int],
    works: list[Any],
    prepare: Callable[[Database, list[Any]], None] | None = None,
) -> list[int]:
    with db.atomic():
        if prepare is not None:
            prepare(db, works)
        return [store(db, work) for work in works]
