"""Plan the poll of a document source (feed, JSON API, page watch): find everything, write nothing.

Steps, in order: conditional GET (304, or the same body as last time: unchanged) → parse with
the kind's adapter and read its later pages → keep the new items (converted only when new) →
on a primed source, fetch full text or document bodies and match. A first poll records its
items and alerts nothing, so it matches (and classifies) nothing.

The parse worker is told which identities the source's last document held: it sends back every
identity but only the other entries, converted. Dedupe still reads the stored set; when that set
calls new an entry the worker left out, the document is parsed again, whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlite_utils import Database

from bot.domain.clock import Clock
from bot.domain.errors import FetchError, ParseError
from bot.domain.models import Entry
from bot.pipeline.alerts import Found, find_alerts, match_new_items
from bot.pipeline.fresh import select_new, with_bodies, with_full_text
from bot.pipeline.matching import MatcherCache, audiences_of
from bot.pipeline.plan import PollPlan, PollPolicy, failed, stopped
from bot.sources.documents import fetch_document, parse_pages
from bot.sources.entries import NotSent, identities_of
from bot.sources.fulltext import wants_bodies, wants_full_text
from bot.sources.http import Fetcher
from bot.sources.workers import Offload, WorkerStopped
from bot.storage import items, sources, subscriptions
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Owner, Source

log = logging.getLogger(__name__)


# Sources whose last document's identities are kept in memory (about 50 identities each).
SEEN_SOURCES = 20_000


class DocumentPlanner:
    """Plan polls of sources that publish one document (and its pages) per poll."""

    def __init__(
        self,
        adb: AsyncDatabase,
        fetcher: Fetcher,
        matchers: MatcherCache,
        policy: PollPolicy,
        offload: Offload,
        clock: Clock,
    ) -> None:
        self._adb = adb
        self._fetcher = fetcher
        self._matchers = matchers
        self._policy = policy
        self._offload = offload
        self._clock = clock
        # Per source, the identities of its last parsed document (a hint for the parse worker;
        # the stored set stays the truth). Oldest sources dropped past SEEN_SOURCES.
        self._seen: dict[int, frozenset[str]] = {}
        self._reads: _Bunched[tuple[int, list[str]], Read] = _Bunched(
            lambda wanted: adb.call(_reads, wanted), "poll-reads"
        )
        self._matching: _Bunched[Callable[[], Found], Found] = _Bunched(_in_thread, "poll-matching")

    def _remember(self, source_id: int, identities: list[str]) -> None:
        self._seen.pop(source_id, None)
        self._seen[source_id] = frozenset(identities)
        if len(self._seen) > SEEN_SOURCES:
            del self._seen[next(iter(self._seen))]

    async def plan(self, source: Source, *, every_match: bool = False) -> PollPlan:
        """Fetch, parse and match one source; the returned plan says what to write.

        `every_match`: also list every match with its terms (a dry run reports them all).
        """
        now = self._clock()
        policy = self._policy
        started = time.monotonic()
        try:
            fetched = await fetch_document(
                self._fetcher,
                source.kind,
                source.url,
                source.options,
                etag=source.etag,
                last_modified=source.last_modified,
            )
        except FetchError as exc:
            return failed(
                source,
                now,
                policy,
                str(exc),
                retry_after=exc.retry_after,
                fetch_seconds=time.monotonic() - started,
            )
        fetch_seconds = time.monotonic() - started
        body_hash = None if fetched.not_modified else hashlib.sha1(fetched.body).hexdigest()
        if fetched.not_modified or (source.primed and body_hash == source.body_hash):
            return PollPlan(
                source,
                now,
                "unchanged",
                policy.next_check(now, source, fetched.max_age),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=body_hash,
                fetch_seconds=fetch_seconds,
            )
        # What this source's last document held: stored then, so the worker need not send it.
        believed = self._seen.get(source.id) if source.primed else None
        try:
            feed = await parse_pages(
                self._fetcher,
                source.kind,
                fetched,
                source.options,
                offload=self._offload,
                max_pages=policy.max_pages,
                max_bytes=policy.max_decompressed_bytes,
                known=believed,
            )
        except WorkerStopped:
            return stopped(source, now)
        except (ParseError, FetchError) as exc:
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            return failed(source, now, policy, str(exc), retry_after=retry_after, fetch_seconds=fetch_seconds)
        hint = max(filter(None, (fetched.max_age, feed.ttl_seconds)), default=None)
        plan = PollPlan(
            source,
            now,
            "new" if source.primed else "primed",
            policy.next_check(now, source, hint),
            entries=len(feed.entries),
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            body_hash=body_hash,
            fetch_seconds=fetch_seconds,
        )
        try:
            try:
                found = await self._new_and_matched(source, now, feed.entries, every_match)
            except NotSent:
                # The hint was wrong (an item pruned or a write lost since): parse again, whole.
                log.info("source %d: preselection missed a new entry; parsing again", source.id)
                feed = await parse_pages(
                    self._fetcher,
                    source.kind,
                    fetched,
                    source.options,
                    offload=self._offload,
                    max_pages=policy.max_pages,
                    max_bytes=policy.max_decompressed_bytes,
                )
                found = await self._new_and_matched(source, now, feed.entries, every_match)
        except WorkerStopped:
            return stopped(source, now)
        except (ParseError, FetchError) as exc:
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            return failed(source, now, policy, str(exc), retry_after=retry_after, fetch_seconds=fetch_seconds)
        self._remember(source.id, identities_of(feed.entries))
        plan.items, plan.alerts = found.items, found.alerts
        plan.matches, plan.subscriptions = found.matches, found.subscriptions
        return plan

    async def _new_and_matched(
        self, source: Source, now: datetime, entries: Sequence[Entry], every_match: bool
    ) -> Found:
        """Keep the new entries and, on a primed source, match them: one read, one thread hop.

        A source that fetches full text or document bodies for its new items matches after that.
        """
        identities = identities_of(entries)
        known, owners, version = await self._reads.ask((source.id, identities))
        if not source.primed:  # a first poll records its items and alerts nothing
            return Found(await asyncio.to_thread(select_new, entries, identities, known))
        compiled = await self._matchers.get(version)
        audiences = audiences_of(source, owners)
        age = self._policy.max_item_age_hours
        if not (wants_full_text(source.options) or wants_bodies(source.options)):
            cutoff = now - timedelta(hours=age)

            def new_and_matched() -> Found:
                return find_alerts(
                    compiled, source, audiences, select_new(entries, identities, known), cutoff, every_match
                )

            # Matching is pure Python, bounded per (item, query) by the cost model's budget; in a
            # thread the interpreter hands the GIL back to the loop every few milliseconds.
            # Polls that match at the same time share the thread hop (_Bunched).
            return await self._matching.ask(new_and_matched)
        new = await asyncio.to_thread(select_new, entries, identities, known)
        if wants_full_text(source.options):
            new = await with_full_text(self._fetcher, self._offload, source, new)
        if wants_bodies(source.options):
            new = await with_bodies(self._fetcher, source, new)
        return await match_new_items(compiled, source, audiences, new, now, age, every_match)


Read = tuple[set[str], list[Owner], int]
T = TypeVar("T")


A = TypeVar("A")


class _Bunched(Generic[A, T]):
    """Calls asked for while a bunch runs go together as the next bunch, in one hop.

    `call` answers a bunch of arguments with one result (or exception) each. Each hop to a
    thread costs the loop a future, a wake-up and a hand-off of the GIL: round C of bench_poll
    matched 1,000 polls in 1,000 hops and read the database 1,000 times, now a few dozen each
    (the parse workers answer in batches, so polls arrive in bunches).
    """

    def __init__(self, call: Callable[[list[A]], Awaitable[list[T | BaseException]]], name: str) -> None:
        self._call = call
        self._name = name
        self._pending: list[tuple[A, asyncio.Future[T]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def ask(self, arg: A) -> T:
        """Return the answer for `arg`, computed with the bunch it joins."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((arg, done))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=self._name)
        return await done

    async def _run(self) -> None:
        batch: list[tuple[A, asyncio.Future[T]]] = []
        try:
            await asyncio.sleep(0)
            while self._pending:
                batch, self._pending = self._pending, []
                answers: list[T | BaseException]
                try:
                    answers = await self._call([arg for arg, _ in batch])
                except Exception as exc:  # the whole bunch failed: each of its calls alike
                    answers = [exc] * len(batch)
                for (_, done), answer in zip(batch, answers, strict=True):
                    if done.done():
                        continue
                    if isinstance(answer, BaseException):
                        done.set_exception(answer)
                    else:
                        done.set_result(answer)
                batch = []
        except asyncio.CancelledError:
            for _, done in batch + self._pending:
                done.cancel()
            self._pending = []
            raise
        finally:
            self._runner = None


def _in_thread(fns: list[Callable[[], T]]) -> Awaitable[list[T | BaseException]]:
    """Run the functions one after the other in a thread; each one's failure is its own."""
    return asyncio.to_thread(_each, fns)


def _each(fns: list[Callable[[], T]]) -> list[T | BaseException]:
    out: list[T | BaseException] = []
    for fn in fns:
        try:
            out.append(fn())
        except Exception as exc:  # one poll's failure is its own
            out.append(exc)
    return out


def _reads(db: Database, wanted: list[tuple[int, list[str]]]) -> list[Read | BaseException]:
    """Read what each poll needs in one call: stored identities, owners; the subscriptions version."""
    version = subscriptions.version(db)
    out: list[Read | BaseException] = []
    for source_id, identities in wanted:
        try:
            out.append(
                (items.known_identities(db, source_id, identities), sources.owners(db, source_id), version)
            )
        except Exception as exc:  # one source's failure is its own poll's
            out.append(exc)
    return out
