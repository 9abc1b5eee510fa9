"""Subscriptions for every front end: add, edit, remove, list, preview a query, ask why.

Rules, in the order they apply to a new subscription:
1. The query parses (QueryError with position and reason otherwise).
2. A server stays under its quota (the console has none).
3. The same query to the same target is a duplicate (DuplicateSubscription naming the existing
   one); so is a name already taken (storage raises it from the unique index).
A server only ever reads and changes its own subscriptions; the console sees them all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.delivery.embed import escape
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import DuplicateSubscription, UserError
from bot.domain.prefilter import fts_filter
from bot.domain.query import Query, parse_query
from bot.domain.vendors import VendorCatalog
from bot.services import insight
from bot.services.insight import Explanation, Preview, Shown
from bot.services.scope import Limits, Scope
from bot.services.subscription_edit import Change, Edited, NoSuchSubscription, apply_edit
from bot.storage import items, subscriptions, triage
from bot.storage.db import AsyncDatabase
from bot.storage.subscriptions import Subscription


def target_label(target: str) -> str:
    """Name a target the way people know it: a channel mention for Discord, else the target itself."""
    return f"<#{target.split(':', 1)[1]}>" if target.startswith("discord:") else target


class SubscriptionService:
    """Subscription use cases of one scope's limits, for the CLI and the slash commands alike."""

    def __init__(
        self, adb: AsyncDatabase, vendors: VendorCatalog, limits: Limits, *, clock: Clock = utcnow
    ) -> None:
        self._adb = adb
        self.vendors = vendors
        self.limits = limits
        self._clock = clock

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

    async def add(
        self,
        scope: Scope,
        query_text: str,
        target: str,
        *,
        name: str | None = None,
        mention_role_id: int | None = None,
        origin_channel_id: int | None = None,
    ) -> tuple[Subscription, tuple[str, ...]]:
        """Subscribe a target to a query; return the subscription with the query's warnings."""
        query = self.parse(query_text)
        quota = self.limits.max_subscriptions
        if scope.guild_id is not None and quota is not None:
            count = len(await self._adb.call(subscriptions.list_subscriptions, guild_id=scope.guild_id))
            if count >= quota:
                raise UserError(
                    f"This server has {count} subscriptions, the most allowed "
                    f"({quota}). Remove one with /watch remove first."
                )
        same = await self._adb.call(subscriptions.find, target, query_text)
        if same is not None and (scope.is_console or same.guild_id == scope.guild_id):
            raise DuplicateSubscription(
                f"{target_label(target)} already has this subscription (id {same.id}).", existing_id=same.id
            )
        sub = await self._adb.call(
            subscriptions.add,
            query_text,
            target,
            self._clock(),
            name=name,
            guild_id=scope.guild_id,
            created_by=scope.created_by,
            origin=scope.origin,
            mention_role_id=mention_role_id,
            origin_channel_id=origin_channel_id,
        )
        return sub, query.warnings

    async def edit(self, scope: Scope, sub_id: int, change: Change) -> Edited:
        """Change a subscription in place (a server: only its own); see bot/services/subscription_edit.py.

        Raises QueryError, NothingToChange, or UserError (no such subscription, bad target or schedule).
        """
        reason = (
            "paused with `regwatch subs edit`"
            if scope.is_console
            else f"paused by <@{scope.user_id}> with /watch edit"
        )
        try:
            return await self._adb.call(
                apply_edit,
                sub_id,
                change,
                self.vendors,
                self._clock,
                guild_id=scope.guild_id,
                paused_reason=reason,
            )
        except NoSuchSubscription:
            raise _no_subscription(scope, sub_id) from None

    async def list(self, scope: Scope) -> list[Subscription]:
        """Return the scope's subscriptions (the console: every one)."""
        return await self._adb.call(subscriptions.list_subscriptions, guild_id=scope.guild_id)

    async def remove(self, scope: Scope, sub_id: int) -> None:
        """Remove a subscription; a server may only remove its own (others' ids are refused plainly)."""
        if not await self._adb.call(subscriptions.remove, sub_id, guild_id=scope.guild_id):
            raise _no_subscription(scope, sub_id)
        if scope.user_id is not None:
            await self._adb.call(triage.name_remover, sub_id, scope.created_by)

    async def preview(self, scope: Scope, query_text: str, days: int = 30, *, limit: int = 5) -> Preview:
        """Run a query over the items stored in the last `days` days that the scope sees."""
        if not 1 <= days <= self.limits.preview_max_days:
            raise UserError(f"days must be between 1 and {self.limits.preview_max_days}")
        query = self.parse(query_text)
        since = self._clock() - timedelta(days=days)
        stored, truncated, total = await self._adb.call(
            items.preview_candidates,
            since,
            self.limits.preview_max_items,
            fts_filter(query),
            guild_id=scope.guild_id,
        )
        return await asyncio.to_thread(
            insight.preview, stored, query, limit=max(0, limit), truncated=truncated, scanned=total
        )

    async def why(
        self,
        scope: Scope,
        link: str,
        *,
        target: str | None = None,
        show: Shown = escape,
        no_subscriptions: str = "No subscriptions to explain.",
        sources_hint: str = "`regwatch sources list` shows the sources.",
    ) -> Explanation:
        """Explain, for each of the scope's subscriptions (of `target` when given), an item's fate.

        `show` is the medium's sanitizer for text from outside (default: Discord markdown escaping).
        """
        subs = [s for s in await self.list(scope) if target is None or s.target == target]
        return await self._adb.call(
            insight.explain_link,
            link,
            subs,
            self.vendors,
            self.limits.max_item_age_hours,
            mention_channels=not scope.is_console,
            no_subscriptions=no_subscriptions,
            sources_hint=sources_hint,
            guild_id=scope.guild_id,
            show=show,
        )


def _no_subscription(scope: Scope, sub_id: int) -> UserError:
    if scope.is_console:
        return UserError(f"no subscription with id {sub_id}")
    return UserError(f"This server has no subscription with id {sub_id}. /watch list shows them.")
