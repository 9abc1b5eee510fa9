"""The tick: one APScheduler job picks due sources and polls them under a concurrency limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.clock import Clock, utcnow
from bot.pipeline.outcomes import Round
from bot.pipeline.poller import Poller, PollResult
from bot.storage import sources
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Source

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger(__name__)


class PollScheduler:
    """Own the tick job and the in-flight polls; a failing source never stops the loop."""

    def __init__(
        self,
        adb: AsyncDatabase,
        poller: Poller,
        *,
        concurrency: int,
        tick_seconds: float,
        clock: Clock = utcnow,
        on_result: Callable[[PollResult], None] | None = None,
        daily: Callable[[], Awaitable[object]] | None = None,
        after_tick: Callable[[], Awaitable[object]] | None = None,
        on_round: Callable[[list[PollResult]], Awaitable[object]] | None = None,
        select_due: Callable[[Database, datetime], list[Source]] = sources.due,
    ) -> None:
        self._adb = adb
        self._poller = poller
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._on_result = on_result
        self._daily = daily
        self._after_tick = after_tick
        self._on_round = on_round
        self.select_due = select_due  # sources.due, or a claim (bot/roles.py) with several workers
        # Workers (bot/roles.py) claim only what their free poll slots can start, so they claim
        # again each time a poll ends, not only at the next tick: see `_poll_ended`.
        self.refill = False
        self._stopping = False
        self._filling = asyncio.Lock()  # one claim at a time: `busy` is then exact when it is read
        self._fill_wanted = False
        self._filler: asyncio.Task[None] | None = None
        self._unreported: list[asyncio.Task[PollResult]] = []
        self._in_flight: dict[int, asyncio.Task[PollResult]] = {}
        self._chores: set[asyncio.Task[None]] = set()
        self._reports: set[asyncio.Task[None]] = set()
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        """Tell whether the tick job is scheduled."""
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self) -> None:
        """Schedule the tick job, first run at once."""
        # APScheduler runs on the wall clock; the injected clock only decides which sources are due.
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self._tick_seconds,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="tick",
        )
        if self._daily is not None:
            self._scheduler.add_job(
                self._start_daily,
                "interval",
                hours=24,
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                id="daily",
            )
        self._scheduler.start()

    def job(self, job_id: str) -> Job | None:
        """Return a scheduled job ("tick" or "daily") as APScheduler holds it, or None."""
        return self._scheduler.get_job(job_id) if self._scheduler is not None else None

    async def chores_done(self) -> None:
        """Wait until the clean-up chores running now have ended."""
        await asyncio.gather(*self._chores, return_exceptions=True)

    async def _start_daily(self) -> None:
        # Run as an owned task, so stop() can cancel it before the database closes.
        if not self._chores:
            task = asyncio.create_task(self._run_daily(), name="daily")
            self._chores.add(task)
            task.add_done_callback(self._chores.discard)

    async def _run_daily(self) -> None:
        assert self._daily is not None
        try:
            await self._daily()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the daily clean-up failed; it runs again tomorrow")

    @property
    def busy(self) -> int:
        """How many polls are running now."""
        return len(self._in_flight)

    async def tick(self) -> int:
        """Start a poll for every due source not already being polled; return how many started."""
        started = await self._start_due()
        # The polls started since the previous tick are one round, reported together once all
        # have finished (with refills, the polls each ended poll's claim started join it).
        tasks, self._unreported = self._unreported, []
        if tasks and self._on_round is not None:
            report = asyncio.create_task(self._report_round(tasks), name="round-report")
            self._reports.add(report)
            report.add_done_callback(self._reports.discard)
        if self._after_tick is not None:
            try:
                await self._after_tick()
            except Exception:
                log.exception("the health check after a tick failed; it runs again next tick")
        return started

    async def _start_due(self) -> int:
        """Select (or claim) due sources and start their polls; return how many started."""
        async with self._filling:
            if self._stopping:
                return 0
            try:
                due = await self._adb.call(self.select_due, self._clock())
            except Exception:
                log.exception("tick could not read due sources")
                return 0
            fresh = [source for source in due if source.id not in self._in_flight]
            # A tick of `run` starts every due source at once: their outcomes are written
            # together once all have planned (outcomes.py). A worker's claims are a slot's worth
            # each and overlap without end: a hold would keep their outcomes back, and with
            # them the slots, so each outcome goes out as it comes.
            round_ = None if self.refill else self._poller.hold_outcomes(len(fresh))
            for source in fresh:
                task = asyncio.create_task(self._guarded(source, round_), name=f"poll-{source.id}")
                self._in_flight[source.id] = task
                task.add_done_callback(self._forget)
                self._unreported.append(task)
            return len(fresh)

    def _poll_ended(self) -> None:
        """A slot is free: a worker claims again now rather than idling until the next tick."""
        if not self.refill or self._stopping:
            return
        self._fill_wanted = True
        if self._filler is None:
            self._filler = asyncio.create_task(self._fill(), name="poll-refill")

    async def _fill(self) -> None:
        try:
            while self._fill_wanted and not self._stopping:
                self._fill_wanted = False  # a poll ending during this claim asks for another
                await self._start_due()
        finally:
            self._filler = None

    async def _report_round(self, tasks: list[asyncio.Task[PollResult]]) -> None:
        await asyncio.wait(tasks)  # not gather: cancelling the report must not cancel the polls
        results = [t.result() for t in tasks if not t.cancelled() and t.exception() is None]
        assert self._on_round is not None
        try:
            await self._on_round(results)
        except Exception:
            log.exception("the round summary failed")

    def _forget(self, task: asyncio.Task[PollResult]) -> None:
        for source_id, running in list(self._in_flight.items()):
            if running is task:
                del self._in_flight[source_id]
        self._poll_ended()

    async def _guarded(
        self, source: Source, round_: Round | None = None, *, dry_run: bool = False
    ) -> PollResult:
        try:
            if dry_run:
                async with self._semaphore:
                    result = await self._poller.poll(source, dry_run=True)
            else:
                try:
                    async with self._semaphore:
                        plan = await self._poller.plan(source)
                finally:
                    if round_ is not None:
                        round_.planned()
                # The commit waits for the database, not the network: it holds no poll slot, and
                # the outcomes of a round go out together once all of it has planned (outcomes.py).
                result = await self._poller.commit(plan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug in one source's poll must not take the scheduler down: record and go on.
            log.exception(
                "poll of source %d (%s) crashed", source.id, source.name, extra={"source_id": source.id}
            )
            result = PollResult(source.id, source.name, "failed", error=f"internal error: {exc!r}")
        if self._on_result is not None:
            self._on_result(result)
        return result

    async def poll_all(self, source_id: int | None = None, *, dry_run: bool = False) -> list[PollResult]:
        """Poll every enabled source (or one) now, whatever its schedule, and wait for all."""
        if source_id is None:
            targets = await self._adb.call(sources.list_sources, enabled_only=True)
        else:
            one = await self._adb.call(sources.get, source_id)
            targets = [one] if one else []
        if dry_run:
            return list(await asyncio.gather(*(self._guarded(s, dry_run=True) for s in targets)))
        round_ = self._poller.hold_outcomes(len(targets))
        return list(await asyncio.gather(*(self._guarded(s, round_) for s in targets)))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop intake, let in-flight polls finish within the timeout, cancel the rest."""
        self._stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if self._filler is not None:
            # A claim in flight ends (one statement) and starts what it claimed; nothing after it.
            await asyncio.wait({self._filler}, timeout=grace)
        for chore in self._chores:
            chore.cancel()  # clean-up works in small transactions: stopping between two is safe
        pending = list(self._in_flight.values())
        if self._chores:
            await asyncio.wait(self._chores, timeout=grace)
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=2)
        for report in list(self._reports):
            report.cancel()
