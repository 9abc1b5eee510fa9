"""Per-channel delivery by webhook: which channels post alerts through a webhook, and as whom.

The webhook itself is created and deleted in Discord by the chat layer (it needs the bot's
Manage Webhooks permission there); this service checks the name and avatar a person chose and
keeps the setting (storage/webhooks.py), audited like every other setting.
"""

from __future__ import annotations

import re

from bot.domain.clock import Clock, utcnow
from bot.services.guild import UserError
from bot.storage import webhooks
from bot.storage.db import AsyncDatabase
from bot.storage.webhooks import ChannelWebhook

__all__ = ["DEFAULT_NAME", "ChannelWebhook", "WebhookService"]

DEFAULT_NAME = "regwatch"
NAME_MAX = 80  # Discord's limit for a webhook's name and an execute's username
_AVATAR_URL = re.compile(r"https://[^\s<>\"'`\\\x00-\x1f\x7f]{1,2000}")


def check_profile(name: str, avatar_url: str | None) -> tuple[str, str | None]:
    """Return the name and avatar URL the alerts will show, or raise UserError saying what is wrong."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= NAME_MAX:
        raise UserError(f"the webhook's name must be 1 to {NAME_MAX} characters")
    if "clyde" in name.casefold() or "discord" in name.casefold():
        raise UserError('Discord refuses webhook names containing "discord" or "clyde"; choose another name')
    if avatar_url is not None:
        avatar_url = avatar_url.strip()
        if not _AVATAR_URL.fullmatch(avatar_url):
            raise UserError("the avatar must be an https:// URL of an image (PNG, JPEG, GIF or WebP)")
    return name, avatar_url or None


class WebhookService:
    """Turn delivery by webhook on or off for a channel of a server."""

    def __init__(self, adb: AsyncDatabase, *, clock: Clock = utcnow) -> None:
        self._adb = adb
        self._clock = clock

    async def current(self, channel_id: int) -> ChannelWebhook | None:
        """Return the webhook a channel's alerts go through, if any."""
        return await self._adb.call(webhooks.get, f"discord:{channel_id}")

    async def enable(
        self,
        guild_id: int,
        channel_id: int,
        webhook_id: int,
        token: str,
        name: str,
        avatar_url: str | None,
        user_id: int,
    ) -> ChannelWebhook | None:
        """Post a channel's alerts through this (new) webhook; return the one it replaces, if any."""
        name, avatar_url = check_profile(name, avatar_url)
        hook = ChannelWebhook(f"discord:{channel_id}", webhook_id, token, name, avatar_url)
        return await self._adb.call(webhooks.enable, guild_id, hook, f"discord:{user_id}", self._clock())

    async def disable(self, guild_id: int, channel_id: int, user_id: int) -> ChannelWebhook | None:
        """Post a channel's alerts as the bot again; return the webhook it used, if any."""
        return await self._adb.call(
            webhooks.disable, guild_id, f"discord:{channel_id}", f"discord:{user_id}", self._clock()
        )
