"""Poll one source end to end: fetch, parse, keep only new items, match, store and enqueue."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.classifier import classify
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import FetchError, ParseError
from bot.domain.identity import assign_identities, canonical_link, link_key
from bot.domain.models import Entry, MatchDoc
from bot.failpoints import failpoint
from bot.pipeline.matching import MatcherCache
from bot.sources.adapters import parse_document
from bot.sources.fallback import fetch_with_mirror
from bot.sources.federal_register import follow_pages
from bot.sources.http import Fetcher
from bot.storage import items, sources
from bot.storage.db import AsyncDatabase
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll, how far to back off, which items are too old to alert."""

    interval_seconds: int = 900
    max_backoff_seconds: int = 6 * 3600
    max_item_age_hours: int = 168
    max_decompressed_bytes: int = 50 * 1024 * 1024
    jitter: float = 0.1  # spread polls of many sources over +-10 % of the interval
    max_pages: int = 5  # pages of a paged API response (Federal Register) read per poll


@dataclass(frozen=True)
class WouldAlert:
    """A match found by a dry run: which subscription, which item, which terms."""

    subscription: str
    target: str
    title: str
    link: str | None
    terms: tuple[str, ...]


@dataclass
class PollResult:
    """What one poll of one source did."""

    source_id: int
    source_name: str
    status: str  # "new" | "unchanged" | "primed" (first poll: recorded, no alerts) | "failed"
    entries: int = 0
    new_items: int = 0
    alerts: int = 0
    error: str | None = None
    would_alert: list[WouldAlert] = field(default_factory=list)
    fetch_seconds: float | None = None  # how long the document took to fetch (None: not fetched)


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
    ) -> None:
        self._adb = adb
        self._fetcher = fetcher
        self._matchers = matchers
        self._policy = policy
        self._clock = clock

    def _next_check(self, now: datetime, source: Source, hint_seconds: int | None = None) -> datetime:
        interval = source.interval_seconds or self._policy.interval_seconds
        if hint_seconds and hint_seconds > interval:
            # The feed asks to be polled less often than we would (RSS <ttl>): be polite.
            interval = min(hint_seconds, self._policy.max_backoff_seconds)
        spread = interval * self._policy.jitter
        return now + timedelta(seconds=interval + random.uniform(-spread, spread))

    async def _fail(self, source: Source, now: datetime, error: str, retry_after: float | None) -> PollResult:
        interval = source.interval_seconds or self._policy.interval_seconds
        wait = sources.backoff(source.failures, interval, self._policy.max_backoff_seconds)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=min(retry_after, self._policy.max_backoff_seconds)))
        await self._adb.call(sources.record_failure, source.id, now, error, now + wait)
        log.warning(
            "source %d (%s) failed: %s; next try in %s",
            source.id,
            source.name,
            error,
            wait,
            extra={"source_id": source.id},
        )
        return PollResult(source.id, source.name, "failed", error=error)

    async def poll(self, source: Source, *, dry_run: bool = False) -> PollResult:
        """Poll one source; never raises for a source problem (it is recorded on the source)."""
        now = self._clock()
        started = time.monotonic()
        try:
            fetched = await fetch_with_mirror(
                self._fetcher,
                source.url,
                source.options,
                etag=None if dry_run else source.etag,
                last_modified=None if dry_run else source.last_modified,
            )
        except FetchError as exc:
            if dry_run:
                failed = PollResult(source.id, source.name, "failed", error=str(exc))
            else:
                failed = await self._fail(source, now, str(exc), exc.retry_after)
            failed.fetch_seconds = time.monotonic() - started
            return failed
        fetch_seconds = time.monotonic() - started

        body_hash = None if fetched.not_modified else hashlib.sha1(fetched.body).hexdigest()
        if fetched.not_modified or (not dry_run and source.primed and body_hash == source.body_hash):
            if not dry_run:
                await self._adb.call(
                    sources.record_success,
                    source.id,
                    now,
                    self._next_check(now, source, fetched.max_age),
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                    body_hash=body_hash,
                )
            return PollResult(source.id, source.name, "unchanged", fetch_seconds=fetch_seconds)

        try:
            feed = await asyncio.to_thread(
                parse_document,
                source.kind,
                fetched.body,
                content_type=fetched.content_type,
                url=fetched.url,
                options=source.options,
                max_decompressed_bytes=self._policy.max_decompressed_bytes,
            )
            if feed.next_url:
                feed = await follow_pages(
                    self._fetcher,
                    feed,
                    url=fetched.url,
                    max_pages=self._policy.max_pages,
                    max_bytes=self._policy.max_decompressed_bytes,
                    options=source.options,
                )
        except (ParseError, FetchError) as exc:
            if dry_run:
                return PollResult(
                    source.id, source.name, "failed", error=str(exc), fetch_seconds=fetch_seconds
                )
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            failed = await self._fail(source, now, str(exc), retry_after)
            failed.fetch_seconds = fetch_seconds
            return failed

        new_items = await self._new_items(source, feed.entries)
        alerts = await self._match(source, new_items, now) if (source.primed or dry_run) else []
        result = PollResult(
            source.id,
            source.name,
            "new" if source.primed else "primed",
            entries=len(feed.entries),
            new_items=len(new_items),
            fetch_seconds=fetch_seconds,
        )
        if dry_run:
            compiled = await self._matchers.get()
            for a in alerts:
                sub = compiled.by_id[a.subscription_id]
                it = new_items[a.item_index]
                result.would_alert.append(WouldAlert(sub.label, sub.target, it.title, it.link, a.terms))
            result.alerts = len(alerts)
            return result

        hint = max(filter(None, (fetched.max_age, feed.ttl_seconds)), default=None)
        try:
            _, enqueued = await self._adb.call(
                items.store_poll,
                source.id,
                now,
                self._next_check(now, source, hint),
                new_items,
                alerts,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=body_hash,
                first_poll=not source.primed,
            )
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
        result.alerts = enqueued
        if enqueued:
            failpoint("after_enqueue")
        if new_items:
            log.info(
                "source %d (%s): %d new items, %d alerts%s",
                source.id,
                source.name,
                len(new_items),
                enqueued,
                "" if source.primed else " (first poll: recorded only)",
                extra={"source_id": source.id},
            )
        return result

    async def _new_items(self, source: Source, entries: list[Entry]) -> list[NewItem]:
        identities = assign_identities(entries)
        known = await self._adb.call(items.known_identities, source.id, identities)
        fresh: list[NewItem] = []
        seen: set[str] = set()
        for identity, entry in zip(identities, entries, strict=True):
            if identity in known or identity in seen:
                continue
            seen.add(identity)
            fresh.append(
                NewItem(
                    identity=identity,
                    guid=entry.guid,
                    link=entry.link,
                    canonical_link=canonical_link(entry.link),
                    link_key=link_key(entry.link),
                    title=entry.title,
                    text=entry.text,
                    published=entry.published,
                    action=classify(entry.title, entry.text),
                )
            )
        return fresh

    async def _match(self, source: Source, new_items: list[NewItem], now: datetime) -> list[NewAlert]:
        if not new_items:
            return []
        compiled = await self._matchers.get()
        cutoff = now - timedelta(hours=self._policy.max_item_age_hours)

        def run() -> list[NewAlert]:
            found: list[NewAlert] = []
            for index, it in enumerate(new_items):
                if it.published is not None and it.published < cutoff:
                    continue  # too old to alert, however new to us
                doc = MatchDoc(title=it.title, summary=it.text, source=source.name, action=it.action)
                for m in compiled.matcher.match(doc):
                    sub = compiled.by_id[m.subscription_id]
                    found.append(NewAlert(index, sub.id, sub.target, m.terms))
            return found

        # Matching is CPU work: keep the loop responsive for big batches.
        return run() if len(new_items) <= 20 else await asyncio.to_thread(run)
