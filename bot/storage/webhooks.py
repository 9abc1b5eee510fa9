"""Channel webhooks: a channel whose alerts go out through a webhook, under a custom name and avatar.

Stored on the channel's `channel_settings` row. The webhook token lets anyone holding it post in
the channel, so it never leaves the database (logs and replies show the webhook's id only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bot.storage.triage import audit


@dataclass(frozen=True, slots=True)
class ChannelWebhook:
    """The webhook a channel's alerts are posted through, and the name and avatar they show."""

    target: str  # discord:CHANNEL_ID
    webhook_id: int
    token: str
    name: str
    avatar_url: str | None

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"ChannelWebhook(target={self.target!r}, webhook_id={self.webhook_id}, name={self.name!r})"


def get(db: Database, target: str) -> ChannelWebhook | None:
    """Return the webhook of a channel, or None when its alerts are posted by the bot itself."""
    row = db.execute(
        "SELECT webhook_id, webhook_token, webhook_name, webhook_avatar_url FROM channel_settings"
        " WHERE target = ? AND webhook_id IS NOT NULL",
        (target,),
    ).fetchone()
    if row is None:
        return None
    return ChannelWebhook(target, int(row[0]), str(row[1]), str(row[2]), row[3])


def enable(
    db: Database, guild_id: int | None, hook: ChannelWebhook, actor: str, now: datetime
) -> ChannelWebhook | None:
    """Post a channel's alerts through this webhook from now on; return the one it replaces, if any."""
    with db.atomic():
        old = get(db, hook.target)
        db.execute(
            "INSERT INTO channel_settings (target, guild_id, webhook_id, webhook_token, webhook_name,"
            " webhook_avatar_url) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(target) DO UPDATE SET"
            " webhook_id = excluded.webhook_id, webhook_token = excluded.webhook_token,"
            " webhook_name = excluded.webhook_name, webhook_avatar_url = excluded.webhook_avatar_url",
            (hook.target, guild_id, hook.webhook_id, hook.token, hook.name, hook.avatar_url),
        )
        audit(
            db,
            now,
            "settings.webhook",
            guild_id=guild_id,
            actor=actor,
            target=hook.target,
            detail=f"enabled: webhook {hook.webhook_id} as {hook.name}",
        )
    return old


def disable(
    db: Database, guild_id: int | None, target: str, actor: str, now: datetime, *, reason: str = "disabled"
) -> ChannelWebhook | None:
    """Post a channel's alerts as the bot again; return the webhook it used, if any."""
    with db.atomic():
        old = get(db, target)
        if old is None:
            return None
        db.execute(
            "UPDATE channel_settings SET webhook_id = NULL, webhook_token = NULL, webhook_name = NULL,"
            " webhook_avatar_url = NULL WHERE target = ?",
            (target,),
        )
        audit(db, now, "settings.webhook", guild_id=guild_id, actor=actor, target=target, detail=reason)
    return old
