"""Full text for feeds that carry only a teaser (`full_text = true` on a source).

For each new item of such a source (after its first poll, and at most `full_text_max` per poll),
the linked page is fetched with the same fetcher as feeds (SSRF guard, size cap, at most 2
requests per host) spaced by `min_interval_seconds` (default 1), and its article text is
extracted with trafilatura. The longer of teaser and article is matched and stored; a page
that cannot be fetched or read leaves the teaser as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import FetchError, ParseError
from bot.sources.fallback import source_headers
from bot.sources.htmltext import TEXT_MAX_CHARS
from bot.sources.http import Fetcher
from bot.sources.workers import InThread, Offload

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_POLL = 10
DEFAULT_MIN_INTERVAL = 1.0


def wants_full_text(options: Mapping[str, Any]) -> bool:
    """Tell whether a source asks for its items' full text."""
    return options.get("full_text") is True


def max_per_poll(options: Mapping[str, Any]) -> int:
    """Return how many linked pages one poll may fetch."""
    value = options.get("full_text_max", DEFAULT_MAX_PER_POLL)
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else DEFAULT_MAX_PER_POLL
    )


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
    interval = options.get("min_interval_seconds", DEFAULT_MIN_INTERVAL)
    spacing = float(interval) if isinstance(interval, int | float) and not isinstance(interval, bool) else 1.0
    try:
        fetched = await fetcher.fetch(url, headers=source_headers(options), min_interval=spacing)
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
