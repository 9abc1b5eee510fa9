"""Sources for every front end: add one (its kind told from what it serves), remove, list.

Adding a source, in order: the address must be safe to fetch (no private network unless the
scope allows it), the interval at least the scope's shortest, a server under its quota; then the
URL is fetched once and its kind detected from the document (an RSS/Atom/JSON feed, a CISA KEV
catalog, a CSAF ROLIE feed, a Federal Register API answer), and the source is stored with that
kind, so that its polls read it the same way the check did. Added without a check, it is a feed.
The console's sources are shared (every subscription sees them); a server's are its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.clock import Clock, utcnow
from bot.domain.errors import UserError
from bot.domain.models import ParsedFeed
from bot.services.scope import Limits, Scope
from bot.sources.adapters import detect
from bot.sources.http import Fetcher, check_url
from bot.sources.workers import InThread, Offload
from bot.storage import sources
from bot.storage.db import AsyncDatabase
from bot.storage.sources import Source, SourceConfig

# What people call each kind a check can detect.
KIND_NAMES = {
    "feed": "feed",
    "cisa_kev": "CISA KEV catalog",
    "csaf_rolie": "CSAF ROLIE feed",
    "federal_register": "Federal Register API answer",
}


@dataclass(frozen=True)
class AddedSource:
    """A source just added, with what the check found (None when added without one)."""

    source: Source
    kind: str
    checked: ParsedFeed | None

    def detail(self, *, upper: bool = True) -> str:
        """Say what the check found, e.g. 'RSS feed with 4 items' or 'CISA KEV catalog with 1484 items'."""
        if self.checked is None:
            return "not checked"
        fmt = self.checked.format.upper() if upper else self.checked.format
        what = f"{fmt} feed" if self.kind == "feed" else KIND_NAMES.get(self.kind, self.kind)
        return f"{what} with {len(self.checked.entries)} items"


def _span(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


class SourceService:
    """Source use cases of one scope's limits, for the CLI and the slash commands alike."""

    def __init__(
        self,
        adb: AsyncDatabase,
        fetcher: Fetcher | None,
        limits: Limits,
        *,
        clock: Clock = utcnow,
        offload: Offload | None = None,
    ) -> None:
        self._adb = adb
        self._fetcher = fetcher
        self.limits = limits
        self._clock = clock
        self._offload: Offload = offload if offload is not None else InThread()

    async def check(self, url: str) -> tuple[str, ParsedFeed]:
        """Fetch a URL once and tell its kind from the document; return (kind, parsed)."""
        if self._fetcher is None:
            raise AssertionError("a source check needs the HTTP client")
        fetched = await self._fetcher.fetch(url)
        # In a worker with a deadline: a hostile document must not hold the event loop (every server's).
        return await self._offload.run(detect, fetched.body, content_type=fetched.content_type, url=url)

    async def add(
        self,
        scope: Scope,
        url: str,
        name: str | None = None,
        interval_seconds: int | None = None,
        *,
        check: bool = True,
    ) -> AddedSource:
        """Check a URL (safe address, a kind regwatch reads) and add it in this scope."""
        url = url.strip()
        check_url(url, allow_private=self.limits.allow_private)
        shortest = self.limits.min_interval_seconds
        if interval_seconds is not None and interval_seconds < shortest:
            raise UserError(f"the interval must be at least {_span(shortest)}")
        quota = self.limits.max_sources
        if scope.guild_id is not None and quota is not None:
            mine = await self._adb.call(sources.count_for_guild, scope.guild_id)
            if mine >= quota:
                raise UserError(f"This server has {mine} sources of its own, the most allowed ({quota}).")
        kind, parsed = await self.check(url) if check else ("feed", None)
        host = url.split("//", 1)[-1].split("/", 1)[0]
        config = SourceConfig(
            (name or (parsed.title if parsed else None) or host)[:100], url, kind, interval_seconds
        )
        now = self._clock()
        if scope.guild_id is None:
            return AddedSource(await self._adb.call(sources.add, config, now), kind, parsed)
        # The answer is the same whether or not another server watches this URL (storage/sources.py).
        source = await self._adb.call(sources.add_for_guild, config, now, scope.guild_id)
        if source is None:
            catalog = await self._adb.call(sources.catalog_source, url)
            raise UserError(
                f"{url} is in the shared catalog already (source {catalog.id if catalog else '?'});"
                " your subscriptions see its items."
            )
        return AddedSource(source, kind, parsed)

    async def remove(self, scope: Scope, source_id: int) -> Source | None:
        """Remove a source: the console any (returns None), a server one of its own (returns its view)."""
        if scope.guild_id is None:
            if not await self._adb.call(sources.remove, source_id):
                raise UserError(f"no source with id {source_id}")
            return None
        source = await self._adb.call(sources.remove_for_guild, source_id, scope.guild_id)
        if source is None:
            raise UserError(
                f"This server has no source of its own with id {source_id}. /source list shows them."
            )
        return source

    async def visible(self, scope: Scope) -> list[Source]:
        """Return the sources the scope sees: the console every one; a server the catalog plus its own."""
        every = await self._adb.call(sources.list_sources)
        if scope.guild_id is None:
            return every
        catalog = [s for s in every if s.origin == "config" and s.enabled]
        return catalog + await self._adb.call(sources.guild_sources, scope.guild_id)

    async def owner_counts(self) -> dict[int, int]:
        """Return, per source with any, how many servers added it themselves (the console's list)."""
        return await self._adb.call(sources.owner_counts)
