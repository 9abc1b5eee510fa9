"""Tell the admin who made a subscription, by direct message, that regwatch paused it.

The Discord sink pauses a subscription when Discord refuses its channel (403: a permission was
lost; 404: the channel is gone) and calls `tell_creator` once, when the subscription goes from
active to paused: never once per alert, and not again while it stays paused. The subscription's
`created_by` (`discord:<user id>`, also the actor of its `subscription.added` audit row) names the
member to tell. The DM goes through Discord's REST API (open the DM channel, post in it), so it
works in a REST-only worker too. When there is nobody to DM (made with the CLI or a file) or the
DM is refused (the member left the server or does not accept DMs), the pause stays marked unseen
and the next reply to a regwatch command in that server announces it instead.

It lives in the delivery layer, beside the sink that calls it, because services sit above
delivery in the import layers and the sink may not import them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp
import discord
from discord.http import Route

from bot.delivery.embed import escape
from bot.domain.safetext import terminal
from bot.storage import subscriptions
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert
from bot.storage.subscriptions import Subscription

log = logging.getLogger(__name__)


def creator_id(sub: Subscription) -> int | None:
    """Return the Discord user id of the member who made a subscription, if a member did."""
    kind, _, user = sub.created_by.partition(":")
    return int(user) if kind == "discord" and user.isdigit() else None


def dm_text(sub: Subscription, server: str, reason: str, every: timedelta) -> str:
    """Return the direct message about a paused subscription."""
    channel_id = sub.target.split(":", 1)[-1]
    minutes = max(1, int(every.total_seconds() // 60))
    # Inline code shows text literally (no markdown), but a backtick would end it.
    query = terminal(sub.query, 300).replace("`", "'")
    return (
        f"regwatch paused subscription {sub.id} (`{query}`) in {server}:"
        f" it cannot post to <#{channel_id}> because {reason}. Its alerts are kept and delivery is"
        f" retried every {minutes} minutes; fix the channel's permissions, or remove it with"
        f" /watch remove id:{sub.id}. You get this message because you created the subscription."
    )


async def tell_creator(
    client: discord.Client, adb: AsyncDatabase, alert: PendingAlert, reason: str, every: timedelta
) -> bool:
    """DM the creator of the alert's subscription that it is paused; True when Discord took the DM.

    On success the pause no longer waits for the next command reply (it was told once already).
    """
    sub = await adb.call(subscriptions.get, alert.subscription_id)
    user_id = creator_id(sub) if sub is not None else None
    if sub is None or user_id is None:
        return False
    guild = client.get_guild(sub.guild_id) if sub.guild_id else None
    server = f"the server **{escape(guild.name, 100)}**" if guild is not None else f"server {sub.guild_id}"
    try:
        channel = await client.http.request(
            Route("POST", "/users/@me/channels"), json={"recipient_id": user_id}
        )
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=int(channel["id"]))
        await client.http.request(
            route, json={"content": dm_text(sub, server, reason, every), "allowed_mentions": {"parse": []}}
        )
    except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
        # 50007: the member does not accept DMs from this bot, or shares no server with it.
        log.info(
            "could not DM user %d about paused subscription %d (%r); the next command reply will say it",
            user_id,
            sub.id,
            exc,
            extra={"subscription_id": sub.id},
        )
        return False
    await adb.call(subscriptions.mark_pause_unseen, sub.id, False)
    log.info("told user %d by DM that subscription %d is paused", user_id, sub.id)
    return True
