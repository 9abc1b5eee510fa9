"""Compile every subscription into one matcher, rebuilt when subscriptions change."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from bot.domain.bulk import gc_paused
from bot.domain.errors import QueryError
from bot.domain.matcher import Matcher
from bot.domain.query import Query, parse_query
from bot.domain.search import TermSet, term_sets
from bot.domain.vendors import VendorCatalog
from bot.storage import subscriptions
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Owner, Source
from bot.storage.subscriptions import Subscription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledSubscriptions:
    """A matcher over all subscriptions, the subscriptions by id, and what search sources ask for."""

    matcher: Matcher
    by_id: dict[int, Subscription]
    invalid: dict[int, str] = field(default_factory=dict)
    queries: dict[int, Query] = field(default_factory=dict)  # parsed, to explain each alert
    # Each valid query text parsed, so that the next build parses only what changed.
    texts: dict[str, Query] = field(default_factory=dict)

    @cached_property
    def searches(self) -> Counter[TermSet]:
        """Term sets for search sources, with how many subscriptions need each (domain/search.py).

        Found on first use (only search sources need them; 0.3 s at 100,000 subscriptions).
        """
        per_query = Counter(id(query) for query in self.queries.values())
        distinct = {id(query): query for query in self.queries.values()}
        found: Counter[TermSet] = Counter()
        for key, query in distinct.items():
            for cover in term_sets((query.root,)):
                found[cover] += per_query[key]
        return found


def compile_subscriptions(
    subs: list[Subscription], vendors: VendorCatalog, known_texts: dict[str, Query] | None = None
) -> CompiledSubscriptions:
    """Parse each subscription's query and build one matcher; skip (and report) invalid ones.

    `known_texts` holds queries parsed already (by the last build, or the subscriptions file
    at start): those are not parsed again. It must come from the same vendor catalog.
    """
    earlier = known_texts or {}
    with gc_paused():
        parsed: list[tuple[int, Query]] = []
        invalid: dict[int, str] = {}
        by_text: dict[str, Query | str] = {}  # identical queries are parsed once and share one object
        for sub in subs:
            known = by_text.get(sub.query)
            if known is None:
                known = earlier.get(sub.query)
                if known is not None:
                    by_text[sub.query] = known
            if known is None:
                try:
                    known = by_text[sub.query] = parse_query(sub.query, vendors)
                except QueryError as exc:
                    known = by_text[sub.query] = str(exc)
            if isinstance(known, str):
                invalid[sub.id] = known
                log.warning("subscription %s has an invalid query, skipped: %s", sub.label, known)
            else:
                parsed.append((sub.id, known))
        matcher = Matcher(parsed)
        texts = {text: query for text, query in by_text.items() if not isinstance(query, str)}
        return CompiledSubscriptions(matcher, {s.id: s for s in subs}, invalid, dict(parsed), texts)


@dataclass(frozen=True)
class Audience:
    """Subscriptions that may see a source's items, and the source's name as they know it."""

    name: str
    guild_id: int | None  # one server's subscriptions only; None: every one but `others`
    others: frozenset[int] = frozenset()  # servers matched as their own audience instead

    def sees(self, sub: Subscription) -> bool:
        """Tell whether this subscription belongs to the audience."""
        if self.guild_id is not None:
            return sub.guild_id == self.guild_id
        return sub.guild_id not in self.others


def audiences_of(source: Source, owners: list[Owner]) -> list[Audience]:
    """Return who sees a source: everyone for a shared one, else only the servers that added it.

    A server that added a source sees it under its own name (for `source:` terms); the storage
    refuses an alert for anyone else too (bot/storage/items.py `store_poll`).
    """
    mine = [Audience(o.name, o.guild_id) for o in owners]
    if not source.shared:
        return mine
    return [Audience(source.name, None, frozenset(o.guild_id for o in owners)), *mine]


class MatcherCache:
    """Hold the compiled subscriptions; rebuild off the event loop after any change."""

    def __init__(
        self, adb: AsyncDatabase, vendors: VendorCatalog, parsed: dict[str, Query] | None = None
    ) -> None:
        """`parsed`: queries parsed already (the subscriptions file's), by text, for the first build."""
        self._adb = adb
        self._vendors = vendors
        self._parsed = parsed or {}
        self._version = -1
        self._compiled: CompiledSubscriptions | None = None
        self._lock = asyncio.Lock()

    async def get(self, version: int | None = None) -> CompiledSubscriptions:
        """Return the compiled subscriptions, rebuilding them if any subscription changed.

        `version`: the subscriptions' version, read by the caller in the same database call as
        its other reads (one thread hop fewer per poll). It is read again here when not given or
        when it differs from the built one: a caller's reading may be older than the last build.
        """
        async with self._lock:
            if version is None or version != self._version:
                version = await self._adb.call(subscriptions.version)
            if self._compiled is None or version != self._version:
                # Paused subscriptions (their target failed) still match: their alerts wait in the outbox.
                subs = await self._adb.call(subscriptions.list_subscriptions)
                known = self._compiled.texts if self._compiled is not None else self._parsed
                self._compiled = await asyncio.to_thread(compile_subscriptions, subs, self._vendors, known)
                self._parsed = {}
                self._version = version
                log.debug("matcher rebuilt: %d subscriptions (version %d)", len(subs), version)
            return self._compiled
