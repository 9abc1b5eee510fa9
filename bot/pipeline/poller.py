"""Poll one source end to end: `plan` finds everything and writes nothing; `commit` writes it.

    poll = plan (fetch → parse → new items → match: document_poll.py, search_poll.py)
         + commit (one transaction: items, alerts and the source's state; or only the state)

A dry run is the plan alone, of the source as if it were primed and had no validators: it
fetches the whole document and reports every match, storing nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import timedelta
from functools import partial

from sqlite_utils import Database

from bot.domain.clock import Clock, utcnow
from bot.failpoints import failpoint
from bot.pipeline.document_poll import DocumentPlanner
from bot.pipeline.matching import MatcherCache
from bot.pipeline.outcomes import OutcomeWriter, Round, StoreQueue
from bot.pipeline.parse_batches import Coalescing
from bot.pipeline.plan import PollPlan, PollPolicy, PollResult, WouldAlert, stopped, would_alert
from bot.pipeline.search_poll import SearchPlanner
from bot.sources.http import Fetcher
from bot.sources.workers import InThread, Offload, WorkerPool, WorkerStopped
from bot.storage import items, searches
from bot.storage.db import AsyncDatabase, transaction
from bot.storage.outbox.stories import lock_targets
from bot.storage.sources import PollOutcome, Source

__all__ = ["PollPlan", "PollPolicy", "PollResult", "Poller", "WouldAlert"]

log = logging.getLogger(__name__)


class Poller:
    """Run the poll pipeline for one source at a time (the scheduler runs many at once)."""

    def __init__(
        self,
        adb: AsyncDatabase,
        fetcher: Fetcher,
        matchers: MatcherCache,
        policy: PollPolicy,
        *,
        clock: Clock = utcnow,
        offload: Offload | None = None,
    ) -> None:
        self._adb = adb
        self._policy = policy
        # Parsing and article extraction run here: worker processes with a deadline in the service.
        work: Offload = offload if offload is not None else InThread()
        if isinstance(work, WorkerPool):
            # Concurrent polls' documents go to the workers in batches (parse_batches.py).
            work = Coalescing(work, work.size)
        self._documents = DocumentPlanner(adb, fetcher, matchers, policy, work, clock)
        self._searches = SearchPlanner(adb, fetcher, matchers, policy, work, clock)
        self._outcomes = OutcomeWriter(adb)
        window = timedelta(hours=policy.story_window_hours) if policy.story_window_hours else None
        self._stores = StoreQueue(
            adb,
            partial(_store, story_window=window),
            size=_new_items,
            prepare=_lock_targets if window else None,
        )
        self._clock = clock

    def hold_outcomes(self, polls: int) -> Round:
        """Start a round: the writes of its polls wait until all have planned (outcomes.py)."""
        return Round(polls, self._outcomes, self._stores)

    async def poll(self, source: Source, *, dry_run: bool = False) -> PollResult:
        """Poll one source; never raises for a source problem (it is recorded on the source)."""
        if dry_run:
            plan = await self.plan(
                replace(source, etag=None, last_modified=None, body_hash=None, primed=True), every_match=True
            )
            result = _result(plan)
            if result.status == "new" and not source.primed:
                result.status = "primed"  # what a real poll would do with it
            result.would_alert = would_alert(plan)
            result.alerts = len(result.would_alert)
            return result
        return await self.commit(await self.plan(source))

    async def plan(self, source: Source, *, every_match: bool = False) -> PollPlan:
        """Fetch, parse, keep the new items and match them; write nothing (see PollPlan).

        `every_match`: also list every match with its terms, as a dry run reports them.
        """
        planner = self._searches if source.kind == "search" else self._documents
        try:
            return await planner.plan(source, every_match=every_match)
        except WorkerStopped:
            return stopped(source, self._clock())

    async def commit(self, plan: PollPlan) -> PollResult:
        """Write what a plan found in one transaction and return what the poll did."""
        result = _result(plan)
        source = plan.source
        if plan.status == "stopped":
            return result
        if plan.status == "failed":
            assert plan.next_check is not None and plan.error is not None
            await self._outcomes.record(PollOutcome(source.id, plan.now, plan.next_check, error=plan.error))
            log.warning(
                "source %d (%s) failed: %s; next try in %s",
                source.id,
                source.name,
                plan.error,
                plan.next_check - plan.now,
                extra={"source_id": source.id},
            )
            return result
        if not plan.stores_items:
            assert plan.next_check is not None
            await self._outcomes.record(
                PollOutcome(
                    source.id,
                    plan.now,
                    plan.next_check,
                    etag=plan.etag,
                    last_modified=plan.last_modified,
                    body_hash=plan.body_hash,
                )
            )
            return result
        try:
            result.alerts = await self._stores.store(plan)
        except sqlite3.OperationalError as exc:
            # Locked past busy_timeout, or the disk is full: the transaction rolled back, so nothing
            # of this poll is stored and the source stays due; the next tick tries it again.
            log.error(
                "source %d (%s): could not store the poll, nothing was stored: %s",
                source.id,
                source.name,
                exc,
                extra={"source_id": source.id},
            )
            result.status, result.error = "failed", f"database error: {exc}"
            return result
        if result.alerts:
            failpoint("after_enqueue")
        _log_stored(plan, result)
        return result


def _store(db: Database, plan: PollPlan, *, story_window: timedelta | None) -> int:
    """Store the plan's items, enqueue its alerts, update the source: in the batch's transaction."""
    assert plan.next_check is not None
    with transaction(db):
        _, enqueued = items.store_poll(
            db,
            plan.source.id,
            plan.now,
            plan.next_check,
            plan.items,
            plan.alerts,
            etag=plan.etag,
            last_modified=plan.last_modified,
            body_hash=plan.body_hash,
            first_poll=not plan.source.primed,
            story_window=story_window,
        )
        if plan.searched:
            searches.mark_searched(db, plan.source.id, plan.searched, plan.now)
    return int(enqueued)


def _lock_targets(db: Database, plans: list[PollPlan]) -> None:
    """Take the enqueue locks of every target of a batch at once, in sorted order (PostgreSQL).

    Each poll's enqueue takes its own targets' locks, sorted; several polls in one transaction
    would take them in no common order, and two processes could wait on each other for ever.
    """
    lock_targets(db, {alert.target for plan in plans for alert in plan.alerts})


def _new_items(plan: PollPlan) -> int:
    return len(plan.items)


def _result(plan: PollPlan) -> PollResult:
    source = plan.source
    status = "failed" if plan.status == "stopped" else plan.status
    return PollResult(
        source.id,
        source.name,
        status,
        entries=plan.entries,
        new_items=len(plan.items),
        error=plan.error,
        fetch_seconds=plan.fetch_seconds,
    )


def _log_stored(plan: PollPlan, result: PollResult) -> None:
    source = plan.source
    if not plan.items:
        return
    if source.kind == "search":
        log.info(
            "source %d (%s): %d term sets searched, %d new items (%d from first searches), %d alerts",
            source.id,
            source.name,
            len(plan.searched),
            len(plan.items),
            plan.first_searches,
            result.alerts,
            extra={"source_id": source.id},
        )
        return
    log.info(
        "source %d (%s): %d new items, %d alerts%s",
        source.id,
        source.name,
        len(plan.items),
        result.alerts,
        "" if source.primed else " (first poll: recorded only)",
        extra={"source_id": source.id},
    )
