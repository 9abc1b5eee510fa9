"""A sample alert for /watch test: what this channel's alerts look like, from stored items."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.errors import RegwatchError
from bot.services.guild import GuildService
from bot.storage.items import StoredItem
from bot.storage.outbox import PendingAlert

SAMPLE_DAYS = 30
SAMPLE_LABEL = "test"


async def sample_alert(service: GuildService, guild_id: int, channel_id: int, now: datetime) -> PendingAlert:
    """Return an alert as the channel would get it: the newest stored item one of its subscriptions matches.

    Without such an item, the newest item the server's sources stored; with none at all, a
    placeholder that says so.
    """
    target = f"discord:{channel_id}"
    subs = [s for s in await service.list_subscriptions(guild_id) if s.target == target]
    for sub in subs:
        try:
            found = await service.preview(sub.query, SAMPLE_DAYS, limit=1, guild_id=guild_id)
        except RegwatchError:
            continue
        if found.top:
            item, terms = found.top[0]
            return _alert(item, target, sub.label, sub.query, terms, now)
    since = now - timedelta(days=SAMPLE_DAYS)
    newest = await service.recent_items(guild_id, since, 1)
    if newest:
        return _alert(
            newest[0], target, SAMPLE_LABEL, "(no subscription of this channel matched yet)", (), now
        )
    placeholder = StoredItem(0, 0, "regwatch", "Sample alert: no items stored yet", "", None, None, now, None)
    return _alert(placeholder, target, SAMPLE_LABEL, "(none yet: /watch vendor or /watch keywords)", (), now)


def _alert(
    item: StoredItem, target: str, label: str, query: str, terms: tuple[str, ...], now: datetime
) -> PendingAlert:
    return PendingAlert(
        id=0,
        target=target,
        attempts=0,
        subscription_id=0,
        subscription_label=label,
        query=query,
        mention_role_id=None,
        item_id=item.id,
        title=item.title,
        text=item.text,
        link=item.link,
        published=item.published,
        action=item.action,
        source_name=item.source_name,
        source_url="",
        terms=terms,
        created_at=now,
    )
