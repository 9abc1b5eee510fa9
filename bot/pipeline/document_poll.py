"""Plan the poll of a document source (feed, JSON API, page watch): find everything, write nothing.

Steps, in order: conditional GET (304, or the same body as last time: unchanged) → parse with
the kind's adapter and read its later pages → keep the new items (converted only when new) →
on a primed source, fetch full text or document bodies and match. A first poll records its
items and alerts nothing, so it matches (and classifies) nothing.
"""

from __future__ import annotations

import hashlib
import time

from bot.domain.clock import Clock
from bot.domain.errors import FetchError, ParseError
from bot.pipeline.alerts import match_new_items
from bot.pipeline.fresh import new_items, with_bodies, with_full_text
from bot.pipeline.matching import MatcherCache, audiences_of
from bot.pipeline.plan import PollPlan, PollPolicy, failed, stopped
from bot.sources.documents import fetch_document, parse_pages
from bot.sources.fulltext import wants_bodies, wants_full_text
from bot.sources.http import Fetcher
from bot.sources.workers import Offload, WorkerStopped
from bot.storage import sources
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Source


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

    async def plan(self, source: Source) -> PollPlan:
        """Fetch, parse and match one source; the returned plan says what to write."""
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
        try:
            feed = await parse_pages(
                self._fetcher,
                source.kind,
                fetched,
                source.options,
                offload=self._offload,
                max_pages=policy.max_pages,
                max_bytes=policy.max_decompressed_bytes,
            )
            new = await new_items(self._adb, source.id, feed.entries)
            if source.primed and wants_full_text(source.options):
                new = await with_full_text(self._fetcher, self._offload, source, new)
        except WorkerStopped:
            return stopped(source, now)
        except (ParseError, FetchError) as exc:
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            return failed(source, now, policy, str(exc), retry_after=retry_after, fetch_seconds=fetch_seconds)
        if source.primed and wants_bodies(source.options):
            new = await with_bodies(self._fetcher, source, new)
        hint = max(filter(None, (fetched.max_age, feed.ttl_seconds)), default=None)
        plan = PollPlan(
            source,
            now,
            "new" if source.primed else "primed",
            policy.next_check(now, source, hint),
            entries=len(feed.entries),
            items=new,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            body_hash=body_hash,
            fetch_seconds=fetch_seconds,
        )
        if source.primed and new:
            compiled = await self._matchers.get()
            owners = await self._adb.call(sources.owners, source.id)
            found = await match_new_items(
                compiled, source, audiences_of(source, owners), new, now, policy.max_item_age_hours
            )
            plan.items, plan.alerts = found.items, found.alerts
            plan.matches, plan.subscriptions = found.matches, found.subscriptions
        return plan
