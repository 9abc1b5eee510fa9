"""Read Federal Register API responses: document searches, documents, and public inspection.

Shapes accepted: a search (`documents.json?conditions[term]=…`: `{count, results[], next_page_url}`),
a multi-document fetch (`{count, results[]}`), a single document (no envelope), and public
inspection (`public-inspection-documents/current.json`: results carry `filing_type`, `filed_at`).

Rules, in order:

1. The body must be a JSON object. A search with no hits omits `results` altogether; that is an
   empty page, not an error. `results` missing while `count` says there are hits is an error.
2. Each result becomes an entry: guid = `document_number` (the same number later appears in
   `documents.json`, so a public-inspection filing and its publication share it); title =
   "FR Doc. <number> — <title>" (the official identifier first, DESIGN 4; plus the executive
   order number when there is one); link = `html_url`, else `pdf_url`.
3. Text: document type and agencies, the `action` line, then the abstract (else the search
   excerpts); public inspection adds when it was filed and when it publishes.
4. Published: `publication_date` for documents; `filed_at` for public inspection, because that is
   when a filing becomes public (its publication date is usually in the future).
5. `next_page_url` becomes ParsedFeed.next_url only when it stays on the host that was fetched:
   the adapter never makes anything else get fetched. `follow_pages` (for the poller) and
   `fetch_all_pages` fetch those pages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from bot.domain.errors import ParseError
from bot.domain.models import Entry, ParsedFeed
from bot.sources.htmltext import TEXT_MAX_CHARS
from bot.sources.http import Fetcher
from bot.sources.jsondoc import day_of, dicts, http_link, load_json, shape_error, text_of
from bot.sources.parse import parse_date
from bot.sources.workers import InThread, Offload

log = logging.getLogger(__name__)

_MAX_RESULTS = 1000  # the API's own per_page maximum
_ENVELOPE_KEYS = ("count", "results", "description", "total_pages", "next_page_url")


def parse_federal_register(
    body: bytes, *, content_type: str | None, url: str, options: Mapping[str, Any], max_bytes: int
) -> ParsedFeed:
    """Parse a Federal Register API response into one entry per document."""
    doc = load_json(body, max_bytes=max_bytes, what="a Federal Register API response")
    if not isinstance(doc, dict):
        raise shape_error(doc, "a Federal Register API response")
    if "document_number" in doc and "results" not in doc:
        results: list[Mapping[str, Any]] = [doc]  # documents/{number}.json: no envelope at all
    elif "results" in doc:
        if not isinstance(doc["results"], list):
            raise ParseError("Federal Register response: 'results' is not a list")
        results = dicts(doc["results"])
    elif any(key in doc for key in _ENVELOPE_KEYS):
        count = doc.get("count")
        if isinstance(count, int) and count > 0:
            raise ParseError(f"Federal Register response says count {count} but has no results")
        results = []  # the API leaves `results` out when nothing matches
    else:
        raise shape_error(doc, "a Federal Register API response")
    entries = [_entry(raw) for raw in results[:_MAX_RESULTS]]
    description = text_of(doc.get("description"))
    return ParsedFeed(
        title=f"Federal Register: {description}" if description else "Federal Register",
        format="federal_register",
        entries=entries,
        parser="federal_register",
        next_url=_same_host(doc.get("next_page_url"), url),
    )


def fr_title(number: str, title: str, executive_order: str = "") -> str:
    """Return "FR Doc. <number> — <title> (E.O. <n>)", leaving out whatever is missing."""
    head = f"FR Doc. {number}" if number else ""
    tail = f"{title} (E.O. {executive_order})" if executive_order and title else title
    if head and tail:
        return f"{head} — {tail}"
    return head or tail or "Federal Register document"


def _same_host(next_url: object, page_url: str) -> str | None:
    link = http_link(next_url)
    if link is None or not page_url:
        return None
    try:
        a, b = urlsplit(link), urlsplit(page_url)
    except ValueError:
        return None
    if (a.scheme.lower(), a.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        log.warning("ignoring a next page on another host: %s (page %s)", link, page_url)
        return None
    return link


def _agencies(raw: Mapping[str, Any]) -> list[str]:
    names = [text_of(a.get("name") or a.get("raw_name")) for a in dicts(raw.get("agencies"))]
    if not any(names):
        names = [text_of(n) for n in raw.get("agency_names") or [] if isinstance(n, str)]
    return [n for n in names if n]


def _excerpts(value: object) -> str:
    # A string in the API; an array in some clients' saved responses. Search hits are wrapped in
    # <span class="match">, so it is HTML either way.
    if isinstance(value, list):
        value = " … ".join(v for v in value if isinstance(v, str))
    return text_of(value, limit=TEXT_MAX_CHARS, html=True)


def _entry(raw: Mapping[str, Any]) -> Entry:
    number = text_of(raw.get("document_number"))
    inspection = "filing_type" in raw or "filed_at" in raw
    title = text_of(raw.get("title")) or " ".join(
        s for s in (text_of(raw.get(f"subject_{n}")) for n in (1, 2, 3)) if s
    )
    kind = text_of(raw.get("type"))
    if subtype := text_of(raw.get("subtype")):
        kind = f"{kind} ({subtype})" if kind else subtype
    agencies = _agencies(raw)
    header = " — ".join(p for p in (kind, ", ".join(agencies)) if p)
    parts = [f"{header}." if header else ""]
    parts.append(text_of(raw.get("action"), limit=TEXT_MAX_CHARS))
    parts.append(text_of(raw.get("abstract"), limit=TEXT_MAX_CHARS) or _excerpts(raw.get("excerpts")))
    filed = parse_date(text_of(raw.get("filed_at")))
    if inspection:
        filing = text_of(raw.get("filing_type"))
        when = f" {filed:%Y-%m-%d %H:%M} UTC" if filed else ""
        parts.append(f"Filed for public inspection{when}" + (f" ({filing} filing)." if filing else "."))
        if publishes := text_of(raw.get("publication_date")):
            parts.append(f"Publishes {publishes}.")
        parts.append(text_of(raw.get("editorial_note"), limit=TEXT_MAX_CHARS))
    return Entry(
        guid=number or None,
        link=http_link(raw.get("html_url")) or http_link(raw.get("pdf_url")),
        title=fr_title(number, title, text_of(raw.get("executive_order_number"))),
        text=text_of(" ".join(p for p in parts if p), limit=TEXT_MAX_CHARS),
        published=filed if inspection else day_of(raw.get("publication_date")),
    )


async def _fetch_page(
    fetcher: Fetcher, url: str, options: Mapping[str, Any] | None, max_bytes: int, offload: Offload | None
) -> tuple[ParsedFeed, str]:
    fetched = await fetcher.fetch(url)
    page = await (offload or InThread()).run(
        parse_federal_register,
        fetched.body,
        content_type=fetched.content_type,
        url=fetched.url,
        options=options or {},
        max_bytes=max_bytes,
    )
    return page, fetched.url


async def follow_pages(
    fetcher: Fetcher,
    first: ParsedFeed,
    *,
    url: str,
    max_pages: int,
    max_bytes: int,
    options: Mapping[str, Any] | None = None,
    offload: Offload | None = None,
) -> ParsedFeed:
    """Fetch the pages after `first` (fetched from `url`; at most `max_pages` in all) as one feed.

    Raises FetchError or ParseError when a later page fails, so that a poll never records half a
    search as if it were all of it; the poll is retried whole.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    entries = list(first.entries)
    next_url = first.next_url
    seen = {url}  # a page that points back ends the walk
    pages = 1
    while next_url and pages < max_pages and next_url not in seen:
        seen.add(next_url)
        page, _ = await _fetch_page(fetcher, next_url, options, max_bytes, offload)
        entries.extend(page.entries)
        next_url = page.next_url
        pages += 1
    if next_url and next_url not in seen:
        # With order=newest the pages left are the older documents; polls come often enough.
        log.info("stopped after %d pages; more remain at %s", pages, next_url)
    return replace(first, entries=entries, next_url=next_url if next_url not in seen else None)


async def fetch_all_pages(
    fetcher: Fetcher,
    url: str,
    max_pages: int,
    *,
    max_bytes: int = 50 * 1024 * 1024,
    options: Mapping[str, Any] | None = None,
    offload: Offload | None = None,
) -> ParsedFeed:
    """Fetch a Federal Register search and its next pages (at most `max_pages`) as one feed."""
    first, final_url = await _fetch_page(fetcher, url, options, max_bytes, offload)
    return await follow_pages(
        fetcher,
        first,
        url=final_url,
        max_pages=max_pages,
        max_bytes=max_bytes,
        options=options,
        offload=offload,
    )
