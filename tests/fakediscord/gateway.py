"""The gateway websocket: HELLO, heartbeats, IDENTIFY → READY, RESUME with replay, dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakediscord import payloads
from tests.fakediscord.world import World

log = logging.getLogger("fakediscord.gateway")
JSON = dict[str, Any]
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE, RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION = (
    0, 1, 2, 3, 4, 6, 7, 8, 9
)  # fmt: skip
HELLO, HEARTBEAT_ACK = 10, 11
GUILD_MEMBERS_INTENT, GUILD_PRESENCES_INTENT, MESSAGE_CONTENT_INTENT = 1 << 1, 1 << 8, 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS_INTENT | GUILD_PRESENCES_INTENT | MESSAGE_CONTENT_INTENT


@dataclass
class Connection:
    """One websocket; sends are serialised so dispatches and control frames never interleave."""

    ws: web.WebSocketResponse
    path: str
    session: Session | None = None
    cursor: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: JSON) -> None:
        """Send one frame as a text message; discord.py parses text frames as plain JSON."""
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(frame))


@dataclass
class Session:
    """A gateway session: every dispatch it was sent, kept so a RESUME can replay what was missed."""

    id: str
    intents: int
    events: list[JSON] = field(default_factory=list)
    connection: Connection | None = None

    @property
    def seq(self) -> int:
        """Return the sequence number of the last dispatch."""
        return len(self.events)


@dataclass
class ResumeRecord:
    """A successful RESUME: which session, from which sequence, how many events were replayed."""

    session_id: str
    seq: int | None
    replayed: int
    path: str


class Gateway:
    """Serve the gateway for one bot token; the newest IDENTIFY owns the current session."""

    def __init__(self, world: World, token: str, on_change: Callable[[], None]) -> None:
        self.world = world
        self.token = token
        self.on_change = on_change
        self.heartbeat_interval_ms = 41_250
        self.allowed_intents = PRIVILEGED_INTENTS
        self.resume_url = ""
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        self.connections: list[Connection] = []
        self.identifies: list[JSON] = []
        self.resumes: list[ResumeRecord] = []
        self.ready_count = 0
        self.received: list[JSON] = []

    def dispatch(
        self, event: str, data: JSON, *, intent: int = 0, session: Session | None = None
    ) -> int | None:
        """Queue a dispatch on a session (the current one by default); sent now or replayed on RESUME."""
        session = session or self.current
        if session is None or (intent and not session.intents & intent):
            return None
        session.events.append({"op": DISPATCH, "t": event, "s": session.seq + 1, "d": data})
        if session.connection is not None:
            session.connection.wakeup.set()
        return session.seq

    @property
    def connected(self) -> bool:
        """Tell whether the current session has a live websocket."""
        return self.current is not None and self.current.connection is not None

    async def close(self, code: int = 4000, *, session_only: bool = True) -> None:
        """Close the current session's websocket (or all of them) with a close code."""
        targets = [
            c for c in self.connections if not session_only or (c.session and c.session is self.current)
        ]
        for conn in targets:
            await conn.ws.close(code=code, message=b"closed by the fake")

    async def send_op(self, op: int, data: Any = None) -> None:
        """Send a non-dispatch opcode (RECONNECT, INVALID_SESSION) on the current connection."""
        if self.current is None or self.current.connection is None:
            raise RuntimeError("no bot is connected to the fake gateway")
        if op == INVALID_SESSION and not data:
            self.sessions.pop(self.current.id, None)
        await self.current.connection.send({"op": op, "d": data, "s": None, "t": None})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one websocket connection."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a websocket upgrade")
        await ws.prepare(request)
        conn = Connection(ws, request.path)
        self.connections.append(conn)
        pump: asyncio.Task[None] | None = None
        try:
            await conn.send(
                {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"decode error: send JSON text frames")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"decode error: invalid JSON")
                    break
                self.received.append({"op": frame.get("op"), "d": frame.get("d")})
                attached = conn.session
                await self._on_frame(conn, frame)
                if conn.session is not None and attached is None:
                    pump = asyncio.create_task(self._pump(conn))
                self.on_change()
        finally:
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            self.connections.remove(conn)
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            self.on_change()
        return ws

    async def _on_frame(self, conn: Connection, frame: JSON) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"not authenticated")
        elif op == REQUEST_MEMBERS:
            self._members_chunk(conn.session, data or {})
        elif op in (PRESENCE, VOICE):
            log.info("ignoring gateway op %s", op)
        else:
            await conn.ws.close(code=4001, message=b"unknown opcode")

    async def _identify(self, conn: Connection, data: JSON) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"already authenticated")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"authentication failed")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await conn.ws.close(code=4014, message=b"disallowed intents")
            return
        self.identifies.append(data)
        session = Session(secrets.token_hex(16), intents)
        self.sessions[session.id] = session
        self.current = session
        self._attach(conn, session, cursor=0)
        guilds = [g for g in self.world.guilds.values() if self.world.bot.id in g.members]
        ready = {
            "v": 10,
            "user": payloads.user(self.world.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "resume_gateway_url": self.resume_url,
            "shard": data.get("shard", [0, 1]),
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }
        self.dispatch("READY", ready)
        for guild in guilds:
            self.dispatch("GUILD_CREATE", payloads.guild_create(guild, self.world))
        self.ready_count += 1

    async def _resume(self, conn: Connection, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token or conn.session is not None:
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        seq = data.get("seq")
        old = session.connection
        if old is not None and old is not conn:
            await old.ws.close(code=4000, message=b"session resumed elsewhere")
        self._attach(conn, session, cursor=seq or 0)
        replayed = session.seq - (seq or 0)
        self.current = session
        self.dispatch("RESUMED", {})
        self.resumes.append(ResumeRecord(session.id, seq, replayed, conn.path))

    def _attach(self, conn: Connection, session: Session, *, cursor: int) -> None:
        conn.session = session
        conn.cursor = cursor
        session.connection = conn
        conn.wakeup.set()

    async def _pump(self, conn: Connection) -> None:
        # The only task that sends dispatches on this connection, so they go out in sequence order.
        session = conn.session
        assert session is not None
        while not conn.ws.closed and session.connection is conn:
            conn.wakeup.clear()
            while conn.cursor < len(session.events) and session.connection is conn:
                frame = session.events[conn.cursor]
                conn.cursor += 1
                await conn.send(frame)
            await conn.wakeup.wait()

    def _members_chunk(self, session: Session, data: JSON) -> None:
        guild = self.world.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        prefix = (data.get("query") or "").lower()
        members = [
            payloads.member(m)
            for m in guild.members.values()
            if (not wanted or m.user.id in wanted) and m.user.name.lower().startswith(prefix)
        ]
        limit = data.get("limit") or 0
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": members[:limit] if limit else members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        self.dispatch("GUILD_MEMBERS_CHUNK", chunk, session=session)
