"""Command errors in plain words: the one mapping from an exception to a reply.

A slash command does not catch errors: what it cannot do it raises (UserError and its kinds from
bot/services, QueryError from the query parser), and a member without Manage Server fails the
`manage_server` check. The client's one error handler (bot/chat/client.py) asks `error_reply` for
the words and answers ephemerally; anything else is logged and answered with an apology.

A command may set, in its `extras`:
- `manage_purpose`: what Manage Server is needed for ("to preview queries ...");
- `error_prefix`: put before the error, which is then shown escaped; fetch and parse errors of
  a URL the member gave are shown too (/source add: "Could not add that source: ...").
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.chat.replies import query_error_text
from bot.delivery.embed import escape
from bot.domain.errors import FetchError, ParseError, QueryError, UserError

# The Manage Server check every command that changes what a server watches carries. Discord's own
# command permissions can be overridden by a server's admins, so the bot checks again itself.
manage_server = app_commands.checks.has_permissions(manage_guild=True)

DIRECT_MESSAGE = "regwatch commands work inside a server, not in direct messages."
MANAGE_PURPOSE = "to change what this server watches"


def sentence(text: str) -> str:
    """Return text as a sentence: a capital first letter and a closing full stop."""
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_reply(interaction: discord.Interaction[discord.Client], error: Exception) -> str | None:
    """Return the reply for a command's error, or None when it is not the member's to fix."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    command = interaction.command
    extras: dict[Any, Any] = command.extras if command is not None else {}
    if isinstance(original, app_commands.MissingPermissions):
        if interaction.guild_id is None:
            return DIRECT_MESSAGE
        return f"You need the **Manage Server** permission {extras.get('manage_purpose', MANAGE_PURPOSE)}."
    if isinstance(original, app_commands.NoPrivateMessage):
        return DIRECT_MESSAGE
    if isinstance(original, QueryError):
        query = getattr(interaction.namespace, "query", None)
        return query_error_text(query if isinstance(query, str) else "", original)
    prefix = extras.get("error_prefix")
    if prefix and isinstance(original, UserError | FetchError | ParseError):
        return f"{prefix}{escape(str(original), 1500)}"
    if isinstance(original, UserError):
        return sentence(str(original))
    return None
