"""A Discord server's use cases: the slash commands' entry to bot/services, bound to one server.

Each method takes the caller's guild id and delegates to the scope's use cases
(bot/services/subscriptions.py, sources.py, insight.py) with `Scope.guild(...)`, so no command can
reach another server's subscriptions, sources or alerts, and the rules are the CLI's own.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.clock import Clock, utcnow
from bot.domain.errors import UserError
from bot.domain.query import Query
from bot.domain.vendors import VendorCatalog
from bot.services.insight import Explanation, Preview
from bot.services.scope import Limits, Scope
from bot.services.sources import SourceService
from bot.services.subscription_edit import Change, Edited, NothingToChange
from bot.services.subscriptions import SubscriptionService
from bot.sources.http import Fetcher
from bot.sources.workers import Offload
from bot.storage import items, outbox, subscriptions
from bot.storage.db import AsyncDatabase
from bot.storage.items import StoredItem
from bot.storage.outbox import PendingAlert
from bot.storage.sources import Source
from bot.storage.subscriptions import Subscription

__all__ = ["Explanation", "GuildService", "Limits", "Preview", "UserError"]


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
        self.limits = limits
        self.subscriptions = SubscriptionService(adb, vendors, limits, clock=clock)
        self.sources = SourceService(adb, fetcher, limits, clock=clock, offload=offload)

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
        return self.subscriptions.parse(query)

    def vendor_query(self, name: str, *, actions_only: bool = False) -> str:
        """Return the query text for a vendor subscription, or raise UserError for an unknown vendor."""
        return self.subscriptions.vendor_query(name, actions_only=actions_only)

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
        return await self.subscriptions.add(
            Scope.guild(guild_id, user_id),
            query_text,
            f"discord:{channel_id}",
            mention_role_id=mention_role_id,
            origin_channel_id=origin_channel_id or channel_id,
        )

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
        change = Change(
            query=query_text,
            target=f"discord:{channel_id}" if channel_id is not None else None,
            schedule=schedule,
            paused=paused,
        )
        try:
            return await self.subscriptions.edit(Scope.guild(guild_id, user_id), sub_id, change)
        except NothingToChange:
            raise UserError(
                "Nothing to change: give a query, a channel, a schedule, or paused true/false."
            ) from None

    async def list_subscriptions(self, guild_id: int) -> list[Subscription]:
        """Return this server's subscriptions."""
        return await self.subscriptions.list(Scope.guild(guild_id))

    async def remove_subscription(self, guild_id: int, sub_id: int, *, user_id: int | None = None) -> None:
        """Remove one of this server's subscriptions; refuse ids of other servers plainly."""
        await self.subscriptions.remove(Scope.guild(guild_id, user_id), sub_id)

    async def preview(
        self, query_text: str, days: int = 30, *, limit: int = 5, guild_id: int | None = None
    ) -> Preview:
        """Run a query over the items stored in the last `days` days (those `guild_id` may see)."""
        return await self.subscriptions.preview(Scope(guild_id), query_text, days, limit=limit)

    async def recent_items(self, guild_id: int, since: datetime, limit: int) -> list[StoredItem]:
        """Return the newest items of the sources this server sees, fetched since a time."""
        return await self._adb.call(items.recent, since, limit, guild_id=guild_id)

    # --- sources ---------------------------------------------------------------------------

    async def add_source(
        self, guild_id: int, url: str, name: str | None = None, interval_minutes: int | None = None
    ) -> tuple[Source, str]:
        """Check a URL (safe address, a kind regwatch reads) and add it for this server."""
        added = await self.sources.add(
            Scope.guild(guild_id), url, name, interval_minutes * 60 if interval_minutes else None
        )
        return added.source, f"{added.detail()}."

    async def visible_sources(self, guild_id: int) -> list[Source]:
        """Return the shared catalog's sources plus this server's own (with its ids and names)."""
        return await self.sources.visible(Scope.guild(guild_id))

    async def remove_source(self, guild_id: int, source_id: int) -> Source:
        """Remove one of this server's own sources (catalog sources cannot be removed here)."""
        source = await self.sources.remove(Scope.guild(guild_id), source_id)
        assert source is not None  # a server's removal returns its view of the source
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
        return await self.subscriptions.why(
            Scope.guild(guild_id),
            link,
            no_subscriptions="This server has no subscriptions.",
            sources_hint="/source list shows the sources.",
        )
