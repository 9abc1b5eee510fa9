"""Channel webhooks: created by the bot (Manage Webhooks), executed with a custom name and avatar.

Discord's rules the fake keeps: creating, listing and deleting a channel's webhooks need Manage
Webhooks; a webhook name (and an execute's `username`) is 1-80 characters and may not contain
"clyde" or "discord"; an execute carries no nonce, so Discord never drops a repeat; `?wait=true`
answers with the message, else 204; the message's author is the webhook (its id, the username
given) and it carries `webhook_id`; only the webhook may edit what it posted. A webhook created by
the bot is application-owned, so its messages may carry buttons.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fakediscord.faults import Reply, error
from tests.fakediscord.validation import rejection
from tests.fakediscord.world import User

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord

JSON = dict[str, Any]
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}


@dataclass
class Webhook:
    """One incoming webhook of a channel."""

    id: int
    token: str
    channel_id: int
    guild_id: int
    name: str
    application_id: int | None

    def payload(self, *, with_token: bool = True) -> JSON:
        """Return Discord's webhook object."""
        body: JSON = {
            "id": str(self.id),
            "type": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "name": self.name,
            "avatar": None,
            "application_id": str(self.application_id) if self.application_id else None,
        }
        if with_token:
            body["token"] = self.token
        return body


def name_problem(field: str, name: Any) -> Reply | None:
    """Return Discord's 400 for a webhook name or username it refuses, or None."""
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        return Reply(400, _form(field, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length."))
    lowered = name.casefold()
    if "clyde" in lowered or "discord" in lowered:
        return Reply(400, _form(field, "USERNAME_INVALID_CONTAINS", 'Username cannot contain "discord"'))
    return None


def _form(field: str, code: str, message: str) -> JSON:
    return {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {field: {"_errors": [{"code": code, "message": message}]}},
    }


class Webhooks:
    """The webhooks of every channel, by id."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.by_id: dict[int, Webhook] = {}

    def create(self, channel_id: int, guild_id: int, body: JSON) -> Reply:
        """POST /channels/{id}/webhooks (the route checked Manage Webhooks)."""
        problem = name_problem("name", body.get("name"))
        if problem is not None:
            return problem
        world = self.fake.world
        hook = Webhook(
            world.ids.next(),
            secrets.token_urlsafe(48),
            channel_id,
            guild_id,
            body["name"],
            world.application_id,
        )
        self.by_id[hook.id] = hook
        world.users[hook.id] = User(hook.id, hook.name, bot=True)
        return Reply(200, hook.payload())

    def in_channel(self, channel_id: int) -> list[Webhook]:
        """Return a channel's webhooks."""
        return [h for h in self.by_id.values() if h.channel_id == channel_id]

    def delete(self, webhook_id: int) -> None:
        """Forget a webhook (DELETE /webhooks/{id}, or a server admin deleting it)."""
        self.by_id.pop(webhook_id, None)

    def find(self, webhook_id: int, token: str) -> Webhook | None:
        """Return the webhook with this id and token, if it exists."""
        hook = self.by_id.get(webhook_id)
        return hook if hook is not None and secrets.compare_digest(hook.token, token) else None

    def execute(self, hook: Webhook, body: JSON, *, wait: bool) -> Reply:
        """POST /webhooks/{id}/{token}: post in the webhook's channel as the webhook."""
        problem = rejection(body)
        if problem is not None:
            return problem
        username = body.get("username", hook.name)
        problem = name_problem("username", username)
        if problem is not None:
            return problem
        avatar = body.get("avatar_url")
        if avatar is not None and not (
            isinstance(avatar, str) and avatar.startswith(("http://", "https://"))
        ):
            return Reply(400, _form("avatar_url", "URL_TYPE_INVALID_URL", "Not a well formed URL."))
        author = User(hook.id, username, bot=True)
        extra = {"webhook_id": str(hook.id), "application_id": str(hook.application_id)}
        # A webhook execute has no nonce: the fake ignores one, as Discord does.
        clean = {k: v for k, v in body.items() if k not in ("nonce", "enforce_nonce")}
        message = self.fake.message_store.create(hook.channel_id, author, clean, extra=extra)
        self.fake.dispatch_message("MESSAGE_CREATE", message)
        return Reply(200, message) if wait else Reply(204)

    def message(self, hook: Webhook, message_id: str) -> JSON | None:
        """Return a message this webhook posted, if it still exists."""
        message = self.fake.message_store.by_id.get(int(message_id)) if message_id.isdigit() else None
        if message is None or message.get("webhook_id") != str(hook.id):
            return None
        return message

    def edit(self, hook: Webhook, message_id: str, body: JSON) -> Reply:
        """PATCH /webhooks/{id}/{token}/messages/{id}: only what this webhook posted."""
        message = self.message(hook, message_id)
        if message is None:
            return error(404, message="Unknown Message", code=10008)
        problem = rejection(body, edit=True)
        if problem is not None:
            return problem
        edited = self.fake.message_store.edit(int(message["id"]), body)
        self.fake.dispatch_message("MESSAGE_UPDATE", edited)
        return Reply(200, edited)
