"""Seeded generator of realistic RSS feeds, and a local aiohttp server for them (benchmarks only)."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

WORDS = [
    "agency",
    "regulator",
    "directive",
    "security",
    "federal",
    "vendor",
    "software",
    "network",
    "update",
    "guidance",
    "report",
    "department",
    "commerce",
    "ministry",
    "national",
    "cyber",
    "risk",
    "supply",
    "chain",
    "government",
    "systems",
    "equipment",
    "telecommunications",
    "announced",
    "warning",
    "critical",
    "infrastructure",
    "remove",
    "prohibit",
    "rule",
    "notice",
    "entity",
    "list",
    "covered",
    "companies",
    "products",
    "services",
    "data",
    "privacy",
    "investigation",
    "fine",
    "market",
]
VENDORS = ["Kaspersky", "Huawei", "ZTE", "Hikvision", "Dahua", "TP-Link", "DJI", "Hytera"]


def _paragraph(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(VENDORS) if rng.random() < 0.004 else rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def make_feed(feed_no: int, *, items: int = 50, item_chars: int = 1500, generation: int = 0) -> bytes:
    """Return an RSS 2.0 document of `items` items with HTML descriptions of about item_chars each."""
    rng = random.Random(feed_no * 1000 + generation)
    base = datetime(2026, 11, 27, 12, tzinfo=UTC) + timedelta(hours=generation)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Bench feed {feed_no}</title><link>https://feed{feed_no}.example/</link>",
        "<description>generated</description>",
    ]
    for n in range(items):
        ident = generation * 10_000 + n if n < 5 else n  # each generation replaces 5 items
        title = _paragraph(rng, 60).capitalize()
        body = f"<p><strong>{_paragraph(rng, 80)}</strong></p><p>{_paragraph(rng, item_chars - 120)}</p>"
        when = format_datetime(base - timedelta(minutes=n))
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://feed{feed_no}.example/a/{ident}</link>"
            f"<guid>https://feed{feed_no}.example/a/{ident}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(body)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve(port_queue: object, feeds: int, items: int, generation_file: str) -> None:
    """Serve /feed/N with ETag/304 until killed; the generation file switches content."""
    cache: dict[tuple[int, int], bytes] = {}

    def body_for(n: int) -> bytes:
        with open(generation_file) as fh:
            generation = int(fh.read().strip() or 0)
        key = (n, generation)
        if key not in cache:
            cache[key] = make_feed(n, items=items, generation=generation)
        return cache[key]

    serve_bodies(port_queue, body_for)


def serve_bodies(port_queue: object, body_for: Callable[[int], bytes]) -> None:
    """Serve /feed/N as `body_for(N)`, with an ETag (304 when it matches), on a free port until killed.

    Runs in its own process: puts the port on `port_queue`, then serves forever.
    """
    from aiohttp import web

    etags: dict[bytes, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        body = body_for(int(request.match_info["n"]))
        etag = etags.get(body)
        if etag is None:
            etag = etags[body] = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        port_queue.put(port)  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    asyncio.run(main())
