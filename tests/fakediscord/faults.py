"""Replies, Discord's error bodies and injected faults (429, 5xx, 403, 404, ...)."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Bodies Discord sends for the errors tests inject most; 404 depends on what was not found.
ERRORS: dict[int, dict[str, Any]] = {
    400: {"message": "400: Bad Request", "code": 0},
    401: {"message": "401: Unauthorized", "code": 0},
    403: {"message": "Missing Permissions", "code": 50013},
    404: {"message": "Unknown Channel", "code": 10003},
    405: {"message": "405: Method Not Allowed", "code": 0},
    500: {"message": "500: Internal Server Error", "code": 0},
    502: {"message": "502: Bad Gateway", "code": 0},
    503: {"message": "503: Service Unavailable", "code": 0},
    504: {"message": "504: Gateway Timeout", "code": 0},
}
NOT_FOUND_BY_PATH = (
    (re.compile(r"^/interactions/"), {"message": "Unknown interaction", "code": 10062}),
    (re.compile(r"^/webhooks/"), {"message": "Unknown Webhook", "code": 10015}),
    (re.compile(r"^/channels/\d+/messages/\d+"), {"message": "Unknown Message", "code": 10008}),
    (re.compile(r"^/guilds/\d+/members/"), {"message": "Unknown Member", "code": 10007}),
    (re.compile(r"^/guilds/"), {"message": "Unknown Guild", "code": 10004}),
)


@dataclass
class Reply:
    """What a route handler answers: status, JSON body (None for 204) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_web(self) -> web.Response:
        """Build the aiohttp response; Content-Type must be exactly application/json for discord.py."""
        if self.body is None and self.status == 204:
            return web.Response(status=204, headers=self.headers)
        return web.Response(
            status=self.status,
            body=json.dumps(self.body).encode(),
            headers={"Content-Type": "application/json", **self.headers},
        )


def error(status: int, path: str = "", **overrides: Any) -> Reply:
    """Return Discord's usual error reply for a status (and path, for 404s)."""
    body = dict(ERRORS.get(status, {"message": f"{status}: Error", "code": 0}))
    if status == 404:
        body = next((dict(b) for pattern, b in NOT_FOUND_BY_PATH if pattern.search(path)), body)
    body.update(overrides)
    return Reply(status, body)


def rate_limited(retry_after: float, *, is_global: bool = False, bucket: str = "fake-bucket") -> Reply:
    """Return a 429 that discord.py retries: a Via header and a JSON body with retry_after."""
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return Reply(429, body, headers)


@dataclass
class Fault:
    """An injected failure for requests whose method and path match, for `times` requests (None: always)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int | None = 1
    retry_after: float | None = None
    body: Any = None
    is_global: bool = False
    after_commit: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault still applies to the request."""
        live = self.times is None or self.hits < self.times
        return live and self.method in (method, "*") and self.pattern.search(path) is not None

    def reply(self, path: str) -> Reply:
        """Count a hit and build the failing reply."""
        self.hits += 1
        if self.status == 429:
            reply = rate_limited(
                self.retry_after if self.retry_after is not None else 0.05, is_global=self.is_global
            )
        else:
            reply = error(self.status, path)
            if self.retry_after is not None:
                reply.headers["Retry-After"] = str(math.ceil(self.retry_after))
        if self.body is not None:
            reply.body = self.body
        return reply
