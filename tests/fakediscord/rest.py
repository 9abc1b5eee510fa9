"""The REST front: route table, bot-token check, fault injection, call recording, rate-limit headers."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakediscord.faults import Fault, Reply, error

log = logging.getLogger("fakediscord.rest")


@dataclass
class ApiRequest:
    """One REST request, with its path relative to /api/v10 and the route's path parameters."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)

    def id(self, name: str) -> int:
        """Return a snowflake path parameter."""
        return int(self.params[name])


@dataclass
class Call:
    """A recorded REST call and what the fake answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int
    response: Any


Handler = Callable[[ApiRequest], Awaitable[Reply]]


@dataclass
class Route:
    """One entry of the route table; `bot_auth` routes need `Authorization: Bot <token>`."""

    method: str
    template: str
    handler: Handler
    bot_auth: bool
    regex: re.Pattern[str]
    bucket: str


class Rest:
    """Route /api/v10 requests to handlers and record every call."""

    def __init__(self, token: str, on_change: Callable[[], None]) -> None:
        self.token = token
        self.on_change = on_change
        self.routes: list[Route] = []
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.unknown: list[Call] = []
        # Uploaded file contents by attachment url (Discord's CDN would serve them there).
        self.uploads: dict[str, bytes] = {}

    def add(self, method: str, template: str, handler: Handler, *, bot_auth: bool = True) -> None:
        """Register a handler for a path template such as /channels/{channel_id}/messages."""
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        bucket = hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]
        self.routes.append(Route(method, template, handler, bot_auth, re.compile(f"^{pattern}$"), bucket))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one HTTP request under /api/v10."""
        path = "/" + request.match_info["tail"]
        api = ApiRequest(request.method, path, dict(request.query), None, dict(request.headers))
        try:
            api.json = await _read_body(request, self.uploads)
        except ValueError:
            reply = error(400, message="The request body contains invalid JSON.", code=50109)
        else:
            reply = await self._answer(api)
        # A snapshot: stored messages change later (edits), the recorded answer must not.
        call = Call(
            api.method, path, api.query, api.json, api.headers, reply.status, copy.deepcopy(reply.body)
        )
        self.calls.append(call)
        self.on_change()
        return reply.to_web()

    async def _answer(self, api: ApiRequest) -> Reply:
        fault = next((f for f in self.faults if f.matches(api.method, api.path)), None)
        if fault is not None and not fault.after_commit:
            return fault.reply(api.path)
        route = self._match(api)
        if route is None:
            return self._unknown(api)
        if route.bot_auth and api.headers.get("Authorization") != f"Bot {self.token}":
            return error(401)
        reply = await route.handler(api)
        if fault is not None:
            # The request took effect, but the answer is lost: like a timeout after Discord committed.
            return fault.reply(api.path)
        if 200 <= reply.status < 300:
            reply.headers.update(_rate_limit_headers(route.bucket))
        return reply

    def _match(self, api: ApiRequest) -> Route | None:
        for route in self.routes:
            found = route.regex.match(api.path)
            if found and route.method == api.method:
                api.params = found.groupdict()
                return route
        return None

    def _unknown(self, api: ApiRequest) -> Reply:
        # Loud on purpose: a call the fake does not model is a gap in the tests, not a detail.
        known_path = any(r.regex.match(api.path) for r in self.routes)
        log.error("fake Discord has no route for %s %s", api.method, api.path)
        self.unknown.append(Call(api.method, api.path, api.query, api.json, api.headers, 404, None))
        if known_path:
            return error(405)
        return Reply(404, {"message": f"404: Not Found ({api.method} {api.path} is not faked)", "code": 0})


async def _read_body(request: web.Request, uploads: dict[str, bytes]) -> Any:
    if not request.body_exists:
        return None
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request, uploads)
    text = await request.text()
    return json.loads(text) if request.content_type == "application/json" else text


async def _read_multipart(request: web.Request, uploads: dict[str, bytes]) -> Any:
    form = await request.post()
    body = json.loads(str(form.get("payload_json", "{}")))
    files = [v for v in form.values() if isinstance(v, web.FileField)]
    body["attachments"] = []
    for n, f in enumerate(files):
        data = f.file.read()
        url = f"http://127.0.0.1/attachments/{len(uploads)}/{n}/{f.filename}"
        uploads[url] = data
        body["attachments"].append(
            {
                "id": str(n),
                "filename": f.filename,
                "size": len(data),
                "url": url,
                "proxy_url": url,
                "content_type": f.content_type,
            }
        )
    return body


def _rate_limit_headers(bucket: str) -> dict[str, str]:
    # A roomy bucket: discord.py learns the bucket hash but never has to wait on it.
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }
