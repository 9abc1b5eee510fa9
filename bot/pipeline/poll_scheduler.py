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
        try:
            due = await self._adb.call(self.select_due, self._clock())
        except Exception:
            log.exception("tick could not read due sources")
            return 0
        started: list[asyncio.Task[PollResult]] = []
        fresh = [source for source in due if source.id not in self._in_flight]
        round_ = self._poller.hold_outcomes(len(fresh))
        for source in fresh:
            task = asyncio.create_task(self._guarded(source, round_), name=f"poll-{source.id}")
            self._in_flight[source.id] = task
            task.add_done_callback(self._forget)
            started.append(task)
        if started and self._on_round is not None:
            # The polls a tick started are one round: reported together once all have finished.
            report = asyncio.create_task(self._report_round(started), name="round-report")
            self._reports.add(report)
            report.add_done_callback(self._reports.discard)
        if self._after_tick is not None:
            try:
                await self._after_tick()
            except Exception:
                log.exception("the health check after a tick failed; it runs again next tick")
        return len(started)

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
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
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
