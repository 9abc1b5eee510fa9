"""Turn a fetched document into entries according to the source's kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.domain.errors import ParseError, WrongShape
from bot.domain.models import ParsedFeed
from bot.sources.cisa_kev import parse_kev
from bot.sources.csaf_rolie import parse_rolie
from bot.sources.federal_register import parse_federal_register
from bot.sources.pagewatch import parse_page
from bot.sources.parse import parse_feed
from bot.sources.publisher import strip_publisher_suffix

# An adapter reads one fetched body; it is synchronous (the pipeline runs it off the event loop)
# and raises only ParseError.
Adapter = Callable[..., ParsedFeed]

# Entries kept from one document, in document order, whatever the kind. Feeds keep their newest
# 5,000, the Federal Register its page size; this bounds the JSON catalogs (CISA KEV lists about 1,500 CVEs)
# so that a hostile document of tiny entries cannot fill the database in one poll.
MAX_ENTRIES_PER_DOCUMENT = 5_000


def _feed(
    body: bytes, *, content_type: str | None, url: str, options: Mapping[str, Any], max_bytes: int
) -> ParsedFeed:
    feed = parse_feed(body, content_type=content_type, url=url, max_decompressed_bytes=max_bytes)
    if options.get("strip_publisher_suffix") is True:
        feed = strip_publisher_suffix(feed)
    return feed


ADAPTERS: dict[str, Adapter] = {
    "feed": _feed,
    "federal_register": parse_federal_register,
    "cisa_kev": parse_kev,
    "csaf_rolie": parse_rolie,
    "html": parse_page,
}


def supported_kinds() -> tuple[str, ...]:
    """Return the source kinds this build can poll (a `search` source reads answers of another kind)."""
    return (*ADAPTERS, "search")


def parse_document(
    kind: str,
    body: bytes,
    *,
    content_type: str | None = None,
    url: str = "",
    options: Mapping[str, Any] | None = None,
    max_decompressed_bytes: int = 20_000_000,
) -> ParsedFeed:
    """Parse a body with the adapter of the source's kind."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise ParseError(f"source kind {kind!r} is not supported by this build")
    feed = adapter(
        body, content_type=content_type, url=url, options=options or {}, max_bytes=max_decompressed_bytes
    )
    if len(feed.entries) > MAX_ENTRIES_PER_DOCUMENT:
        feed = replace(feed, entries=feed.entries[:MAX_ENTRIES_PER_DOCUMENT])
    return feed


# The JSON adapters `detect` offers a JSON document that is not a JSON Feed to, in this order.
JSON_KINDS = ("cisa_kev", "csaf_rolie", "federal_register")


def detect(body: bytes, *, content_type: str | None = None, url: str = "") -> tuple[str, ParsedFeed]:
    """Tell a document's source kind from its content and parse it; return (kind, parsed).

    Feeds are tried first; a JSON document that is not a JSON Feed (a `WrongShape` error) is
    offered to the JSON adapters (CISA KEV, CSAF ROLIE, Federal Register) in turn. Page watches
    need a selector, so never here. Raises the feed's own ParseError when no adapter reads it.
    """
    try:
        return "feed", parse_document("feed", body, content_type=content_type, url=url)
    except WrongShape as feed_error:
        for kind in JSON_KINDS:
            try:
                return kind, parse_document(kind, body, content_type=content_type, url=url)
            except WrongShape:
                continue
        raise feed_error from None


def parse_any(body: bytes, *, content_type: str | None = None, url: str = "") -> ParsedFeed:
    """Parse a document of any supported kind that can be told from its content (feeds, JSON APIs)."""
    return detect(body, content_type=content_type, url=url)[1]
