"""Compile every subscription into one matcher, rebuilt when subscriptions change."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

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
    # Term sets for search sources, with how many subscriptions need each (domain/search.py).
    searches: Counter[TermSet] = field(default_factory=Counter)


def compile_subscriptions(subs: list[Subscription], vendors: VendorCatalog) -> CompiledSubscriptions:
    """Parse each subscription's query and build one matcher; skip (and report) invalid ones."""
    parsed: list[tuple[int, Query]] = []
    invalid: dict[int, str] = {}
    for sub in subs:
        try:
            parsed.append((sub.id, parse_query(sub.query, vendors)))
        except QueryError as exc:
            invalid[sub.id] = str(exc)
            log.warning("subscription %s has an invalid query, skipped: %s", sub.label, exc)
    searches = term_sets(query.root for _, query in parsed)
    return CompiledSubscriptions(Matcher(parsed), {s.id: s for s in subs}, invalid, dict(parsed), searches)


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

    def __init__(self, adb: AsyncDatabase, vendors: VendorCatalog) -> None:
        self._adb = adb
        self._vendors = vendors
        self._version = -1
        self._compiled: CompiledSubscriptions | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> CompiledSubscriptions:
        """Return the compiled subscriptions, rebuilding them if any subscription changed."""
        async with self._lock:
            version = await self._adb.call(subscriptions.version)
            if self._compiled is None or version != self._version:
                # Paused subscriptions (their target failed) still match: their alerts wait in the outbox.
                subs = await self._adb.call(subscriptions.list_subscriptions)
                self._compiled = await asyncio.to_thread(compile_subscriptions, subs, self._vendors)
                self._version = version
                log.debug("matcher rebuilt: %d subscriptions (version %d)", len(subs), version)
            return self._compiled
