"""Application commands as the bot synced them: the only schema the fake invokes against."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakediscord.world import World

JSON = dict[str, Any]
CHAT_INPUT = 1


class CommandRegistry:
    """Global and per-guild command lists, replaced wholesale by each bulk overwrite (PUT)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.scopes: dict[int | None, list[JSON]] = {}
        # Discord keeps a command's id across overwrites as long as its name and type stay the same.
        self._ids: dict[tuple[int | None, str, int], int] = {}

    def overwrite(self, guild_id: int | None, body: list[JSON]) -> list[JSON]:
        """Store a bulk overwrite for a scope (None: global) and return the stored commands."""
        stored = []
        for command in body:
            kind = command.get("type", CHAT_INPUT)
            command_id = self._ids.setdefault((guild_id, command["name"], kind), self.world.ids.next())
            item: JSON = {
                "type": kind,
                "default_member_permissions": None,
                "contexts": None,
                "integration_types": [0],
                "nsfw": False,
                "name_localizations": None,
                "description_localizations": None,
                **copy.deepcopy(command),
                "id": str(command_id),
                "application_id": str(self.world.application_id),
                "version": str(self.world.ids.next()),
            }
            if item["default_member_permissions"] is not None:
                # Clients may send an integer; Discord stores and returns a string.
                item["default_member_permissions"] = str(int(item["default_member_permissions"]))
            if guild_id is not None:
                item["guild_id"] = str(guild_id)
            stored.append(item)
        self.scopes[guild_id] = stored
        return copy.deepcopy(stored)

    def in_scope(self, guild_id: int | None) -> list[JSON]:
        """Return the commands of a scope."""
        return copy.deepcopy(self.scopes.get(guild_id, []))

    def find(self, name: str, guild_id: int | None) -> JSON | None:
        """Return the chat-input command a member of this guild would see, guild commands first."""
        for scope in (guild_id, None) if guild_id is not None else (None,):
            for command in self.scopes.get(scope, []):
                if command["name"] == name and command["type"] == CHAT_INPUT:
                    return command
        return None

    def names(self) -> list[str]:
        """Return every synced command name with its scope, for error messages."""
        return [
            f"{c['name']} ({'global' if s is None else f'guild {s}'})"
            for s, cs in self.scopes.items()
            for c in cs
        ]
