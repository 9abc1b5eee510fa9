"""The fake's world: one application, its bot user, guilds with roles, channels and members."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class Permission(enum.IntFlag):
    """The permission bits the fake reasons about (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31


ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_DEFAULT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.ADD_REACTIONS
    | Permission.USE_APPLICATION_COMMANDS
)
# What a typical alert bot's invite grants; no Mention Everyone, like most real installs.
BOT_DEFAULT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_APPLICATION_COMMANDS
)
# Without Send Messages these are useless, so Discord drops them too.
_NEEDS_SEND = (
    Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
)

TEXT_CHANNEL = 0
CATEGORY_CHANNEL = 4
ANNOUNCEMENT_CHANNEL = 5


class Snowflakes:
    """Hand out unique, time-ordered Discord ids."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, greater than every earlier one."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


def now_iso() -> str:
    """Return the current time the way Discord writes timestamps."""
    return datetime.now(UTC).isoformat()


@dataclass
class User:
    """A Discord user; `bot` marks the application's own user."""

    id: int
    name: str
    bot: bool = False


@dataclass
class Role:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    name: str
    permissions: int
    position: int = 0
    mentionable: bool = True
    bot_id: int | None = None


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: int
    type: int = 0
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    """A guild channel (text channels unless told otherwise)."""

    id: int
    guild_id: int
    name: str
    type: int = TEXT_CHANNEL
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    topic: str | None = None
    parent_id: int | None = None
    last_message_id: int | None = None


@dataclass
class Member:
    """A user's membership of one guild."""

    user: User
    role_ids: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=now_iso)


@dataclass
class Guild:
    """A guild with its roles, channels and members."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    system_channel_id: int | None = None
    locale: str = "en-US"

    @property
    def everyone(self) -> Role:
        """Return the @everyone role."""
        return self.roles[self.id]


class World:
    """Everything the fake knows about users, guilds and channels."""

    def __init__(self, ids: Snowflakes, *, bot_name: str = "RegWatch") -> None:
        self.ids = ids
        self.application_id = ids.next()
        self.application_name = bot_name
        self.bot = User(ids.next(), bot_name, bot=True)
        self.app_owner = User(ids.next(), "app-owner")
        self.users: dict[int, User] = {self.bot.id: self.bot, self.app_owner.id: self.app_owner}
        self.guilds: dict[int, Guild] = {}

    def add_user(self, name: str, *, user_id: int | None = None, bot: bool = False) -> User:
        """Create (or return) a user."""
        if user_id is not None and user_id in self.users:
            return self.users[user_id]
        user = User(user_id if user_id is not None else self.ids.next(), name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Server",
        *,
        owner_name: str = "owner",
        channel_name: str | None = "general",
        bot_permissions: int = BOT_DEFAULT,
    ) -> Guild:
        """Create a guild with @everyone, an owner, the bot (with its managed role) and a first channel."""
        owner = self.add_user(owner_name)
        guild = Guild(self.ids.next(), name, owner.id)
        guild.roles[guild.id] = Role(guild.id, "@everyone", int(EVERYONE_DEFAULT))
        self.guilds[guild.id] = guild
        bot_role = self.add_role(guild.id, self.bot.name, bot_permissions, mentionable=False)
        bot_role.bot_id = self.bot.id
        guild.members[owner.id] = Member(owner)
        guild.members[self.bot.id] = Member(self.bot, [bot_role.id])
        if channel_name is not None:
            guild.system_channel_id = self.add_channel(guild.id, channel_name).id
        return guild

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = TEXT_CHANNEL,
        overwrites: Iterable[Overwrite] = (),
        parent_id: int | None = None,
    ) -> Channel:
        """Create a channel in a guild."""
        guild = self.guilds[guild_id]
        channel = Channel(
            self.ids.next(), guild_id, name, type, len(guild.channels), list(overwrites), parent_id=parent_id
        )
        guild.channels[channel.id] = channel
        return channel

    def add_role(self, guild_id: int, name: str, permissions: int = 0, *, mentionable: bool = True) -> Role:
        """Create a role in a guild, above the existing ones."""
        guild = self.guilds[guild_id]
        role = Role(self.ids.next(), name, int(permissions), len(guild.roles), mentionable)
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        user_id: int | None = None,
    ) -> Member:
        """Add a user to a guild; `permissions` gives them a role of their own with those bits."""
        guild = self.guilds[guild_id]
        user = self.add_user(name, user_id=user_id)
        role_ids = list(roles)
        if permissions:
            role_ids.append(self.add_role(guild_id, f"{name}-role", permissions).id)
        member = Member(user, role_ids)
        guild.members[user.id] = member
        return member

    def find_channel(self, channel_id: int) -> tuple[Guild, Channel] | None:
        """Return the guild and channel for a channel id, or None."""
        for guild in self.guilds.values():
            channel = guild.channels.get(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def permissions(self, guild: Guild, user_id: int, channel: Channel | None = None) -> int:
        """Compute a member's permissions, in a channel if given, the way Discord documents it."""
        member = guild.members.get(user_id)
        if member is None:
            return 0
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        perms = guild.everyone.permissions
        for role_id in member.role_ids:
            perms |= guild.roles[role_id].permissions
        if perms & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return perms
        return _apply_overwrites(perms, guild, member, channel)


def _apply_overwrites(perms: int, guild: Guild, member: Member, channel: Channel) -> int:
    by_id = {o.id: o for o in channel.overwrites}
    everyone = by_id.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.role_ids:
        overwrite = by_id.get(role_id)
        if overwrite is not None and overwrite.type == 0:
            allow |= overwrite.allow
            deny |= overwrite.deny
    perms = (perms & ~deny) | allow
    own = by_id.get(member.user.id)
    if own is not None and own.type == 1:
        perms = (perms & ~own.deny) | own.allow
    if not perms & Permission.VIEW_CHANNEL:
        return 0
    if not perms & Permission.SEND_MESSAGES:
        perms &= ~_NEEDS_SEND
    return perms
