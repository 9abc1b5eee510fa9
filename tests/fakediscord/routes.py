"""REST route handlers: login, gateway discovery, guilds, channels, messages, commands, interactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakediscord import payloads
from tests.fakediscord.faults import Reply, error
from tests.fakediscord.rest import ApiRequest, Rest
from tests.fakediscord.validation import FormError, rejection, validate_commands
from tests.fakediscord.webhooks import UNKNOWN_WEBHOOK
from tests.fakediscord.world import Channel, Guild, Permission

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord

JSON = dict[str, Any]
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}


class Routes:
    """The Discord endpoints the fake answers; each handler returns a Reply."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world

    def register(self, rest: Rest) -> None:
        """Add every route to the REST front."""
        app, guild, channel = "/applications/{app_id}", "/guilds/{guild_id}", "/channels/{channel_id}"
        hook, message = "/webhooks/{app_id}/{token}", "/messages/{message_id}"
        for method, template, handler, bot_auth in (
            ("GET", "/users/@me", self.me, True),
            ("GET", "/oauth2/applications/@me", self.application, True),
            ("GET", "/applications/@me", self.application, True),
            ("GET", "/gateway", self.gateway, False),
            ("GET", "/gateway/bot", self.gateway_bot, True),
            ("GET", f"{app}/commands", self.get_commands, True),
            ("PUT", f"{app}/commands", self.put_commands, True),
            ("GET", f"{app}{guild}/commands", self.get_commands, True),
            ("PUT", f"{app}{guild}/commands", self.put_commands, True),
            ("GET", guild, self.get_guild, True),
            ("GET", f"{guild}/channels", self.guild_channels, True),
            ("GET", f"{guild}/roles", self.guild_roles, True),
            ("GET", f"{guild}/members/{{user_id}}", self.guild_member, True),
            ("GET", channel, self.get_channel, True),
            ("GET", f"{channel}/messages", self.list_messages, True),
            ("POST", f"{channel}/messages", self.create_message, True),
            ("POST", f"{channel}/webhooks", self.create_webhook, True),
            ("GET", f"{channel}/webhooks", self.channel_webhooks, True),
            ("DELETE", "/webhooks/{webhook_id}", self.delete_webhook, True),
            ("GET", f"{channel}{message}", self.get_message, True),
            ("PATCH", f"{channel}{message}", self.edit_message, True),
            ("DELETE", f"{channel}{message}", self.delete_message, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback, False),
            ("POST", hook, self.execute_webhook, False),
            ("GET", f"{hook}{message}", self.webhook_message, False),
            ("PATCH", f"{hook}{message}", self.webhook_message, False),
            ("DELETE", f"{hook}{message}", self.webhook_message, False),
        ):
            rest.add(method, template, handler, bot_auth=bot_auth)

    async def me(self, req: ApiRequest) -> Reply:
        """GET /users/@me: the bot user (login)."""
        return Reply(200, payloads.user(self.world.bot))

    async def application(self, req: ApiRequest) -> Reply:
        """GET /oauth2/applications/@me: sets discord.py's application_id."""
        return Reply(200, payloads.application(self.world))

    async def gateway(self, req: ApiRequest) -> Reply:
        """GET /gateway."""
        return Reply(200, {"url": self.fake.gateway_url})

    async def gateway_bot(self, req: ApiRequest) -> Reply:
        """GET /gateway/bot: only AutoShardedClient asks."""
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return Reply(200, {"url": self.fake.gateway_url, "shards": 1, "session_start_limit": limit})

    async def get_commands(self, req: ApiRequest) -> Reply:
        """GET the synced commands of a scope."""
        problem = self._command_scope(req)
        return problem or Reply(200, self.fake.commands.in_scope(self._guild_param(req)))

    async def put_commands(self, req: ApiRequest) -> Reply:
        """PUT: bulk-overwrite a scope's commands (tree.sync)."""
        problem = self._command_scope(req)
        if problem is not None:
            return problem
        try:
            validate_commands(req.json)
        except FormError as exc:
            return Reply(400, exc.body())
        return Reply(200, self.fake.commands.overwrite(self._guild_param(req), req.json))

    async def get_guild(self, req: ApiRequest) -> Reply:
        """GET /guilds/{id}."""
        guild = self._guild(req)
        return Reply(200, payloads.guild(guild)) if guild else error(404, req.path)

    async def guild_channels(self, req: ApiRequest) -> Reply:
        """GET /guilds/{id}/channels."""
        guild = self._guild(req)
        return (
            Reply(200, [payloads.channel(c) for c in guild.channels.values()])
            if guild
            else error(404, req.path)
        )

    async def guild_roles(self, req: ApiRequest) -> Reply:
        """GET /guilds/{id}/roles."""
        guild = self._guild(req)
        return Reply(200, [payloads.role(r) for r in guild.roles.values()]) if guild else error(404, req.path)

    async def guild_member(self, req: ApiRequest) -> Reply:
        """GET /guilds/{id}/members/{user_id}."""
        guild = self._guild(req)
        member = guild.members.get(req.id("user_id")) if guild else None
        return Reply(200, payloads.member(member)) if member else error(404, req.path)

    async def get_channel(self, req: ApiRequest) -> Reply:
        """GET /channels/{id}."""
        found = self._channel(req, need=Permission.VIEW_CHANNEL)
        return found if isinstance(found, Reply) else Reply(200, payloads.channel(found[1]))

    async def list_messages(self, req: ApiRequest) -> Reply:
        """GET /channels/{id}/messages: newest first, honouring limit, before and after."""
        found = self._channel(req, need=Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)
        if isinstance(found, Reply):
            return found
        limit = min(100, int(req.query.get("limit", 50)))
        messages = self.fake.messages(req.id("channel_id"))  # oldest first
        if "before" in req.query:
            messages = [m for m in messages if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            # The `limit` messages right after the id, still answered newest first.
            messages = [m for m in messages if int(m["id"]) > int(req.query["after"])][:limit]
        return Reply(200, list(reversed(messages))[:limit])

    async def create_message(self, req: ApiRequest) -> Reply:
        """POST /channels/{id}/messages, with Discord's limits and nonce + enforce_nonce dedupe."""
        direct = self.fake.dms.create_message(req)  # a DM channel (tests/fakediscord/dms.py)
        if direct is not None:
            return direct
        found = self._channel(req, need=Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES)
        if isinstance(found, Reply):
            return found
        body = req.json if isinstance(req.json, dict) else {}
        problem = rejection(body)
        if problem is not None:
            return problem
        channel_id, store = found[1].id, self.fake.message_store
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            existing = store.find_by_nonce(channel_id, self.world.bot.id, body["nonce"])
            if existing is not None:
                return Reply(200, dict(existing))
        message = store.create(channel_id, self.world.bot, body)
        self.fake.dispatch_message("MESSAGE_CREATE", message)
        return Reply(200, message)

    async def get_message(self, req: ApiRequest) -> Reply:
        """GET /channels/{id}/messages/{id}."""
        message = self._message(req)
        return message if isinstance(message, Reply) else Reply(200, message)

    async def edit_message(self, req: ApiRequest) -> Reply:
        """PATCH /channels/{id}/messages/{id}: only the bot's own messages."""
        message = self._message(req)
        if isinstance(message, Reply):
            return message
        if message["author"]["id"] != str(self.world.bot.id):
            return error(403, message="Cannot edit a message authored by another user", code=50005)
        problem = rejection(req.json or {}, edit=True)
        if problem is not None:
            return problem
        edited = self.fake.message_store.edit(int(message["id"]), req.json or {})
        self.fake.dispatch_message("MESSAGE_UPDATE", edited)
        return Reply(200, edited)

    async def delete_message(self, req: ApiRequest) -> Reply:
        """DELETE /channels/{id}/messages/{id}."""
        message = self._message(req)
        if isinstance(message, Reply):
            return message
        self.fake.message_store.delete(int(message["id"]))
        self.fake.dispatch_message(
            "MESSAGE_DELETE", {"id": message["id"], "channel_id": message["channel_id"]}
        )
        return Reply(204)

    async def callback(self, req: ApiRequest) -> Reply:
        """POST /interactions/{id}/{token}/callback."""
        body = req.json if isinstance(req.json, dict) else {}
        return self.fake.interactions.callback(req.id("interaction_id"), req.params["token"], body)

    async def create_webhook(self, req: ApiRequest) -> Reply:
        """POST /channels/{id}/webhooks: needs Manage Webhooks in the channel."""
        found = self._channel(req, need=Permission.VIEW_CHANNEL | Permission.MANAGE_WEBHOOKS)
        if isinstance(found, Reply):
            return found
        body = req.json if isinstance(req.json, dict) else {}
        return self.fake.webhooks.create(found[1].id, found[0].id, body)

    async def channel_webhooks(self, req: ApiRequest) -> Reply:
        """GET /channels/{id}/webhooks: needs Manage Webhooks in the channel."""
        found = self._channel(req, need=Permission.VIEW_CHANNEL | Permission.MANAGE_WEBHOOKS)
        if isinstance(found, Reply):
            return found
        return Reply(200, [h.payload() for h in self.fake.webhooks.in_channel(found[1].id)])

    async def delete_webhook(self, req: ApiRequest) -> Reply:
        """DELETE /webhooks/{id} with the bot token: needs Manage Webhooks in its channel."""
        hook = self.fake.webhooks.by_id.get(req.id("webhook_id"))
        if hook is None:
            return Reply(404, dict(UNKNOWN_WEBHOOK))
        guild = self.world.guilds[hook.guild_id]
        channel = guild.channels.get(hook.channel_id)
        if not self.world.permissions(guild, self.world.bot.id, channel) & Permission.MANAGE_WEBHOOKS:
            return error(403)
        self.fake.webhooks.delete(hook.id)
        return Reply(204)

    async def execute_webhook(self, req: ApiRequest) -> Reply:
        """POST /webhooks/{id}/{token}: a channel webhook's message, or an interaction followup.

        An id that is neither (a deleted webhook) gets the interactions' 404 Unknown Webhook.
        """
        body = req.json if isinstance(req.json, dict) else {}
        wait = req.query.get("wait", "").lower() in ("1", "true")
        if req.id("app_id") in self.fake.webhooks.by_id:
            hook = self.fake.webhooks.find(req.id("app_id"), req.params["token"])
            if hook is None:
                return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})
            return self.fake.webhooks.execute(hook, body, wait=wait)
        return self.fake.interactions.execute(req.id("app_id"), req.params["token"], body, wait=wait)

    async def webhook_message(self, req: ApiRequest) -> Reply:
        """GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{id or @original}."""
        if req.id("app_id") in self.fake.webhooks.by_id:
            hook = self.fake.webhooks.find(req.id("app_id"), req.params["token"])
            if hook is None:
                return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})
            if req.method == "PATCH":
                return self.fake.webhooks.edit(hook, req.params["message_id"], req.json or {})
            message = self.fake.webhooks.message(hook, req.params["message_id"])
            if message is None:
                return error(404, message="Unknown Message", code=10008)
            if req.method == "GET":
                return Reply(200, message)
            self.fake.message_store.delete(int(message["id"]))
            return Reply(204)
        store, args = (
            self.fake.interactions,
            (req.id("app_id"), req.params["token"], req.params["message_id"]),
        )
        if req.method == "GET":
            return store.get_message(*args)
        if req.method == "PATCH":
            return store.edit_message(*args, req.json if isinstance(req.json, dict) else {})
        return store.delete_message(*args)

    def _guild_param(self, req: ApiRequest) -> int | None:
        return req.id("guild_id") if "guild_id" in req.params else None

    def _command_scope(self, req: ApiRequest) -> Reply | None:
        if req.id("app_id") != self.world.application_id:
            return Reply(403, dict(MISSING_ACCESS))
        guild_id = self._guild_param(req)
        if guild_id is not None and self._guild(req) is None:
            # Discord's answer when the bot was not invited with the applications.commands scope.
            return Reply(403, dict(MISSING_ACCESS))
        return None

    def _guild(self, req: ApiRequest) -> Guild | None:
        guild = self.world.guilds.get(req.id("guild_id"))
        return guild if guild is not None and self.world.bot.id in guild.members else None

    def _channel(self, req: ApiRequest, *, need: int) -> tuple[Guild, Channel] | Reply:
        """Return the channel, or the 404/403 Discord gives a bot that cannot see it or lacks `need`."""
        found = self.world.find_channel(req.id("channel_id"))
        if found is None or self.world.bot.id not in found[0].members:
            return error(404, req.path)
        perms = self.world.permissions(found[0], self.world.bot.id, found[1])
        if not perms & Permission.VIEW_CHANNEL:
            return Reply(403, dict(MISSING_ACCESS))
        if perms & need != need:
            return error(403)
        return found

    def _message(self, req: ApiRequest) -> JSON | Reply:
        found = self._channel(req, need=Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)
        if isinstance(found, Reply):
            return found
        message = self.fake.message_store.by_id.get(req.id("message_id"))
        if message is None or message["channel_id"] != str(found[1].id):
            return error(404, req.path)
        return message
