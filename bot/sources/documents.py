"""Read one source's document as its kind reads it: the request URL, the parse, the later pages.

The poller knows no kind: a kind that asks for its fields in the URL or answers in pages says so
here, and its adapter module owns how (the Federal Register: `with_fields`, `follow_pages`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.models import ParsedFeed
from bot.sources import federal_register
from bot.sources.adapters import parse_document
from bot.sources.entries import preselect
from bot.sources.fallback import fetch_with_mirror
from bot.sources.http import Fetcher, FetchResult
from bot.sources.workers import Offload

# Kinds that follow ParsedFeed.next_url: (fetcher, first page, url, max_pages, max_bytes, options, offload).
NextPages = Callable[..., Awaitable[ParsedFeed]]


@dataclass(frozen=True)
class KindReading:
    """How a kind reads its document beyond one GET and one parse."""

    request_url: Callable[[str], str] = str
    next_pages: NextPages | None = None


_READINGS: dict[str, KindReading] = {
    "federal_register": KindReading(federal_register.with_fields, federal_register.follow_pages),
}
_PLAIN = KindReading()


async def fetch_document(
    fetcher: Fetcher,
    kind: str,
    url: str,
    options: Mapping[str, Any],
    *,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    """Fetch a source's first page (conditionally, from its mirror when refused); raise FetchError."""
    request = _READINGS.get(kind, _PLAIN).request_url(url)
    return await fetch_with_mirror(fetcher, request, options, etag=etag, last_modified=last_modified)


async def parse_pages(
    fetcher: Fetcher,
    kind: str,
    fetched: FetchResult,
    options: Mapping[str, Any],
    *,
    offload: Offload,
    max_pages: int,
    max_bytes: int,
    known: Collection[str] | None = None,
) -> ParsedFeed:
    """Parse a fetched first page with the kind's adapter, then read its later pages, if it has any.

    `known`: identities the source is believed to have stored; a one-page kind's worker then
    sends only the other entries, converted (`bot.sources.entries.preselect`).
    Raises ParseError, FetchError (a later page failed: the poll is retried whole) or WorkerStopped.
    """
    next_pages = _READINGS.get(kind, _PLAIN).next_pages
    call: tuple[Any, ...] = (parse_document,)
    if known and next_pages is None:
        call = (preselect, known, parse_document)
    feed: ParsedFeed = await offload.run(
        *call,
        kind,
        fetched.body,
        content_type=fetched.content_type,
        url=fetched.url,
        options=options,
        max_decompressed_bytes=max_bytes,
    )
    if feed.next_url and next_pages is not None:
        feed = await next_pages(
            fetcher,
            feed,
            url=fetched.url,
            max_pages=max_pages,
            max_bytes=max_bytes,
            options=options,
            offload=offload,
        )
    return feed
