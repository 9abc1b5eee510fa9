"""Poll one source end to end: fetch, parse, keep only new items, match, store and enqueue."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.clock import Clock, utcnow
from bot.domain.errors import FetchError, ParseError
from bot.domain.explain import Verdict, classify_verdict, explanation_record, term_hits
from bot.domain.identity import canonical_link, link_key
from bot.domain.models import Entry, MatchDoc, SourceContext
from bot.domain.semantics import source_context, source_field, with_body
from bot.failpoints import failpoint
from bot.pipeline.matching import MatcherCache, audiences_of
from bot.pipeline.outcomes import OutcomeWriter
from bot.pipeline.search_poll import fetch_answers
from bot.sources.adapters import parse_document
from bot.sources.entries import identities_of
from bot.sources.fallback import fetch_with_mirror
from bot.sources.federal_register import follow_pages, with_fields
from bot.sources.fulltext import (
    extract_article,
    fetch_article_page,
    fetch_body,
    max_bodies,
    max_per_poll,
    wants_bodies,
    wants_full_text,
)
from bot.sources.http import Fetcher
from bot.sources.workers import InThread, Offload, WorkerStopped
from bot.storage import items, searches, sources
from bot.storage.db import AsyncDatabase
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import PollOutcome, Source

log = logging.getLogger(__name__)

_STOPPED = "stopped: regwatch is shutting down"


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll, how far to back off, which items are too old to alert."""

    interval_seconds: int = 900
    max_backoff_seconds: int = 6 * 3600
    max_item_age_hours: int = 168
    max_decompressed_bytes: int = 50 * 1024 * 1024
    jitter: float = 0.1  # spread polls of many sources over +-10 % of the interval
    max_pages: int = 5  # pages of a paged API response (Federal Register) read per poll
    story_window_hours: int = 48  # later copies of a story within this window add to its alert (0: off)


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
        offload: Offload | None = None,
    ) -> None:
        self._adb = adb
        self._fetcher = fetcher
        self._matchers = matchers
        self._policy = policy
        self._clock = clock
        # Parsing and article extraction run here: worker processes with a deadline in the service.
        self._offload: Offload = offload if offload is not None else InThread()
        self._outcomes = OutcomeWriter(adb)

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
        await self._outcomes.record(PollOutcome(source.id, now, now + wait, error=error))
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
        if source.kind == "search":
            try:
                return await self._poll_search(source, dry_run=dry_run)
            except WorkerStopped:
                return PollResult(source.id, source.name, "failed", error=_STOPPED)
        now = self._clock()
        started = time.monotonic()
        try:
            fetched = await fetch_with_mirror(
                self._fetcher,
                with_fields(source.url) if source.kind == "federal_register" else source.url,
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
                await self._outcomes.record(
                    PollOutcome(
                        source.id,
                        now,
                        self._next_check(now, source, fetched.max_age),
                        etag=fetched.etag,
                        last_modified=fetched.last_modified,
                        body_hash=body_hash,
                    )
                )
            return PollResult(source.id, source.name, "unchanged", fetch_seconds=fetch_seconds)

        try:
            feed = await self._offload.run(
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
                    offload=self._offload,
                )
        except WorkerStopped:
            # Shutting down: nothing is recorded, the source stays due for the next start.
            return PollResult(source.id, source.name, "failed", error=_STOPPED)
        except (ParseError, FetchError) as exc:
            if dry_run:
                return PollResult(
                    source.id, source.name, "failed", error=str(exc), fetch_seconds=fetch_seconds
                )
            retry_after = exc.retry_after if isinstance(exc, FetchError) else None
            failed = await self._fail(source, now, str(exc), retry_after)
            failed.fetch_seconds = fetch_seconds
            return failed

        # Items are classified only when a subscription needs it (the classifier is the costliest
        # step per item), in _match; a first poll alerts nothing, so classifies nothing. Previews
        # and explanations classify stored unclassified items when they need to.
        new_items = await self._new_items(source, feed.entries)
        if (source.primed or dry_run) and wants_full_text(source.options):
            try:
                new_items = await self._with_full_text(source, new_items)
            except WorkerStopped:
                return PollResult(source.id, source.name, "failed", error=_STOPPED)
        if (source.primed or dry_run) and wants_bodies(source.options):
            new_items = await self._with_bodies(source, new_items)
        if source.primed or dry_run:
            new_items, alerts = await self._match(source, new_items, now, dry_run=dry_run)
        else:
            alerts = []
        result = PollResult(
            source.id,
            source.name,
            "new" if source.primed else "primed",
            entries=len(feed.entries),
            new_items=len(new_items),
            fetch_seconds=fetch_seconds,
        )
        if dry_run:
            return await self._would_alert(result, new_items, alerts)

        hint = max(filter(None, (fetched.max_age, feed.ttl_seconds)), default=None)
        stored = await self._store(
            source,
            result,
            now,
            self._next_check(now, source, hint),
            new_items,
            alerts,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            body_hash=body_hash,
        )
        if stored is None:
            return result
        enqueued = stored
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

    async def _with_full_text(self, source: Source, new_items: list[NewItem]) -> list[NewItem]:
        """Replace teasers by the linked pages' article text (the longer one wins)."""
        limit = max_per_poll(source.options)
        chosen = [
            n for n, it in enumerate(new_items) if it.link and it.link.startswith(("http://", "https://"))
        ]
        chosen = chosen[:limit]
        pages = await asyncio.gather(
            *(fetch_article_page(self._fetcher, new_items[n].link or "", source.options) for n in chosen)
        )
        fetched = [(n, page) for n, page in zip(chosen, pages, strict=True) if page is not None]
        # All pages of a poll go to one worker in one round trip, each with its own deadline.
        extracted = await self._offload.run_many(
            [(extract_article, (body, url), {}) for _, (body, url) in fetched]
        )
        texts: list[str | None] = []
        for (_, (_, url)), outcome in zip(fetched, extracted, strict=True):
            if isinstance(outcome, WorkerStopped):
                raise outcome
            if isinstance(outcome, BaseException):
                log.info("full text of %s not read: %s", url, outcome, extra={"source_id": source.id})
            texts.append(None if isinstance(outcome, BaseException) else outcome)
        chosen = [n for n, _ in fetched]
        out = list(new_items)
        for n, text in zip(chosen, texts, strict=False):
            it = out[n]
            if text and len(text) > len(it.text):
                out[n] = replace(it, text=text)  # classified, if needed, on the article text
        return out

    async def _with_bodies(self, source: Source, new_items: list[NewItem]) -> list[NewItem]:
        """Append each new document's full text (its body_url) to its summary, and classify again."""
        chosen = [n for n, it in enumerate(new_items) if it.body_url][: max_bodies(source.options)]
        # One at a time: the fetcher spaces requests to a host, and bodies can be large.
        out = list(new_items)
        for n in chosen:
            it = out[n]
            body = await fetch_body(self._fetcher, it.body_url or "", source.options)
            if body:
                out[n] = replace(it, text=with_body(it.text, body))  # classified, if needed, with it
        return out

    async def _store(
        self,
        source: Source,
        result: PollResult,
        now: datetime,
        next_check: datetime,
        new_items: list[NewItem],
        alerts: list[NewAlert],
        *,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
    ) -> int | None:
        """Store a poll in one transaction; return the alerts enqueued, or None (result failed)."""
        window = self._policy.story_window_hours
        try:
            _, enqueued = await self._adb.call(
                items.store_poll,
                source.id,
                now,
                next_check,
                new_items,
                alerts,
                etag=etag,
                last_modified=last_modified,
                body_hash=body_hash,
                first_poll=not source.primed,
                story_window=timedelta(hours=window) if window else None,
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
            return None
        return int(enqueued)

    async def _would_alert(
        self, result: PollResult, new_items: list[NewItem], alerts: list[NewAlert]
    ) -> PollResult:
        compiled = await self._matchers.get()
        for a in alerts:
            sub = compiled.by_id[a.subscription_id]
            it = new_items[a.item_index]
            result.would_alert.append(WouldAlert(sub.label, sub.target, it.title, it.link, a.terms))
        result.alerts = len(alerts)
        return result

    async def _poll_search(self, source: Source, *, dry_run: bool) -> PollResult:
        """Poll a search source: one fetch per term set; a term set's first answer only primes."""
        now = self._clock()
        compiled = await self._matchers.get()
        searched = await self._adb.call(searches.searched, source.id)
        wanted = await asyncio.to_thread(lambda: compiled.searches)  # found once per build, off the loop
        answers = await fetch_answers(
            self._fetcher,
            source,
            wanted,
            searched,
            max_bytes=self._policy.max_decompressed_bytes,
            offload=self._offload,
        )
        for error in answers.errors:
            log.warning("source %d (%s): %s", source.id, source.name, error, extra={"source_id": source.id})
        if answers.errors and not answers.fetched:
            more = len(answers.errors) - 1
            error = answers.errors[0] + (f" (and {more} more)" if more else "")
            if dry_run:
                return PollResult(source.id, source.name, "failed", error=error)
            failed = await self._fail(source, now, error, answers.retry_after)
            failed.fetch_seconds = answers.fetch_seconds
            return failed
        alerting = await self._new_items(source, *_unzip(answers.known))
        if wants_bodies(source.options):
            alerting = await self._with_bodies(source, alerting)  # first answers only record
        taken = {it.identity for it in alerting}
        recorded = [
            it for it in await self._new_items(source, *_unzip(answers.first)) if it.identity not in taken
        ]
        alerting, alerts = await self._match(source, alerting, now, dry_run=dry_run)
        new_items = alerting + recorded  # alerts index into the first part
        result = PollResult(
            source.id,
            source.name,
            "new" if answers.known else ("primed" if answers.fetched else "unchanged"),
            entries=len(answers.known) + len(answers.first),
            new_items=len(new_items),
            fetch_seconds=answers.fetch_seconds,
        )
        if dry_run:
            return await self._would_alert(result, new_items, alerts)
        stored = await self._store(
            source,
            result,
            now,
            self._next_check(now, source),
            new_items,
            alerts,
            etag=None,
            last_modified=None,
            body_hash=None,
        )
        if stored is None:
            return result
        result.alerts = stored
        await self._adb.call(searches.mark_searched, source.id, answers.fetched, now)
        if new_items:
            log.info(
                "source %d (%s): %d term sets searched, %d new items (%d from first searches), %d alerts",
                source.id,
                source.name,
                len(answers.fetched),
                len(new_items),
                len(recorded),
                result.alerts,
                extra={"source_id": source.id},
            )
        return result

    async def _new_items(
        self,
        source: Source,
        entries: Sequence[Entry],
        identities: list[str] | None = None,
    ) -> list[NewItem]:
        """Return the entries not stored yet, unclassified (_match classifies what it needs)."""
        if identities is None:
            identities = identities_of(entries)  # a feed's items are converted only when new, below
        known = await self._adb.call(items.known_identities, source.id, identities)
        fresh: list[NewItem] = []
        seen: set[str] = set()
        for index, identity in enumerate(identities):
            if identity in known or identity in seen:
                continue
            seen.add(identity)
            entry = entries[index]
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
                    classified=False,
                    page_title=entry.page_title,
                    heading=entry.heading,
                    body_url=entry.body_url,
                )
            )
        return fresh

    async def _match(
        self, source: Source, new_items: list[NewItem], now: datetime, *, dry_run: bool = False
    ) -> tuple[list[NewItem], list[NewAlert]]:
        """Match new items; return them (classified where needed) and their alerts.

        An item is classified before matching only when some query tests the action; otherwise
        only the items that matched are (their alerts carry the verdict). Of several matches of
        one item for one target only the first can become an alert (one alert per link and
        target), so only its terms are explained; a dry run reports every match.
        """
        if not new_items:
            return new_items, []
        compiled = await self._matchers.get()
        # Who may see this source's items, and under which name (a private source: its servers only).
        owners = [] if source.kind == "search" else await self._adb.call(sources.owners, source.id)
        audiences = audiences_of(source, owners)
        cutoff = now - timedelta(hours=self._policy.max_item_age_hours)
        classify_first = compiled.matcher.uses_actions

        def classified(it: NewItem) -> NewItem:
            if it.classified:
                return it
            verdict = classify_verdict(it.title, it.text, _context(source, it))
            return replace(it, action=verdict.action, verdict=verdict, classified=True)

        def run() -> tuple[list[NewItem], list[NewAlert]]:
            out = list(new_items)
            found: list[NewAlert] = []
            for index, fresh in enumerate(out):
                if fresh.published is not None and fresh.published < cutoff:
                    continue  # too old to alert, however new to us: not classified
                it = out[index] = classified(fresh) if classify_first else fresh
                targets: set[str] = set()
                for audience in audiences:
                    source_text = source_field(audience.name, it.page_title, it.heading)
                    doc = MatchDoc(title=it.title, summary=it.text, source=source_text, action=it.action)
                    matches = [
                        m
                        for m in compiled.matcher.match(doc)
                        if audience.sees(compiled.by_id[m.subscription_id])
                    ]
                    if not matches:
                        continue
                    if not it.classified:  # no query tests the action: the same matches, now explained
                        it = out[index] = classified(it)
                        doc = MatchDoc(title=it.title, summary=it.text, source=source_text, action=it.action)
                    for m in matches:
                        sub = compiled.by_id[m.subscription_id]
                        if sub.target in targets and not dry_run:
                            continue  # the store would ignore it: this item's link already alerts there
                        targets.add(sub.target)
                        record = explanation_record(
                            term_hits(compiled.queries[sub.id], doc),
                            it.verdict or Verdict(it.action),
                            _context(source, it),
                        )
                        found.append(NewAlert(index, sub.id, sub.target, m.terms, record))
            return out, found

        # Matching is pure Python, bounded per (item, query) by the cost model's budget; in a thread
        # the interpreter hands the GIL back to the loop every few milliseconds, so however many
        # subscriptions match, /healthz and slash commands still answer.
        return await asyncio.to_thread(run)


def _context(source: Source, item: NewItem) -> SourceContext | None:
    return source_context(source.options, page_title=item.page_title, heading=item.heading)


def _unzip(pairs: list[tuple[str, Entry]]) -> tuple[list[Entry], list[str]]:
    return [entry for _, entry in pairs], [identity for identity, _ in pairs]
