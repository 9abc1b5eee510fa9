"""JSON shapes of world objects, as Discord's REST API and gateway send them."""

from __future__ import annotations

from typing import Any

from tests.fakediscord.world import Channel, Guild, Member, Role, User, World

JSON = dict[str, Any]


def user(u: User) -> JSON:
    """Return a user object."""
    return {
        "id": str(u.id),
        "username": u.name,
        "discriminator": "0",
        "global_name": None if u.bot else u.name,
        "avatar": None,
        "bot": u.bot,
        "public_flags": 0,
        "flags": 0,
    }


def role(r: Role) -> JSON:
    """Return a role object."""
    payload: JSON = {
        "id": str(r.id),
        "name": r.name,
        "permissions": str(r.permissions),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": r.bot_id is not None,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        payload["tags"] = {"bot_id": str(r.bot_id)}
    return payload


def channel(c: Channel) -> JSON:
    """Return a guild channel object."""
    return {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "position": c.position,
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in c.overwrites
        ],
        "parent_id": None if c.parent_id is None else str(c.parent_id),
        "topic": c.topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
        "flags": 0,
    }


def member(m: Member, *, permissions: int | None = None, with_user: bool = True) -> JSON:
    """Return a guild member object; interactions add the member's channel permissions."""
    payload: JSON = {
        "roles": [str(r) for r in m.role_ids],
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": m.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        payload["user"] = user(m.user)
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def guild(g: Guild) -> JSON:
    """Return a guild object as GET /guilds/{id} does."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None if g.system_channel_id is None else str(g.system_channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "preferred_locale": g.locale,
        "premium_tier": 0,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
    }


def guild_create(g: Guild, world: World) -> JSON:
    """Return the full GUILD_CREATE payload: the guild plus its channels and members."""
    bot_member = g.members[world.bot.id]
    return {
        **guild(g),
        "unavailable": False,
        "large": False,
        "member_count": len(g.members),
        "joined_at": bot_member.joined_at,
        "channels": [channel(c) for c in g.channels.values()],
        "members": [member(m) for m in g.members.values()],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def application(world: World) -> JSON:
    """Return the application object of GET /oauth2/applications/@me."""
    return {
        "id": str(world.application_id),
        "name": world.application_name,
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(world.app_owner),
        "verify_key": "0" * 64,
        "team": None,
        "flags": 0,
        "bot": user(world.bot),
        "interactions_endpoint_url": None,
    }
