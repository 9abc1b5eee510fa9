"""Ephemeral replies and text helpers shared by the command groups."""

from __future__ import annotations

from typing import Any

import discord

from bot.delivery.embed import discord_head, discord_len, escape, plain_url
from bot.domain.errors import QueryError
from bot.domain.safetext import UNSAFE, terminal

REPLY_MAX = 2000  # Discord's message content limit


async def reply(
    interaction: discord.Interaction[discord.Client], text: str, *, view: discord.ui.View | None = None
) -> None:
    """Answer ephemerally, whether or not the interaction was deferred (with buttons when given).

    A subscription paused since the last reply in this server (regwatch lost a channel's
    permission) is announced first: whoever runs a command there is likely its admin.
    """
    service = getattr(interaction.client, "service", None)
    if interaction.guild_id is not None and service is not None and hasattr(service, "pause_notices"):
        notes = await service.pause_notices(interaction.guild_id)
        if notes:
            text = "\n".join(notes) + "\n\n" + text
    text = text if discord_len(text) <= REPLY_MAX else discord_head(text, REPLY_MAX - 1) + "…"
    extra: dict[str, Any] = {"view": view} if view is not None else {}
    mentions = discord.AllowedMentions.none()
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions, **extra)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions, **extra)


def code(text: str) -> str:
    """Show text as inline code (a backtick inside would end it, so it becomes a quote)."""
    return "`" + terminal(text, 500).replace("`", "'") + "`"


def query_error_text(query: str, exc: QueryError) -> str:
    """Show a query error with its position under the query."""
    # Unsafe characters go, one for one, so the caret still points at the right place.
    shown = UNSAFE.sub(" ", query).replace("`", "'")[:300]
    caret = " " * min(exc.position, 300) + "^"
    return f"That query is not valid: {exc.reason} (position {exc.position + 1}).\n```\n{shown}\n{caret}\n```"


def linked(title: str, url: str | None, limit: int = 120) -> str:
    """Show an item's untrusted title literally, linked to its URL (without a preview) when safe."""
    shown = escape(title or "(untitled)", limit)
    return f"[{shown}](<{url}>)" if plain_url(url) else shown


def url_text(url: str) -> str:
    """Show a URL as a link without a preview when it is plain, else as escaped text."""
    return f"<{url}>" if plain_url(url) else escape(url, 500)


# Room kept on each page for the page line and an announcement of a paused subscription.
_PAGE_ROOM = 400


def pages(lines: list[str], head: str = "", *, limit: int = REPLY_MAX - _PAGE_ROOM) -> list[str]:
    """Split list lines into pages that each fit one reply; a line is never split across pages."""
    out: list[str] = []
    current: list[str] = [head] if head else []
    for raw in lines:
        line = raw if discord_len(raw) <= limit // 2 else discord_head(raw, limit // 2 - 1) + "…"
        if current and discord_len("\n".join([*current, line])) > limit:
            out.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        out.append("\n".join(current))
    return out or [head]
