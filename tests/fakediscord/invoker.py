"""Build INTERACTION_CREATE payloads from the synced schema, as a member's Discord client would."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from tests.fakediscord import payloads
from tests.fakediscord.commands import CommandRegistry
from tests.fakediscord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    InteractionRecord,
    InteractionStore,
)
from tests.fakediscord.options import OptionBuilder, find_leaf, nest
from tests.fakediscord.world import Channel, Guild, Permission, World

JSON = dict[str, Any]
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class CommandUnavailable(Exception):
    """Discord's client would not offer this command to this member (not synced, or no permission)."""


class ComponentUnavailable(Exception):
    """A member's Discord client would show no such enabled button on that message."""


class Invoker:
    """Turn "member M runs /watch vendor name:X in channel C" into a recorded interaction payload."""

    def __init__(self, world: World, commands: CommandRegistry, interactions: InteractionStore) -> None:
        self.world = world
        self.commands = commands
        self.interactions = interactions

    def build(
        self,
        command: str,
        path: list[str],
        options: Mapping[str, Any],
        *,
        guild: Guild,
        channel: Channel,
        user_id: int,
        locale: str,
        permission_override: bool,
        focused: str | None,
    ) -> InteractionRecord:
        """Check the command and options against the synced schema and record the interaction."""
        schema = self.commands.find(command, guild.id)
        if schema is None:
            names = self.commands.names()
            raise CommandUnavailable(f"/{command} is not synced for guild {guild.id}; synced: {names}")
        perms = self.world.permissions(guild, user_id, channel)
        _check_default_permissions(schema, perms, permission_override)
        leaf, chain = find_leaf(schema, path)
        builder = OptionBuilder(self.world, guild, channel, user_id)
        leaf_options = builder.build(leaf, options, focused=focused)
        data: JSON = {"id": schema["id"], "name": command, "type": 1, "options": nest(chain, leaf_options)}
        if "guild_id" in schema:
            # discord.py looks the command up among guild commands only when data.guild_id is set.
            data["guild_id"] = schema["guild_id"]
        if builder.resolved:
            data["resolved"] = builder.resolved
        kind = AUTOCOMPLETE if focused else APPLICATION_COMMAND
        return self._record(kind, " ".join([command, *path]), data, guild, channel, user_id, perms, locale)

    def component(self, message: JSON, custom_id: str, *, user_id: int, locale: str) -> InteractionRecord:
        """Record a press on an enabled button of a message, as a member's Discord client sends it."""
        found = self.world.find_channel(int(message["channel_id"]))
        if found is None:
            raise ComponentUnavailable(f"message {message['id']} is in no known channel")
        guild, channel = found
        buttons = [c for row in message.get("components") or [] for c in row.get("components") or []]
        button = next((b for b in buttons if b.get("custom_id") == custom_id), None)
        if button is None or button.get("disabled"):
            shown = [(b.get("custom_id"), b.get("disabled", False)) for b in buttons]
            raise ComponentUnavailable(f"no enabled button {custom_id!r} on message {message['id']}: {shown}")
        perms = self.world.permissions(guild, user_id, channel)
        data: JSON = {"custom_id": custom_id, "component_type": button["type"]}
        record = self._record(MESSAGE_COMPONENT, custom_id, data, guild, channel, user_id, perms, locale)
        record.payload["message"] = dict(message)
        record.message_id = int(message["id"])
        return record

    def _record(
        self,
        kind: int,
        name: str,
        data: JSON,
        guild: Guild,
        channel: Channel,
        user_id: int,
        perms: int,
        locale: str,
    ) -> InteractionRecord:
        interaction_id, token = self.world.ids.next(), secrets.token_urlsafe(48)
        bot_perms = self.world.permissions(guild, self.world.bot.id, channel)
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.world.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
            "channel_id": str(channel.id),
            "channel": {**payloads.channel(channel), "permissions": str(perms)},
            "member": payloads.member(guild.members[user_id], permissions=perms),
            "token": token,
            "version": 1,
            "app_permissions": str(bot_perms),
            "locale": locale,
            "guild_locale": guild.locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        created = self.interactions.clock()
        record = InteractionRecord(
            interaction_id, token, kind, name, guild.id, channel.id, user_id, created, payload
        )
        self.interactions.add(record)
        return record


def _check_default_permissions(schema: JSON, perms: int, override: bool) -> None:
    required = schema.get("default_member_permissions")
    if required is None or override:
        return
    bits = int(required)
    # "0" hides the command from everyone but administrators.
    allowed = perms & Permission.ADMINISTRATOR if bits == 0 else perms & bits == bits
    if not allowed:
        raise CommandUnavailable(
            f"/{schema['name']} needs permissions {bits}; Discord would not offer it "
            "(pass permission_override=True to act as a server that granted it anyway)"
        )
