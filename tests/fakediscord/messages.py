"""Stored messages: creation with nonce dedupe, edits, deletes, and who a message actually pings."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakediscord import payloads
from tests.fakediscord.world import Guild, Permission, User, World, now_iso

JSON = dict[str, Any]
USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")
# Keys of a create body that Discord copies onto the message it returns.
COPIED_KEYS = ("content", "embeds", "components", "tts", "flags", "nonce", "attachments", "poll")


@dataclass
class Pings:
    """Who a message notifies once allowed_mentions and permissions are applied."""

    users: list[int]
    roles: list[int]
    everyone: bool


def resolve_pings(
    content: str, allowed: JSON | None, guild: Guild | None, can_mention_everyone: bool
) -> Pings:
    """Apply Discord's rules: allowed_mentions filters, unmentionable roles need Mention Everyone."""
    if allowed is None:
        # No allowed_mentions means Discord's default: everything written in the content pings.
        parse, users_ok, roles_ok = {"users", "roles", "everyone"}, set(), set()
    else:
        parse = set(allowed.get("parse", []))
        users_ok = {int(u) for u in allowed.get("users", [])}
        roles_ok = {int(r) for r in allowed.get("roles", [])}
    written = [int(u) for u in dict.fromkeys(USER_MENTION.findall(content))]
    users = [u for u in written if "users" in parse or u in users_ok]
    roles: list[int] = []
    for raw in dict.fromkeys(ROLE_MENTION.findall(content)):
        role = guild.roles.get(int(raw)) if guild else None
        listed = "roles" in parse or int(raw) in roles_ok
        if role is not None and listed and (role.mentionable or can_mention_everyone):
            roles.append(role.id)
    everyone = bool(EVERYONE_MENTION.search(content)) and "everyone" in parse and can_mention_everyone
    return Pings(users, roles, everyone)


class MessageStore:
    """All messages the fake holds, per channel in creation order."""

    def __init__(self, world: World, clock: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.clock = clock
        self.nonce_window = 300.0
        self.by_id: dict[int, JSON] = {}
        self.channel_order: dict[int, list[int]] = {}
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}

    def find_by_nonce(self, channel_id: int, author_id: int, nonce: Any) -> JSON | None:
        """Return the live message this author already created with this nonce, within the window."""
        hit = self._nonces.get((channel_id, author_id, str(nonce)))
        if hit is None or self.clock() - hit[1] > self.nonce_window:
            return None
        return self.by_id.get(hit[0])

    def create(
        self,
        channel_id: int,
        author: User,
        body: JSON,
        *,
        listed: bool = True,
        extra: JSON | None = None,
    ) -> JSON:
        """Create a message; `listed=False` keeps ephemeral replies out of the channel history."""
        found = self.world.find_channel(channel_id)
        guild = found[0] if found else None
        message: JSON = {
            "id": str(self.world.ids.next()),
            "type": 0,
            "channel_id": str(channel_id),
            "author": payloads.user(author),
            "content": "",
            "embeds": [],
            "attachments": [],
            "components": [],
            "tts": False,
            "flags": 0,
            "pinned": False,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            **{k: copy.deepcopy(body[k]) for k in COPIED_KEYS if body.get(k) is not None},
            **(extra or {}),
        }
        message["embeds"] = [{"type": "rich", **e} for e in message["embeds"]]
        self._set_pings(message, body.get("allowed_mentions"), guild, author)
        mid = int(message["id"])
        self.by_id[mid] = message
        if listed:
            self.channel_order.setdefault(channel_id, []).append(mid)
            if found:
                found[1].last_message_id = mid
        if body.get("nonce") is not None:
            self._nonces[(channel_id, author.id, str(body["nonce"]))] = (mid, self.clock())
        return message

    def edit(self, message_id: int, body: JSON) -> JSON:
        """Apply an edit body to a stored message and return it."""
        message = self.by_id[message_id]
        for key in ("content", "embeds", "components", "flags", "attachments"):
            if key in body:
                message[key] = (
                    copy.deepcopy(body[key]) if body[key] is not None else ([] if key != "content" else "")
                )
        message["embeds"] = [{"type": "rich", **e} for e in message["embeds"]]
        message["edited_timestamp"] = now_iso()
        found = self.world.find_channel(int(message["channel_id"]))
        author = self.world.users[int(message["author"]["id"])]
        if "content" in body or "allowed_mentions" in body:
            self._set_pings(message, body.get("allowed_mentions"), found[0] if found else None, author)
        return message

    def delete(self, message_id: int) -> None:
        """Remove a message from its channel."""
        message = self.by_id.pop(message_id)
        order = self.channel_order.get(int(message["channel_id"]), [])
        if message_id in order:
            order.remove(message_id)

    def in_channel(self, channel_id: int) -> list[JSON]:
        """Return copies of a channel's messages, oldest first."""
        return [copy.deepcopy(self.by_id[m]) for m in self.channel_order.get(channel_id, [])]

    def _set_pings(self, message: JSON, allowed: JSON | None, guild: Guild | None, author: User) -> None:
        perms = 0
        if guild is not None:
            channel = guild.channels.get(int(message["channel_id"]))
            perms = self.world.permissions(guild, author.id, channel)
        pings = resolve_pings(
            message["content"] or "", allowed, guild, bool(perms & Permission.MENTION_EVERYONE)
        )
        message["mentions"] = [
            payloads.user(self.world.users[u]) for u in pings.users if u in self.world.users
        ]
        message["mention_roles"] = [str(r) for r in pings.roles]
        message["mention_everyone"] = pings.everyone
