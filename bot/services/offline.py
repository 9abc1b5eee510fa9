"""`regwatch match`: which subscriptions of a file match which entries of a document, offline.

No database: each document (a file, or a URL fetched once) is parsed as whatever kind its
content tells (bot/sources/adapters.py: detect), every entry is classified and matched, and
each (entry, subscription) match is one row of the contract's JSON lines.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config_files import FileSubscription
from bot.domain.errors import FetchError
from bot.domain.explain import classify_verdict
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc, ParsedFeed
from bot.domain.semantics import source_context, source_field
from bot.sources.adapters import parse_any

if TYPE_CHECKING:  # aiohttp: imported only when a document is a URL
    from bot.sources.http import FetchResult

# Fetch one URL (the CLI opens the HTTP client only when a document is a URL).
Fetch = Callable[[str], Awaitable["FetchResult"]]


async def read_document(location: str, fetch: Fetch) -> ParsedFeed:
    """Read a document from an http(s) URL or a file path and parse it as its content tells."""
    if location.startswith(("http://", "https://")):
        fetched = await fetch(location)
        return await asyncio.to_thread(
            parse_any, fetched.body, content_type=fetched.content_type, url=location
        )
    try:
        body = await asyncio.to_thread(Path(location).read_bytes)
    except OSError as exc:
        raise FetchError(f"cannot read {location}: {exc.strerror}") from None
    return await asyncio.to_thread(parse_any, body, url=location)


@dataclass(frozen=True)
class OfflineMatcher:
    """The subscriptions of a file, compiled once, matched against one document at a time."""

    named: Sequence[FileSubscription]
    matcher: Matcher

    @classmethod
    def build(cls, named: Sequence[FileSubscription]) -> OfflineMatcher:
        """Compile the subscriptions (kept to the end of the command)."""
        matcher = Matcher((i, entry.parsed) for i, entry in enumerate(named))
        gc.freeze()  # built once and kept to the end: later collections need not walk it again
        return cls(named, matcher)

    def match(self, parsed: ParsedFeed, origin: str) -> list[dict[str, Any]]:
        """Return one row per (entry, matching subscription), in the contract's field order."""
        source = parsed.title or origin
        rows: list[dict[str, Any]] = []
        for entry in parsed.entries:
            context = source_context(None, page_title=entry.page_title, heading=entry.heading)
            action = classify_verdict(entry.title, entry.text, context).action
            where = source_field(
                source, None if entry.page_title == source else entry.page_title, entry.heading
            )
            doc = MatchDoc(title=entry.title, summary=entry.text, source=where, action=action)
            for m in self.matcher.match(doc):
                rows.append(
                    {
                        "subscription": self.named[m.subscription_id].name,
                        "title": entry.title,
                        "link": entry.link,
                        "published": entry.published.isoformat() if entry.published else None,
                        "source": source,
                        "terms": list(m.terms),
                        "action": doc.action,
                    }
                )
        return rows
