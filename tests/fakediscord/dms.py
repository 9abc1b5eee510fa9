"""Direct messages: the bot opens a DM channel with a user (POST /users/@me/channels) and posts in it.

Discord refuses a DM (403, code 50007 "Cannot send messages to this user") when the user shares
no server with the bot or does not accept DMs from server members; `closed` holds such users.
"""

from __future__ import annotations

from typing import Any

from tests.fakediscord import payloads
from tests.fakediscord.faults import Reply
from tests.fakediscord.messages import MessageStore
from tests.fakediscord.rest import ApiRequest, Rest
from tests.fakediscord.validation import FormError, rejection
from tests.fakediscord.world import World

JSON = dict[str, Any]
DM_CHANNEL = 1
CANNOT_MESSAGE_USER = {"message": "Cannot send messages to this user", "code": 50007}


class DirectMessages:
    """The bot's DM channels, one per user, and the messages posted in them."""

    def __init__(self, world: World, store: MessageStore) -> None:
        self.world = world
        self.store = store
        self.user_of: dict[int, int] = {}  # DM channel id -> user id
        self.channel_of: dict[int, int] = {}  # user id -> DM channel id
        self.closed: set[int] = set()  # users who do not accept DMs from the bot

    def register(self, rest: Rest) -> None:
        """Add POST /users/@me/channels (posting in a DM channel goes through `create_message`)."""
        rest.add("POST", "/users/@me/channels", self.open_channel)

    async def open_channel(self, req: ApiRequest) -> Reply:
        """POST /users/@me/channels {"recipient_id": ...}: the DM channel with that user (made once)."""
        body = req.json if isinstance(req.json, dict) else {}
        raw = body.get("recipient_id")
        user = self.world.users.get(int(raw)) if str(raw).isdigit() else None
        if user is None:
            problem = FormError("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            return Reply(400, problem.body())
        channel_id = self.channel_of.get(user.id)
        if channel_id is None:
            channel_id = self.world.ids.next()
            self.channel_of[user.id], self.user_of[channel_id] = channel_id, user.id
        last = self.store.channel_order.get(channel_id, [])
        return Reply(
            200,
            {
                "id": str(channel_id),
                "type": DM_CHANNEL,
                "last_message_id": str(last[-1]) if last else None,
                "recipients": [payloads.user(user)],
                "flags": 0,
            },
        )

    def create_message(self, req: ApiRequest) -> Reply | None:
        """POST /channels/{id}/messages when the id is a DM channel's; None for any other channel."""
        user_id = self.user_of.get(req.id("channel_id"))
        if user_id is None:
            return None
        shares_a_server = any(
            user_id in g.members and self.world.bot.id in g.members for g in self.world.guilds.values()
        )
        if user_id in self.closed or not shares_a_server:
            return Reply(403, dict(CANNOT_MESSAGE_USER))
        body = req.json if isinstance(req.json, dict) else {}
        problem = rejection(body)
        if problem is not None:
            return problem
        return Reply(200, self.store.create(req.id("channel_id"), self.world.bot, body))

    def messages_to(self, user_id: int) -> list[JSON]:
        """Return the bot's DMs to a user, oldest first."""
        channel_id = self.channel_of.get(user_id)
        return self.store.in_channel(channel_id) if channel_id is not None else []
