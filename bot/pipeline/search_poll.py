"""Plan the poll of a search source: one request per term set the subscriptions need.

A term set's first answer only primes it (its items are recorded, nothing alerts); answers to
term sets searched before are matched. Nothing is written here: the plan's `searched` keys are
marked by the commit, in the poll's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from bot.domain.clock import Clock
from bot.domain.errors import FetchError, ParseError
from bot.domain.identity import assign_identities
from bot.domain.models import Entry
from bot.domain.search import TermSet, term_key
from bot.pipeline.alerts import match_new_items
from bot.pipeline.fresh import new_items, with_bodies
from bot.pipeline.matching import MatcherCache, audiences_of
from bot.pipeline.plan import PollPlan, PollPolicy, failed
from bot.sources.adapters import parse_document
from bot.sources.fallback import fetch_with_mirror
from bot.sources.fulltext import wants_bodies
from bot.sources.http import Fetcher
from bot.sources.search import max_queries, min_interval, parse_kind, search_url
from bot.sources.workers import InThread, Offload
from bot.storage import searches as searched_sets
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Source

log = logging.getLogger(__name__)


@dataclass
class SearchAnswers:
    """What one poll of a search source fetched."""

    # Entries with their identities, given within each answer (identity.assign_identities).
    known: list[tuple[str, Entry]] = field(default_factory=list)  # term sets searched before
    first: list[tuple[str, Entry]] = field(default_factory=list)  # term sets searched the first time
    fetched: list[str] = field(default_factory=list)  # keys of the term sets fetched
    errors: list[str] = field(default_factory=list)
    retry_after: float | None = None
    skipped: int = 0  # term sets over the source's max_queries
    fetch_seconds: float = 0.0


def plan(searches: Counter[TermSet], limit: int, *, split: bool = False) -> tuple[list[TermSet], int]:
    """Pick the term sets to fetch: the most-subscribed first, then in name order.

    `split`: the server has no OR, so each term of a set is searched on its own.
    """
    if split:
        singles: Counter[TermSet] = Counter()
        for terms, count in searches.items():
            for term in terms:
                singles[(term,)] += count
        searches = singles
    ordered = sorted(searches, key=lambda terms: (-searches[terms], terms))
    return ordered[:limit], max(0, len(ordered) - limit)


async def fetch_answers(
    fetcher: Fetcher,
    source: Source,
    searches: Counter[TermSet],
    searched: set[str],
    *,
    max_bytes: int,
    offload: Offload | None = None,
) -> SearchAnswers:
    """Fetch and parse the answer to each planned term set; failures are collected, not raised."""
    split = source.options.get("split_terms") is True
    chosen, skipped = plan(searches, max_queries(source.options), split=split)
    answers = SearchAnswers(skipped=skipped)
    kind = parse_kind(source.options)
    spacing = min_interval(source.options)
    started = time.monotonic()
    runner = offload or InThread()

    async def one(terms: TermSet) -> None:
        url = search_url(source.url, terms, source.options)
        try:
            fetched = await fetch_with_mirror(fetcher, url, source.options, min_interval=spacing)
            feed = await runner.run(
                parse_document,
                kind,
                fetched.body,
                content_type=fetched.content_type,
                url=fetched.url,
                options=source.options,
                max_decompressed_bytes=max_bytes,
            )
        except (FetchError, ParseError) as exc:
            answers.errors.append(f"search {' / '.join(terms)!r}: {exc}")
            if isinstance(exc, FetchError) and exc.retry_after is not None:
                answers.retry_after = max(answers.retry_after or 0.0, exc.retry_after)
            return
        key = term_key(terms)
        pairs = zip(assign_identities(feed.entries), feed.entries, strict=True)
        (answers.known if key in searched else answers.first).extend(pairs)
        answers.fetched.append(key)

    await asyncio.gather(*(one(terms) for terms in chosen))
    answers.fetch_seconds = time.monotonic() - started
    if skipped:
        log.warning(
            "source %d (%s): %d term sets not searched (max_queries %d)",
            source.id,
            source.name,
            skipped,
            max_queries(source.options),
            extra={"source_id": source.id},
        )
    return answers


class SearchPlanner:
    """Plan polls of search sources: fetch the answers, keep the new items, match the known sets."""

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

    async def plan(self, source: Source, *, every_match: bool = False) -> PollPlan:
        """Fetch and match a search source's answers; raises WorkerStopped when shutting down.

        `every_match`: also list every match with its terms (a dry run reports them all).
        """
        now = self._clock()
        compiled = await self._matchers.get()
        searched = await self._adb.call(searched_sets.searched, source.id)
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
            return failed(
                source,
                now,
                self._policy,
                error,
                retry_after=answers.retry_after,
                fetch_seconds=answers.fetch_seconds,
            )
        alerting = await new_items(self._adb, source.id, *_unzip(answers.known))
        if wants_bodies(source.options):
            alerting = await with_bodies(self._fetcher, source, alerting)  # first answers only record
        taken = {it.identity for it in alerting}
        recorded = [
            it
            for it in await new_items(self._adb, source.id, *_unzip(answers.first))
            if it.identity not in taken
        ]
        # A search source is nobody's own: everyone sees it under its name.
        found = await match_new_items(
            compiled,
            source,
            audiences_of(source, []),
            alerting,
            now,
            self._policy.max_item_age_hours,
            every_match,
        )
        return PollPlan(
            source,
            now,
            "new" if answers.known else ("primed" if answers.fetched else "unchanged"),
            self._policy.next_check(now, source),
            entries=len(answers.known) + len(answers.first),
            items=found.items + recorded,  # alerts index into the first part
            alerts=found.alerts,
            matches=found.matches,
            subscriptions=found.subscriptions,
            fetch_seconds=answers.fetch_seconds,
            searched=answers.fetched,
            first_searches=len(recorded),
        )


def _unzip(pairs: list[tuple[str, Entry]]) -> tuple[list[Entry], list[str]]:
    return [entry for _, entry in pairs], [identity for identity, _ in pairs]
