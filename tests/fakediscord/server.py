"""FakeDiscord: a local Discord (REST + gateway) for end-to-end tests of the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from tests.fakediscord import payloads
from tests.fakediscord.commands import CommandRegistry
from tests.fakediscord.dms import DirectMessages
from tests.fakediscord.editing import WorldEdits
from tests.fakediscord.faults import Fault
from tests.fakediscord.gateway import INVALID_SESSION, RECONNECT, Gateway
from tests.fakediscord.interactions import InteractionRecord, InteractionResult, InteractionStore
from tests.fakediscord.invoker import Invoker
from tests.fakediscord.messages import MessageStore
from tests.fakediscord.rest import Call, Rest
from tests.fakediscord.routes import Routes
from tests.fakediscord.webhooks import Webhooks
from tests.fakediscord.world import Permission, Snowflakes, World

T = TypeVar("T")
JSON = dict[str, Any]
DEFAULT_TOKEN = "fake-bot-token"
GUILD_MESSAGES_INTENT = 1 << 9
POLL_SECONDS = 0.005
# How long a wait may take before it fails, saying what never happened: generous, since a pass
# never waits that long and a loaded CI machine may be slow.
WAIT_SECONDS = 30.0


class FakeDiscord(WorldEdits):
    """A fake Discord on 127.0.0.1: world model, REST, gateway, interactions, fault injection, recording.

    The default world has one guild (`guild`) with one text channel (`channel`, also the system
    channel), its owner, an `admin` member holding Manage Server and a plain `member`.
    """

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.world = World(Snowflakes())
        self.message_store = MessageStore(self.world)
        self.commands = CommandRegistry(self.world)
        self.interactions = InteractionStore(
            self.world,
            self.message_store,
            self._on_interaction_message,
            lambda message: self.dispatch_message("MESSAGE_UPDATE", message),
        )
        self.gateway = Gateway(self.world, token, self._notify)
        self.rest = Rest(token, self._notify)
        self.invoker = Invoker(self.world, self.commands, self.interactions)
        self.webhooks = Webhooks(self)
        Routes(self).register(self.rest)
        self.dms = DirectMessages(self.world, self.message_store)
        self.dms.register(self.rest)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.guild = self.world.add_guild()
        self.channel = self.guild.channels[self.guild.system_channel_id or 0]
        self.owner = self.guild.members[self.guild.owner_id]
        self.admin = self.world.add_member(self.guild.id, "admin", permissions=Permission.MANAGE_GUILD)
        self.member = self.world.add_member(self.guild.id, "member")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        # A distinct path, so tests can tell a RESUME used resume_gateway_url and not the default.
        self.gateway.resume_url = f"ws://127.0.0.1:{self._port}/resume"
        return self

    async def stop(self) -> None:
        """Close every websocket and stop listening."""
        if self._runner is None:
            return
        await self.gateway.close(1001, session_only=False)
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """Return the listening port."""
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def api_base(self) -> str:
        """Return the value for discord.http.Route.BASE / REGWATCH_DISCORD_API_BASE."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the value for DiscordWebSocket.DEFAULT_GATEWAY / REGWATCH_DISCORD_GATEWAY_URL."""
        return f"ws://127.0.0.1:{self.port}/"

    # -- world -------------------------------------------------------------------------------

    @property
    def bot_user_id(self) -> int:
        """Return the bot user's id."""
        return self.world.bot.id

    @property
    def application_id(self) -> int:
        """Return the application id."""
        return self.world.application_id

    # -- faults and recording ------------------------------------------------------------------

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        body: Any = None,
        is_global: bool = False,
        after_commit: bool = False,
    ) -> Fault:
        """Fail requests matching method ("*": any) and path (under /api/v10) `times` times (None: always).

        429 comes with Via, retry_after (default 0.05 s) and X-RateLimit-* headers so discord.py
        retries; 403 is 50013 Missing Permissions; 404 is Unknown Channel (Unknown Message,
        Webhook or Interaction for those paths); 5xx as Discord sends them. `after_commit` lets
        the request take effect first, so the bot sees a failure for a post that Discord made.
        """
        fault = Fault(
            method.upper(), re.compile(path_regex), status, times, retry_after, body, is_global, after_commit
        )
        self.rest.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.rest.faults.clear()

    @property
    def calls(self) -> list[Call]:
        """Return every REST call so far (method, path, query, json, headers, status, response)."""
        return self.rest.calls

    @property
    def unknown_routes(self) -> list[Call]:
        """Return the calls the fake has no route for; the fixture fails a test that made any."""
        return self.rest.unknown

    def requests(self, method: str, path_regex: str) -> list[Call]:
        """Return the recorded calls with this method whose path matches the regex."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    def messages(self, channel_id: int) -> list[JSON]:
        """Return the messages in a channel, oldest first (ephemeral replies are not in channels)."""
        return self.message_store.in_channel(channel_id)

    def attachment_bytes(self, attachment: JSON) -> bytes:
        """Return the uploaded contents of a message's attachment."""
        return self.rest.uploads[attachment["url"]]

    def interaction_responses(self, interaction_id: int) -> list[JSON]:
        """Return what the bot sent for an interaction: callback, followups and edits, in order."""
        return list(self.interactions.records[interaction_id].responses)

    # -- waiting -------------------------------------------------------------------------------
    # Every wait carries its own deadline (ASYNC109 notwithstanding): a test that waits in vain
    # should fail with what was missing, never hang.

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
        what: str = "a condition",
    ) -> T:
        """Return the predicate's first truthy value, re-checked on every change of the fake's state.

        It is also re-checked every few milliseconds, so predicates on the bot's side (its cache,
        its database) work too: the fake cannot see when the bot has processed an event.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), POLL_SECONDS)
        except TimeoutError:
            raise TimeoutError(f"fake Discord: no {what} within {timeout}s") from None

    async def wait_for_messages(
        self,
        channel_id: int,
        count: int = 1,
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
    ) -> list[JSON]:
        """Wait until a channel holds at least `count` messages and return them."""

        def enough() -> list[JSON] | None:
            found = self.messages(channel_id)
            return found if len(found) >= count else None

        return await self.wait_for(
            enough,
            timeout=timeout,
            what=f"{count} message(s) in channel {channel_id}",
        )

    async def wait_ready(
        self,
        *,
        count: int = 1,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot has IDENTIFYed `count` times in all and is connected (READY sent)."""
        await self.wait_for(
            lambda: self.gateway.ready_count >= count and self.gateway.connected,
            timeout=timeout,
            what=f"READY number {count}",
        )

    async def wait_resumed(
        self,
        *,
        count: int = 1,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot has RESUMEd `count` times in all."""
        await self.wait_for(
            lambda: len(self.gateway.resumes) >= count and self.gateway.connected,
            timeout=timeout,
            what=f"RESUME number {count}",
        )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- gateway control -----------------------------------------------------------------------

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Close the bot's websocket; with a resumable code (4000) the bot reconnects and RESUMEs."""
        await self.gateway.close(code)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; the bot reconnects and RESUMEs."""
        await self.gateway.send_op(RECONNECT)

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; unless resumable, the bot must IDENTIFY afresh."""
        await self.gateway.send_op(INVALID_SESSION, resumable)

    def dispatch(self, event: str, data: JSON, *, intent: int = 0) -> int | None:
        """Send any dispatch event to the bot; return its sequence number."""
        return self.gateway.dispatch(event, data, intent=intent)

    def dispatch_message(self, event: str, message: JSON) -> None:
        """Tell the bot about a created, edited or deleted message, as Discord does with GUILD_MESSAGES."""
        found = self.world.find_channel(int(message["channel_id"]))
        if found is None:
            return
        data = {**message, "guild_id": str(found[0].id)}
        if event != "MESSAGE_DELETE":
            author = found[0].members.get(int(message["author"]["id"]))
            if author is not None:
                data["member"] = payloads.member(author, with_user=False)
        self.gateway.dispatch(event, data, intent=GUILD_MESSAGES_INTENT)

    def _on_interaction_message(self, message: JSON) -> None:
        self.dispatch_message("MESSAGE_CREATE", message)

    # -- interactions --------------------------------------------------------------------------

    def send_command(
        self,
        command: str,
        subcommand: str | None = None,
        *,
        group: str | None = None,
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        locale: str = "en-US",
        permission_override: bool = False,
        focused: str | None = None,
    ) -> InteractionRecord:
        """Dispatch an INTERACTION_CREATE built from the synced schema; do not wait for the answer."""
        if self.gateway.current is None:
            raise RuntimeError("no bot has IDENTIFYed on the fake gateway; await fake.wait_ready() first")
        root, *path = command.split()
        path += [p for p in (group, subcommand) if p]
        guild = self.world.guilds[guild_id or self.guild.id]
        channel = guild.channels[channel_id or guild.system_channel_id or next(iter(guild.channels))]
        record = self.invoker.build(
            root,
            path,
            options or {},
            guild=guild,
            channel=channel,
            user_id=user_id or self.admin.user.id,
            locale=locale,
            permission_override=permission_override,
            focused=focused,
        )
        self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def invoke(
        self,
        command: str,
        subcommand: str | None = None,
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
        **kw: Any,
    ) -> InteractionResult:
        """Run a slash command as a member and return the bot's final visible answer.

        `command` may be "watch" with `subcommand="vendor"` (and `group=`), or "watch vendor".
        Defaults: the default guild, its system channel, and the `admin` member. Options are
        checked and typed against the schema the bot synced; ids or world objects work for
        users, roles and channels. A deferral is not an answer: this waits for what follows it.
        """
        record = self.send_command(command, subcommand, **kw)
        return await self.wait_interaction(record.id, timeout=timeout)

    def send_click(
        self, message: JSON | int, custom_id: str, *, user_id: int | None = None, locale: str = "en-US"
    ) -> InteractionRecord:
        """Dispatch a member's press on a message's button (MESSAGE_COMPONENT); do not wait for the answer."""
        if self.gateway.current is None:
            raise RuntimeError("no bot has IDENTIFYed on the fake gateway; await fake.wait_ready() first")
        message_id = int(message["id"]) if isinstance(message, dict) else message
        record = self.invoker.component(
            self.message_store.by_id[message_id],
            custom_id,
            user_id=user_id or self.admin.user.id,
            locale=locale,
        )
        self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def click(
        self,
        message: JSON | int,
        custom_id: str,
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
        **kw: Any,
    ) -> InteractionResult:
        """Press a button on a message as a member (default: the admin) and return the bot's answer."""
        record = self.send_click(message, custom_id, **kw)
        return await self.wait_interaction(record.id, timeout=timeout)

    async def autocomplete(
        self,
        command: str,
        subcommand: str | None,
        option: str,
        value: str,
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
        **kw: Any,
    ) -> list[JSON]:
        """Type `value` into an autocomplete option and return the bot's choices."""
        options = {**kw.pop("options", {}), option: value}
        record = self.send_command(command, subcommand, options=options, focused=option, **kw)
        result = await self.wait_interaction(record.id, timeout=timeout)
        return result.choices or []

    async def wait_interaction(
        self,
        interaction_id: int,
        *,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109
    ) -> InteractionResult:
        """Wait for the bot's final visible answer to an interaction."""
        record = self.interactions.records[interaction_id]
        try:
            await self.wait_for(lambda: self.interactions.is_complete(record), timeout=timeout)
        except TimeoutError:
            tried = [
                f"{c.method} {c.path} -> {c.status} {c.response}"
                for c in self.calls
                if record.token in c.path
            ]
            raise TimeoutError(
                f"bot gave no final answer to /{record.name} within {timeout}s; "
                f"its calls: {tried or 'none'}; unknown routes: {[c.path for c in self.unknown_routes]}"
            ) from None
        return self.interactions.result(record)
