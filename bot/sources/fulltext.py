"""Full text for feeds that carry only a teaser (`full_text = true` on a source).

For each new item of such a source (after its first poll, and at most `full_text_max` per poll),
the linked page is fetched with the same fetcher as feeds (SSRF guard, size cap, at most 2
requests per host) spaced by `min_interval_seconds` (default 1), and its article text is
extracted with trafilatura. The source's own `headers` (API keys, cookies) are never sent to
item pages, whatever their host. The longer of teaser and article is matched and stored; a page
that cannot be fetched or read leaves the teaser as it was.

Document bodies (`body_agencies` on a Federal Register source, see federal_register.py): for each
new item whose entry names a `body_url`, at most `body_max` (default 10) per poll, the text is
fetched the same way (SSRF guard, size cap, spacing), reduced to plain text and cut at
`body_max_chars` (default 200,000) characters; it is appended to the item's text after " — Full
text: " so it is matched, and `why` says a term was found in the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import FetchError, ParseError
from bot.sources.htmltext import TEXT_MAX_CHARS, html_to_text, plain_text
from bot.sources.http import Fetcher
from bot.sources.workers import InThread, Offload

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_POLL = 10
DEFAULT_MIN_INTERVAL = 1.0
DEFAULT_BODY_MAX = 10
DEFAULT_BODY_MAX_CHARS = 200_000


def wants_full_text(options: Mapping[str, Any]) -> bool:
    """Tell whether a source asks for its items' full text."""
    return options.get("full_text") is True


def _count(options: Mapping[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def max_per_poll(options: Mapping[str, Any]) -> int:
    """Return how many linked pages one poll may fetch."""
    return _count(options, "full_text_max", DEFAULT_MAX_PER_POLL)


def wants_bodies(options: Mapping[str, Any]) -> bool:
    """Tell whether a source asks for the bodies of its documents (Federal Register)."""
    return bool(options.get("body_agencies"))


def max_bodies(options: Mapping[str, Any]) -> int:
    """Return how many document bodies one poll may fetch."""
    return _count(options, "body_max", DEFAULT_BODY_MAX)


def _spacing(options: Mapping[str, Any]) -> float:
    interval = options.get("min_interval_seconds", DEFAULT_MIN_INTERVAL)
    return float(interval) if isinstance(interval, int | float) and not isinstance(interval, bool) else 1.0


def extract_article(body: bytes, url: str) -> str | None:
    """Return the main text of an HTML page, or None when there is none."""
    try:
        # Imported on first use: it is slow to import and most sources never need it.
        import trafilatura

        text = trafilatura.extract(body, url=url, include_comments=False, favor_precision=True)
    except Exception as exc:  # a broken install or the extractor's failure must not stop a poll
        log.info("could not extract the article text of %s: %r", url, exc)
        return None
    return text[:TEXT_MAX_CHARS] if text else None


async def fetch_article_page(
    fetcher: Fetcher, url: str, options: Mapping[str, Any]
) -> tuple[bytes, str] | None:
    """Fetch a linked page; return its body and final URL, or None (logged) when it is no web page."""
    try:
        # No source headers: an item's page is not the source, and its link comes from the feed.
        fetched = await fetcher.fetch(url, min_interval=_spacing(options))
    except FetchError as exc:
        log.info("full text of %s not fetched: %s", url, exc)
        return None
    content_type = (fetched.content_type or "").lower()
    if content_type and "html" not in content_type:
        log.info("full text of %s not read: %s is not a web page", url, content_type)
        return None
    return bytes(fetched.body), fetched.url


async def fetch_article(
    fetcher: Fetcher, url: str, options: Mapping[str, Any], *, offload: Offload | None = None
) -> str | None:
    """Fetch a linked page and return its article text, or None (logged) when that fails."""
    page = await fetch_article_page(fetcher, url, options)
    if page is None:
        return None
    try:
        return await (offload or InThread()).run(extract_article, *page)
    except ParseError as exc:  # the extraction overran its deadline
        log.info("full text of %s not read: %s", url, exc)
        return None


def body_text(body: bytes, content_type: str | None, limit: int) -> str:
    """Return a document body as plain text: HTML reduced to its text, plain text as it is."""
    text = bytes(body).decode("utf-8", errors="replace")
    kind = (content_type or "").lower()
    if "html" in kind or text.lstrip()[:15].lower().startswith(("<!doctype", "<html", "<pre")):
        return html_to_text(text, limit=limit)
    return plain_text(text, limit=limit)


async def fetch_body(fetcher: Fetcher, url: str, options: Mapping[str, Any]) -> str | None:
    """Fetch a document's full text (plain text or HTML), or None (logged) when that fails."""
    limit = _count(options, "body_max_chars", DEFAULT_BODY_MAX_CHARS)
    try:
        # No source headers here either: the body's address comes from the document, not the source.
        fetched = await fetcher.fetch(url, min_interval=_spacing(options))
    except FetchError as exc:
        log.info("body of %s not fetched: %s", url, exc)
        return None
    kind = (fetched.content_type or "").lower()
    if kind and not kind.startswith(("text/", "application/xhtml")):
        log.info("body of %s not read: %s is not text", url, kind)
        return None
    text = await asyncio.to_thread(body_text, fetched.body, fetched.content_type, limit)
    return text or None
