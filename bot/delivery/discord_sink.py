"""The Discord sink: post alert embeds to channels (as the bot or a webhook), idempotently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.delivery.additions import build_story_edit, is_digest
from bot.delivery.batch import DigestText, digest_payloads
from bot.delivery.embed import build_message, escape
from bot.delivery.pause_notice import tell_creator
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import DeliveryError
from bot.failpoints import failpoint
from bot.storage import outbox, subscriptions, triage, webhooks
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert
from bot.storage.webhooks import ChannelWebhook

log = logging.getLogger(__name__)


def _channel_id(alert: PendingAlert) -> int:
    return int(alert.target.split(":", 1)[1])


# What a request to Discord can raise besides a programming error (RateLimited is no HTTPException).
_FAILURES = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError, TimeoutError)
PAGES_SEARCHED = 3  # pages of 100 recent messages looked through for an alert posted before a crash


def _custom_ids(components: Any) -> list[str]:
    """Return the custom ids of a message's buttons, row by row."""
    found: list[str] = []
    for row in components if isinstance(components, list) else []:
        for component in row.get("components", []) if isinstance(row, dict) else []:
            if isinstance(component, dict) and isinstance(component.get("custom_id"), str):
                found.append(component["custom_id"])
    return found


def same_message(message: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Tell whether a message in the channel is the one this payload makes.

    An alert message is known by its first button's custom id, which carries its first alert's id
    (`rw:ack:<id>`); a digest (no buttons) by its content and embed titles, which name the
    subscription, the alerts' count, the period and the part.
    """
    wanted = _custom_ids(payload.get("components"))
    if wanted:
        return wanted[0] in _custom_ids(message.get("components"))
    titles = [e.get("title") for e in payload.get("embeds", [])]
    return (
        message.get("content") == payload.get("content")
        and [e.get("title") for e in message.get("embeds", [])] == titles
    )


class DiscordSink:
    """Post alerts with discord.py's HTTP client (its rate limiter and 429 handling included).

    A channel posts as the bot, or through its own webhook (`/settings webhook`, storage/webhooks.py)
    under a custom name and avatar. Either way a re-send after a crash or a timeout must not post
    twice. As the bot, each message carries a nonce derived from (item, channel) with enforce_nonce,
    so Discord returns the message it already made. A webhook execute carries no nonce: before
    re-sending a message whose alerts were composed into it before (their saved nonce is the
    attempt marker, written before the first POST), the sink looks for it among the channel's
    recent messages by its buttons' custom id and records it instead of posting again.
    A 403 or 404 is a problem of the target, not of the alert: the subscription is paused (its
    alerts wait), the server is told once, and delivery is retried after `pause`.
    """

    kind = "discord"
    batches = True  # a channel's alerts are packed into messages under its rate cap

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
        return await self._post([alert], build_message(alert))

    async def send_batch(self, alerts: Sequence[PendingAlert], payload: dict[str, Any]) -> str | None:
        """Post one message carrying these alerts; return its id."""
        return await self._post(alerts, payload)

    async def send_digest(
        self, alerts: Sequence[PendingAlert], digest: DigestText, roles: list[int]
    ) -> list[str]:
        """Post a digest: one message when it fits, else numbered parts; return their ids."""
        payloads = digest_payloads(digest, alerts[0].target, [a.id for a in alerts], roles)
        posted = []
        for payload in payloads:
            posted.append(await self._post(alerts, payload))
            failpoint("after_digest_post")
        return posted

    async def add_to_story(self, alert: PendingAlert) -> str | None:
        """Edit the story's first alert to list this copy; if that message is gone, post this one."""
        story = alert.story
        assert story is not None
        self._check_ready(alert)
        if story.first_external_id is None:
            raise DeliveryError("waiting for the story's first alert", retry_after=5)
        channel_id = _channel_id(alert)
        message_id = int(story.first_external_id)
        hook = await self._adb.call(webhooks.get, alert.target)
        routes = [Route("PATCH", "/channels/{channel_id}/messages/{message_id}", channel_id=channel_id,
                        message_id=message_id)]  # fmt: skip
        if hook is not None:
            # Only the webhook may edit what it posted (the first alert went out either way).
            routes.insert(0, Route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                                   webhook_id=hook.webhook_id, webhook_token=hook.token,
                                   message_id=message_id))  # fmt: skip
        # The message as it stands now (under the channel's lease): its every alert and every copy.
        shown = await self._adb.call(outbox.story_message, alert)
        if is_digest(shown, story.first):
            # A digest is not re-rendered as alerts: the copy goes out as an alert of its own.
            return await self._post([alert], build_message(alert), look_first=True)
        compact = await self._adb.call(triage.embed_style, alert.target) == "compact"
        body = build_story_edit(shown, compact=compact)
        for route in routes:
            try:
                message = await self._client.http.request(route, json=body)
            except discord.NotFound as exc:
                if exc.code not in (10008, 10015):  # unknown message (deleted, or not this author's)
                    raise await self._failure(alert, channel_id, exc) from exc
                continue
            except discord.Forbidden as exc:
                if exc.code != 50005:  # "a message authored by another user": the webhook posted it
                    raise await self._failure(alert, channel_id, exc) from exc
                continue
            except _FAILURES as exc:
                raise await self._failure(alert, channel_id, exc) from exc
            await self._resumed(alert)
            return str(message["id"])
        # The story's first alert was deleted: this copy becomes an alert of its own. No marker was
        # saved for it, so a webhook looks first (this path is rare; a crash may have posted it).
        return await self._post([alert], build_message(alert), look_first=True)

    def _check_ready(self, alert: PendingAlert) -> None:
        if self._client.http.token is None:
            raise DeliveryError("not logged in to Discord yet", retry_after=5)
        until = self._paused_until.get(alert.subscription_id)
        if until is not None and self._clock() < until:
            wait = (until - self._clock()).total_seconds()
            raise DeliveryError(f"subscription {alert.subscription_id} is paused", retry_after=wait)

    async def _post(
        self, alerts: Sequence[PendingAlert], payload: dict[str, Any], *, look_first: bool = False
    ) -> str:
        """Post one message (one alert, a batch or a digest part) to the alerts' channel; return its id.

        The first alert stands for the whole message: a refused channel pauses its subscription.
        """
        alert = alerts[0]
        self._check_ready(alert)
        channel_id = _channel_id(alert)
        hook = await self._adb.call(webhooks.get, alert.target)
        try:
            if hook is None:
                route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
                message = await self._client.http.request(route, json=payload)
            else:
                # Composed into a message before: it may be in the channel already.
                maybe_posted = look_first or any(a.message_nonce is not None for a in alerts)
                found = await self._find_posted(channel_id, payload, hook) if maybe_posted else None
                message = found or await self._execute(alert, channel_id, hook, payload)
        except _FAILURES as exc:
            raise await self._failure(alert, channel_id, exc) from exc
        await self._resumed(alert)
        return str(message["id"])

    async def _execute(
        self, alert: PendingAlert, channel_id: int, hook: ChannelWebhook, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Post through the channel's webhook with ?wait=true (the answer is the message)."""
        body = {k: v for k, v in payload.items() if k not in ("nonce", "enforce_nonce")}
        body["username"] = hook.name
        if hook.avatar_url:
            body["avatar_url"] = hook.avatar_url
        route = Route(
            "POST",
            "/webhooks/{webhook_id}/{webhook_token}",
            webhook_id=hook.webhook_id,
            webhook_token=hook.token,
        )
        try:
            message: dict[str, Any] = await self._client.http.request(
                route, json=body, params={"wait": "true"}
            )
            return message
        except discord.NotFound as exc:
            if exc.code != 10015:
                raise
        # Unknown Webhook: someone deleted it in Discord. Nothing was posted; the bot posts from now on.
        await self._adb.call(
            webhooks.disable, alert.guild_id, alert.target, "regwatch", self._clock(),
            reason=f"webhook {hook.webhook_id} was deleted in Discord; posting as the bot",
        )  # fmt: skip
        log.warning(
            "the webhook of channel %d was deleted in Discord; alerts there are posted by the bot again",
            channel_id,
            extra={"alert_id": alert.id, "subscription_id": alert.subscription_id},
        )
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        posted: dict[str, Any] = await self._client.http.request(route, json=payload)
        return posted

    async def _find_posted(
        self, channel_id: int, payload: dict[str, Any], hook: ChannelWebhook
    ) -> dict[str, Any] | None:
        """Return the message this payload made before (by the webhook or the bot), if it is recent."""
        me = self._client.user.id if self._client.user is not None else None
        before: int | None = None
        for _ in range(PAGES_SEARCHED):
            try:
                page = await self._client.http.logs_from(channel_id, 100, before=before)
            except discord.Forbidden:
                log.warning(
                    "cannot read the history of channel %d (regwatch needs Read Message History there):"
                    " re-sending an alert that may already be posted",
                    channel_id,
                )
                return None
            for message in page:
                ours = str(message.get("webhook_id")) == str(hook.webhook_id) or (
                    me is not None and message.get("author", {}).get("id") == str(me)
                )
                if ours and same_message(dict(message), payload):
                    log.info(
                        "message %s was posted before a restart; recorded, not posted again", message["id"]
                    )
                    return dict(message)
            if len(page) < 100:
                return None
            before = min(int(m["id"]) for m in page)
        return None

    async def _resumed(self, alert: PendingAlert) -> None:
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

    async def _failure(self, alert: PendingAlert, channel_id: int, exc: BaseException) -> DeliveryError:
        """Return the DeliveryError for what Discord (or the network) answered; pause a broken target."""
        if isinstance(exc, discord.Forbidden):
            await self._target_problem(
                alert, "regwatch lacks permission to post there (needs Send Messages and Embed Links)"
            )
            return DeliveryError(f"403 Forbidden in channel {channel_id}: {exc.text}", refused=True)
        if isinstance(exc, discord.NotFound):
            await self._target_problem(alert, "the channel no longer exists or regwatch cannot see it")
            return DeliveryError(f"404 Not Found for channel {channel_id}: {exc.text}", refused=True)
        if isinstance(exc, discord.RateLimited):
            return DeliveryError("Discord rate limit", retry_after=exc.retry_after, refused=True)
        if isinstance(exc, discord.DiscordServerError):
            return DeliveryError(f"Discord server error {exc.status}")
        if isinstance(exc, discord.HTTPException):
            if exc.status == 429:
                return DeliveryError(
                    "Discord rate limit (429 without retry information)", retry_after=60, refused=True
                )
            # Any other 4xx means the payload itself is refused: retrying cannot help.
            return DeliveryError(f"Discord refused the alert: HTTP {exc.status} {exc.text}", permanent=True)
        return DeliveryError(f"could not reach Discord: {exc!r}")

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
