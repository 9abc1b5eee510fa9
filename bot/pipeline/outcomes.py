"""Write the outcomes of polls that stored nothing (unchanged, failed) in shared transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from bot.storage import sources
from bot.storage.db import AsyncDatabase
from bot.storage.sources import PollOutcome

# The longest a round holds its outcomes back waiting for its slowest poll to finish planning.
MAX_HOLD_SECONDS = 2.0


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

    def hold(self, polls: int) -> Round:
        """Start a round of `polls` polls: outcomes wait until every one has planned (or the hold ends)."""
        self._holds += 1
        return Round(self, polls)

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


class Round:
    """The polls of one tick: their outcomes are written once all of them have planned."""

    def __init__(self, writer: OutcomeWriter, polls: int) -> None:
        self._writer = writer
        self._left = polls
        self._open = True
        # Never wait for ever on a slow source: past the hold, outcomes go out as they come.
        self._timer = asyncio.get_running_loop().call_later(MAX_HOLD_SECONDS, self.close)
        if polls <= 0:
            self.close()

    def planned(self) -> None:
        """Count one poll of the round as planned; the last one lets the writes go."""
        self._left -= 1
        if self._left <= 0:
            self.close()

    def close(self) -> None:
        """End the hold (idempotent)."""
        if self._open:
            self._open = False
            self._timer.cancel()
            self._writer._release()


class StoreQueue:
    """Group commit of stored polls: the polls whose store arrives while one is being written are
    written together next, in one transaction (each poll's rows in a savepoint of its own).

    All or nothing: if one poll of a batch cannot be stored (locked past the timeout, disk full),
    the whole batch rolls back and each of its polls fails alike, to be polled again. Each caller
    waits until its own poll is committed.
    """

    def __init__(self, adb: AsyncDatabase, store: Callable[[Database, Any], int]) -> None:
        self._adb = adb
        self._store = store
        self._pending: list[tuple[Any, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, work: Any) -> int:
        """Queue one poll's writes; return what `store` returned for it once committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((work, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="poll-stores")
        return await done

    async def _write(self) -> None:
        batch: list[tuple[Any, asyncio.Future[int]]] = []
        try:
            await asyncio.sleep(0)
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    counts = await self._adb.call(_store_all, self._store, [work for work, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for (_, done), count in zip(batch, counts, strict=True):
                        if not done.done():
                            done.set_result(count)
                batch = []
        finally:
            self._writer = None
            for _, done in batch + self._pending:
                if not done.done():
                    done.cancel()
            self._pending = []


def _store_all(db: Database, store: Callable[[Database, Any], int], works: list[Any]) -> list[int]:
    with db.atomic():
        return [store(db, work) for work in works]
