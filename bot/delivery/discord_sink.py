"""The Discord sink: post alert embeds to channels, idempotently, and handle broken targets."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.delivery.additions import build_story_edit
from bot.delivery.embed import build_message, escape
from bot.delivery.pause_notice import tell_creator
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import DeliveryError
from bot.storage import subscriptions
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)


class DiscordSink:
    """Post alerts with discord.py's HTTP client (its rate limiter and 429 handling included).

    Each message carries a nonce derived from (item, channel) with enforce_nonce, so a retry
    after a crash or a timeout returns the message Discord already created instead of a second one.
    A 403 or 404 is a problem of the target, not of the alert: the subscription is paused (its
    alerts wait), the server is told once, and delivery is retried after `pause`.
    """

    kind = "discord"

    def __init__(
        self,
        client: discord.Client,
        adb: AsyncDatabase,
        *,
        clock: Clock = utcnow,
        pause: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._adb = adb
        self._clock = clock
        self._pause = pause
        # Subscriptions paused by this process, so the rest of a backlog waits without a post each:
        # Discord bans clients that make too many invalid (401/403/429) requests.
        self._paused_until: dict[int, datetime] = {}

    async def send(self, alert: PendingAlert) -> str | None:
        """Post one alert; return the Discord message id."""
        return await self.post(alert, build_message(alert))

    async def post(self, alert: PendingAlert, payload: dict[str, Any]) -> str:
        """Post one message (one alert, a batch or a digest) to the alert's channel; return its id.

        `alert` stands for the whole message: a refused channel pauses its subscription.
        """
        if self._client.http.token is None:
            raise DeliveryError("not logged in to Discord yet", retry_after=5)
        until = self._paused_until.get(alert.subscription_id)
        if until is not None and self._clock() < until:
            wait = (until - self._clock()).total_seconds()
            raise DeliveryError(f"subscription {alert.subscription_id} is paused", retry_after=wait)
        channel_id = int(alert.target.split(":", 1)[1])
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        body = payload
        story = alert.story
        if story is not None and story.first_status != "failed":
            # A later copy of a story edits the story's first alert instead of posting again.
            if story.first_status != "sent" or story.first_external_id is None:
                raise DeliveryError("waiting for the story's first alert", retry_after=5)
            route = Route(
                "PATCH",
                "/channels/{channel_id}/messages/{message_id}",
                channel_id=channel_id,
                message_id=int(story.first_external_id),
            )
            body = build_story_edit(story)
        try:
            try:
                message = await self._client.http.request(route, json=body)
            except discord.NotFound as exc:
                if route.method != "PATCH" or exc.code != 10008:
                    raise
                # The story's first alert was deleted: this copy becomes an alert of its own.
                route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
                message = await self._client.http.request(route, json=build_message(alert))
        except discord.Forbidden as exc:
            await self._target_problem(
                alert, "regwatch lacks permission to post there (needs Send Messages and Embed Links)"
            )
            raise DeliveryError(f"403 Forbidden in channel {channel_id}: {exc.text}", refused=True) from exc
        except discord.NotFound as exc:
            await self._target_problem(alert, "the channel no longer exists or regwatch cannot see it")
            raise DeliveryError(f"404 Not Found for channel {channel_id}: {exc.text}", refused=True) from exc
        except discord.RateLimited as exc:
            raise DeliveryError("Discord rate limit", retry_after=exc.retry_after, refused=True) from exc
        except discord.DiscordServerError as exc:
            raise DeliveryError(f"Discord server error {exc.status}") from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise DeliveryError(
                    "Discord rate limit (429 without retry information)", retry_after=60, refused=True
                ) from exc
            # Any other 4xx means the payload itself is refused: retrying cannot help.
            raise DeliveryError(
                f"Discord refused the alert: HTTP {exc.status} {exc.text}", permanent=True
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"could not reach Discord: {exc!r}") from exc
        self._paused_until.pop(alert.subscription_id, None)
        if alert.subscription_paused:
            await self._adb.call(subscriptions.set_paused, alert.subscription_id, None)
            await self._adb.call(subscriptions.mark_pause_unseen, alert.subscription_id, False)
            log.info(
                "subscription %d resumed: posting to %s works again",
                alert.subscription_id,
                alert.target,
                extra={"subscription_id": alert.subscription_id, "alert_id": alert.id},
            )
        return str(message["id"])

    async def _target_problem(self, alert: PendingAlert, reason: str) -> None:
        until = self._clock() + self._pause
        self._paused_until[alert.subscription_id] = until
        changed = await self._adb.call(subscriptions.set_paused, alert.subscription_id, reason, until)
        log.warning(
            "subscription %d paused: %s (%s)",
            alert.subscription_id,
            reason,
            alert.target,
            extra={"subscription_id": alert.subscription_id, "alert_id": alert.id},
        )
        if changed:
            if alert.guild_id:
                # Told by DM to the member who made it; else in the next command reply in that server.
                await self._adb.call(subscriptions.mark_pause_unseen, alert.subscription_id, True)
                await tell_creator(self._client, self._adb, alert, reason, self._pause)
            await self._notify(alert, reason)

    async def _notify(self, alert: PendingAlert, reason: str) -> None:
        """Tell the server once, where the subscription was made, else in its system channel."""
        channel_id = alert.target.split(":", 1)[1]
        text = (
            f"regwatch could not post alerts for subscription {alert.subscription_id} to <#{channel_id}>: "
            f"{reason}. Its alerts are kept and delivery is retried every "
            f"{int(self._pause.total_seconds() // 60)} minutes; fix the channel's permissions, or remove it "
            f"with /watch remove id:{alert.subscription_id}."
        )
        candidates: list[int] = []
        if alert.origin_channel_id and str(alert.origin_channel_id) != channel_id:
            candidates.append(alert.origin_channel_id)
        guild = self._client.get_guild(alert.guild_id) if alert.guild_id else None
        system = guild.system_channel if guild is not None else None
        if system is not None and str(system.id) != channel_id and system.id not in candidates:
            candidates.append(system.id)
        for candidate in candidates:
            route = Route("POST", "/channels/{channel_id}/messages", channel_id=candidate)
            try:
                await self._client.http.request(
                    route, json={"content": text, "allowed_mentions": {"parse": []}}
                )
                return
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                log.warning(
                    "could not notify channel %s about subscription %d: %r",
                    candidate,
                    alert.subscription_id,
                    exc,
                )
        log.warning("no channel to tell about subscription %d; shown in /watch list", alert.subscription_id)


async def post_guild_notice(
    client: discord.Client, guild_id: int, text: str, *, own_markdown: bool = False
) -> bool:
    """Post a notice in a server: its system channel, else the first text channel regwatch may post in.

    The text is escaped (it may hold a source's name and its server's error), unless
    `own_markdown` says it is regwatch's own fixed text with deliberate markdown (the welcome).
    """
    guild = client.get_guild(guild_id)
    if guild is None:
        return False
    candidates = [guild.system_channel] if guild.system_channel is not None else []
    me = guild.me
    candidates += [
        channel
        for channel in sorted(guild.text_channels, key=lambda c: c.position)
        if me is not None and channel.permissions_for(me).send_messages and channel not in candidates
    ]
    for channel in candidates:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
        try:
            # A notice holding a source's name and its server's error is shown literally.
            content = text[:2000] if own_markdown else escape(text, 2000)
            await client.http.request(route, json={"content": content, "allowed_mentions": {"parse": []}})
            return True
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            log.warning("could not post a notice in channel %s of server %d: %r", channel.id, guild_id, exc)
    return False
