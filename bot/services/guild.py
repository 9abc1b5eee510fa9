"""What a Discord server can do: subscribe channels, preview queries, manage its sources, ask why.

Every method takes the caller's guild id and only ever reads or changes that server's rows, so
no command can reach another server's subscriptions, sources or alerts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.clock import Clock, utcnow
from bot.domain.errors import RegwatchError
from bot.domain.prefilter import fts_filter
from bot.domain.query import Query, parse_query
from bot.domain.vendors import VendorCatalog
from bot.services import insight
from bot.services.insight import Explanation, Preview
from bot.sources.http import Fetcher, check_url
from bot.sources.parse import parse_feed
from bot.sources.workers import InThread, Offload
from bot.storage import items, outbox, sources, subscriptions, triage
from bot.storage.db import AsyncDatabase
from bot.storage.items import StoredItem
from bot.storage.outbox import PendingAlert
from bot.storage.sources import Source, SourceConfig
from bot.storage.subscriptions import Subscription

if TYPE_CHECKING:
    from bot.services.subscription_edit import Edited

__all__ = ["Explanation", "GuildService", "Limits", "Preview", "UserError"]

# Items a preview reads (newest first): enough for weeks of every catalog source.
PREVIEW_MAX_ITEMS = 50_000


class UserError(RegwatchError):
    """A request a person made that cannot be done; the message is shown to them as is."""


@dataclass(frozen=True)
class Limits:
    """Per-server quotas and rules."""

    max_subscriptions: int = 50
    max_sources: int = 10
    min_interval_minutes: int = 5
    allow_private: bool = False
    max_item_age_hours: int = 168


class GuildService:
    """The use cases of the slash commands, independent of Discord."""

    def __init__(
        self,
        adb: AsyncDatabase,
        vendors: VendorCatalog,
        fetcher: Fetcher,
        limits: Limits,
        *,
        clock: Clock = utcnow,
        offload: Offload | None = None,
    ) -> None:
        self._adb = adb
        self.vendors = vendors
        self._fetcher = fetcher
        self.limits = limits
        self._clock = clock
        self._offload: Offload = offload if offload is not None else InThread()

    # --- subscriptions -------------------------------------------------------------------

    async def pause_notices(self, guild_id: int) -> list[str]:
        """Return, once, a line for each of the server's subscriptions paused since the last reply."""
        paused = await self._adb.call(subscriptions.take_unseen_pauses, guild_id)
        return [
            f"⚠ Subscription {sub.id} is paused: {sub.paused_reason}. Its alerts are kept; fix the"
            f" channel's permissions or /watch remove id:{sub.id}."
            for sub in paused
        ]

    def parse(self, query: str) -> Query:
        """Parse a query with the vendor catalog; raises QueryError with position and reason."""
        return parse_query(query, self.vendors)

    def vendor_query(self, name: str, *, actions_only: bool = False) -> str:
        """Return the query text for a vendor subscription, or raise UserError for an unknown vendor."""
        vendor = self.vendors.lookup(name)
        if vendor is None:
            raise UserError(
                f"'{name}' is not in the vendor catalog. Pick one from the suggestions, or use "
                f'/watch keywords query:"{name}" to watch the name as a phrase.'
            )
        query = f'vendor:"{vendor.name}"'
        return f"{query} action:any" if actions_only else query

    async def subscribe(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        query_text: str,
        *,
        origin_channel_id: int | None = None,
        mention_role_id: int | None = None,
    ) -> tuple[Subscription, tuple[str, ...]]:
        """Subscribe a channel of this server to a query; return it with any warnings."""
        query = self.parse(query_text)
        existing = await self._adb.call(subscriptions.list_subscriptions, guild_id=guild_id)
        if len(existing) >= self.limits.max_subscriptions:
            raise UserError(
                f"This server has {len(existing)} subscriptions, the most allowed "
                f"({self.limits.max_subscriptions}). Remove one with /watch remove first."
            )
        target = f"discord:{channel_id}"
        for sub in existing:
            if sub.target == target and sub.query == query_text:
                raise UserError(f"<#{channel_id}> already has this subscription (id {sub.id}).")
        sub = await self._adb.call(
            subscriptions.add,
            query_text,
            target,
            self._clock(),
            guild_id=guild_id,
            created_by=f"discord:{user_id}",
            origin="discord",
            mention_role_id=mention_role_id,
            origin_channel_id=origin_channel_id or channel_id,
        )
        return sub, query.warnings

    async def edit_subscription(
        self,
        guild_id: int,
        sub_id: int,
        user_id: int,
        *,
        query_text: str | None = None,
        channel_id: int | None = None,
        paused: bool | None = None,
        schedule: str | None = None,
    ) -> Edited:
        """Change one of this server's subscriptions in place (bot/services/subscription_edit.py)."""
        from bot.services import subscription_edit as editing  # it imports UserError from here

        change = editing.Change(
            query=query_text,
            target=f"discord:{channel_id}" if channel_id is not None else None,
            schedule=schedule,
            paused=paused,
        )
        try:
            edited = await self._adb.call(
                editing.apply_edit,
                sub_id,
                change,
                self.vendors,
                self._clock,
                guild_id=guild_id,
                paused_reason=f"paused by <@{user_id}> with /watch edit",
            )
        except editing.NothingToChange:
            raise UserError(
                "Nothing to change: give a query, a channel, a schedule, or paused true/false."
            ) from None
        except editing.NoSuchSubscription:
            raise UserError(
                f"This server has no subscription with id {sub_id}. /watch list shows them."
            ) from None
        return edited

    async def list_subscriptions(self, guild_id: int) -> list[Subscription]:
        """Return this server's subscriptions."""
        return await self._adb.call(subscriptions.list_subscriptions, guild_id=guild_id)

    async def remove_subscription(self, guild_id: int, sub_id: int, *, user_id: int | None = None) -> None:
        """Remove one of this server's subscriptions; refuse ids of other servers plainly."""
        if not await self._adb.call(subscriptions.remove, sub_id, guild_id=guild_id):
            raise UserError(f"This server has no subscription with id {sub_id}. /watch list shows them.")
        if user_id is not None:
            await self._adb.call(triage.name_remover, sub_id, f"discord:{user_id}")

    async def preview(
        self, query_text: str, days: int = 30, *, limit: int = 5, guild_id: int | None = None
    ) -> Preview:
        """Run a query over the items stored in the last `days` days (those `guild_id` may see)."""
        query = self.parse(query_text)
        days = max(1, min(days, 365))
        since = self._clock() - timedelta(days=days)
        stored, truncated, total = await self._adb.call(
            items.preview_candidates, since, PREVIEW_MAX_ITEMS, fts_filter(query), guild_id=guild_id
        )
        return await asyncio.to_thread(
            insight.preview, stored, query, limit=limit, truncated=truncated, scanned=total
        )

    async def recent_items(self, guild_id: int, since: datetime, limit: int) -> list[StoredItem]:
        """Return the newest items of the sources this server sees, fetched since a time."""
        return await self._adb.call(items.recent, since, limit, guild_id=guild_id)

    # --- sources ---------------------------------------------------------------------------

    async def add_source(
        self, guild_id: int, url: str, name: str | None = None, interval_minutes: int | None = None
    ) -> tuple[Source, str]:
        """Check a feed URL (safe address, really a feed) and add it for this server."""
        url = url.strip()
        check_url(url, allow_private=self.limits.allow_private)
        if interval_minutes is not None and interval_minutes < self.limits.min_interval_minutes:
            raise UserError(f"interval_minutes must be at least {self.limits.min_interval_minutes}.")
        mine = await self._adb.call(sources.count_for_guild, guild_id)
        if mine >= self.limits.max_sources:
            raise UserError(
                f"This server has {mine} sources of its own, the most allowed ({self.limits.max_sources})."
            )
        fetched = await self._fetcher.fetch(url)
        # In a worker with a deadline: a hostile feed must not hold the event loop (every server's).
        parsed = await self._offload.run(parse_feed, fetched.body, content_type=fetched.content_type, url=url)
        config = SourceConfig(
            (name or parsed.title or url)[:100],
            url,
            "feed",
            interval_minutes * 60 if interval_minutes else None,
        )
        # The answer is the same whether or not another server watches this URL (storage/sources.py).
        source = await self._adb.call(sources.add_for_guild, config, self._clock(), guild_id)
        if source is None:
            catalog = await self._adb.call(sources.catalog_source, url)
            raise UserError(
                f"{url} is in the shared catalog already (source {catalog.id if catalog else '?'});"
                " your subscriptions see its items."
            )
        return source, f"{parsed.format.upper()} feed with {len(parsed.entries)} items."

    async def visible_sources(self, guild_id: int) -> list[Source]:
        """Return the shared catalog's sources plus this server's own (with its ids and names)."""
        catalog = [
            s for s in await self._adb.call(sources.list_sources) if s.origin == "config" and s.enabled
        ]
        return catalog + await self._adb.call(sources.guild_sources, guild_id)

    async def remove_source(self, guild_id: int, source_id: int) -> Source:
        """Remove one of this server's own sources (catalog sources cannot be removed here)."""
        source = await self._adb.call(sources.remove_for_guild, source_id, guild_id)
        if source is None:
            raise UserError(
                f"This server has no source of its own with id {source_id}. /source list shows them."
            )
        return source

    # --- alerts ------------------------------------------------------------------------------

    async def recent_alerts(
        self, guild_id: int, count: int = 10, page: int = 1
    ) -> list[tuple[PendingAlert, str]]:
        """Return this server's latest alerts with their status (page 2: the `count` before those)."""
        count = max(1, min(count, 25))
        offset = (max(1, page) - 1) * count
        return await self._adb.call(outbox.recent, count, guild_id=guild_id, offset=offset)

    async def why(self, guild_id: int, link: str) -> Explanation:
        """Explain, for each of this server's subscriptions, why an item did or did not alert."""
        subs = await self._adb.call(subscriptions.list_subscriptions, guild_id=guild_id)
        return await self._adb.call(
            insight.explain_link,
            link,
            subs,
            self.vendors,
            self.limits.max_item_age_hours,
            no_subscriptions="This server has no subscriptions.",
            sources_hint="/source list shows the sources.",
            guild_id=guild_id,
        )
