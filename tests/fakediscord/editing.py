"""Changes to the world while the bot runs, each announced over the gateway as Discord would."""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakediscord import payloads
from tests.fakediscord.gateway import Gateway
from tests.fakediscord.world import TEXT_CHANNEL, Channel, Guild, Member, Overwrite, Role, World

GUILDS_INTENT, GUILD_MEMBERS_INTENT = 1 << 0, 1 << 1


class WorldEdits:
    """Mixin for FakeDiscord: add guilds, channels, roles and members; change overwrites; remove things."""

    world: World
    gateway: Gateway
    guild: Guild

    def add_guild(self, name: str = "Another Server", *, channel_name: str | None = "general") -> Guild:
        """Add a guild the bot joins now (GUILD_CREATE of a new guild reaches a connected bot)."""
        guild = self.world.add_guild(name, channel_name=channel_name)
        payload = payloads.guild_create(guild, self.world)
        # Discord leaves `unavailable` out when the bot joins a new guild (it is false only when a
        # known guild becomes available again); discord.py tells on_guild_join by that.
        del payload["unavailable"]
        self.gateway.dispatch("GUILD_CREATE", payload, intent=GUILDS_INTENT)
        return guild

    def add_channel(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        type: int = TEXT_CHANNEL,
        overwrites: Iterable[Overwrite] = (),
    ) -> Channel:
        """Add a channel (default guild unless told otherwise)."""
        channel = self.world.add_channel(guild_id or self.guild.id, name, type=type, overwrites=overwrites)
        self.gateway.dispatch("CHANNEL_CREATE", payloads.channel(channel), intent=GUILDS_INTENT)
        return channel

    def add_role(
        self, name: str, permissions: int = 0, *, guild_id: int | None = None, mentionable: bool = True
    ) -> Role:
        """Add a role (default guild unless told otherwise)."""
        gid = guild_id or self.guild.id
        role = self.world.add_role(gid, name, permissions, mentionable=mentionable)
        self._announce_role(gid, role)
        return role

    def add_member(
        self,
        name: str,
        *,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        guild_id: int | None = None,
        user_id: int | None = None,
    ) -> Member:
        """Add a member; `permissions` gives them a role of their own with exactly those bits."""
        gid = guild_id or self.guild.id
        known = set(self.world.guilds[gid].roles)
        member = self.world.add_member(gid, name, permissions=permissions, roles=roles, user_id=user_id)
        for role_id in set(member.role_ids) - known:
            self._announce_role(gid, self.world.guilds[gid].roles[role_id])
        data = {**payloads.member(member), "guild_id": str(gid)}
        self.gateway.dispatch("GUILD_MEMBER_ADD", data, intent=GUILD_MEMBERS_INTENT)
        return member

    def set_overwrite(self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0) -> None:
        """Set a channel overwrite for a role or a member (e.g. deny the bot Send Messages)."""
        guild, channel = self._find_channel(channel_id)
        kind = 1 if target_id in guild.members else 0
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id]
        channel.overwrites.append(Overwrite(target_id, kind, int(allow), int(deny)))
        self.gateway.dispatch("CHANNEL_UPDATE", payloads.channel(channel), intent=GUILDS_INTENT)

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel; posting to it then gives 404 Unknown Channel."""
        guild, channel = self._find_channel(channel_id)
        del guild.channels[channel_id]
        self.gateway.dispatch("CHANNEL_DELETE", payloads.channel(channel), intent=GUILDS_INTENT)

    def remove_bot_from_guild(self, guild_id: int) -> None:
        """Kick the bot from a guild (GUILD_DELETE); its channels then answer 404."""
        del self.world.guilds[guild_id].members[self.world.bot.id]
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild_id)}, intent=GUILDS_INTENT)

    def _announce_role(self, guild_id: int, role: Role) -> None:
        data = {"guild_id": str(guild_id), "role": payloads.role(role)}
        self.gateway.dispatch("GUILD_ROLE_CREATE", data, intent=GUILDS_INTENT)

    def _find_channel(self, channel_id: int) -> tuple[Guild, Channel]:
        found = self.world.find_channel(channel_id)
        if found is None:
            raise KeyError(f"no channel {channel_id}")
        return found
