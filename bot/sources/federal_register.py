"""Read Federal Register API responses: document searches, documents, and public inspection.

Shapes accepted: a search (`documents.json?conditions[term]=…`: `{count, results[], next_page_url}`),
a multi-document fetch (`{count, results[]}`), a single document (no envelope), and public
inspection (`public-inspection-documents/current.json`: results carry `filing_type`, `filed_at`).

Rules, in order:

1. The body must be a JSON object. A search with no hits omits `results` altogether; that is an
   empty page, not an error. `results` missing while `count` says there are hits is an error.
2. Each result becomes an entry: guid = `document_number` (the same number later appears in
   `documents.json`, so a public-inspection filing and its publication share it); title =
   "FR Doc. <number> — <title>" (the official identifier first, so every sink shows it; plus the executive
   order number when there is one); link = `html_url`, else `pdf_url`.
3. Text: document type and agencies, the `action` line, the abstract, then the search excerpts
   (what the search term hit, often deep in the body) unless the abstract already holds them;
   public inspection adds when it was filed and when it publishes.
4. Published: `publication_date` for documents; `filed_at` for public inspection, because that is
   when a filing becomes public (its publication date is usually in the future).
5. `next_page_url` becomes ParsedFeed.next_url only when it stays on the host that was fetched:
   the adapter never makes anything else get fetched. `follow_pages` (for the poller) and
   `fetch_all_pages` fetch those pages.
6. Requests name the fields they need (`with_fields`: `fields[]=title&fields[]=type&…`), since
   the API's default set has no `action`, `excerpts` or text URLs.
7. Bodies: a source with `body_agencies = ["industry-and-security-bureau", …]` (agency slugs)
   gives each document of those agencies a `body_url` (its `raw_text_url`, else
   `body_html_url`); the poller fetches it for new items only (bot/sources/fulltext.py), so an
   Entity List rule whose table names a vendor is matched on the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.domain.errors import ParseError
from bot.domain.models import Entry, ParsedFeed
from bot.sources.htmltext import TEXT_MAX_CHARS
from bot.sources.jsondoc import day_of, dicts, http_link, load_json, shape_error, text_of
from bot.sources.parse import parse_date
from bot.sources.workers import InThread, Offload

if TYPE_CHECKING:  # aiohttp: not imported by what only parses (`regwatch match` on a file)
    from bot.sources.http import Fetcher

log = logging.getLogger(__name__)

_MAX_RESULTS = 1000  # the API's own per_page maximum
# What an entry is made of; the API's default field set lacks action, excerpts and text URLs.
FIELDS = (
    "title",
    "type",
    "subtype",
    "abstract",
    "excerpts",
    "action",
    "agencies",
    "document_number",
    "executive_order_number",
    "html_url",
    "pdf_url",
    "publication_date",
    "raw_text_url",
    "body_html_url",
)
_DOCUMENT_PATHS = ("/api/v1/documents.json", "/api/v1/documents/")
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
    body_agencies = _body_agencies(options)
    entries = [_entry(raw, body_agencies) for raw in results[:_MAX_RESULTS]]
    description = text_of(doc.get("description"))
    return ParsedFeed(
        title=f"Federal Register: {description}" if description else "Federal Register",
        format="federal_register",
        entries=entries,
        parser="federal_register",
        next_url=_same_host(doc.get("next_page_url"), url),
    )


def with_fields(url: str) -> str:
    """Add `fields[]` for every field an entry needs to a documents URL that names none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.path.startswith(_DOCUMENT_PATHS) or not parts.path.endswith(".json"):
        return url  # public inspection and other endpoints answer with their own fields
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "fields[]" for key, _ in query):
        return url  # the source chose its fields
    query += [("fields[]", name) for name in FIELDS]
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


def _body_agencies(options: Mapping[str, Any]) -> frozenset[str]:
    value = options.get("body_agencies")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v.strip().lower() for v in value if isinstance(v, str) and v.strip())


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


def _slugs(raw: Mapping[str, Any]) -> set[str]:
    return {text_of(a.get("slug")).lower() for a in dicts(raw.get("agencies")) if a.get("slug")}


def _excerpts(value: object) -> str:
    # A string in the API; an array in some clients' saved responses. Search hits are wrapped in
    # <span class="match">, so it is HTML either way.
    if isinstance(value, list):
        value = " … ".join(v for v in value if isinstance(v, str))
    return text_of(value, limit=TEXT_MAX_CHARS, html=True)


def _entry(raw: Mapping[str, Any], body_agencies: frozenset[str] = frozenset()) -> Entry:
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
    abstract = text_of(raw.get("abstract"), limit=TEXT_MAX_CHARS)
    excerpts = _excerpts(raw.get("excerpts"))
    parts.append(abstract)
    if excerpts and " ".join(excerpts.strip(" .…").split()) not in " ".join(abstract.split()):
        # The excerpts show where the search term is, often in the body the abstract leaves out.
        parts.append(f"Excerpts: {excerpts}" if abstract else excerpts)
    filed = parse_date(text_of(raw.get("filed_at")))
    if inspection:
        filing = text_of(raw.get("filing_type"))
        when = f" {filed:%Y-%m-%d %H:%M} UTC" if filed else ""
        parts.append(f"Filed for public inspection{when}" + (f" ({filing} filing)." if filing else "."))
        if publishes := text_of(raw.get("publication_date")):
            parts.append(f"Publishes {publishes}.")
        parts.append(text_of(raw.get("editorial_note"), limit=TEXT_MAX_CHARS))
    body_url = None
    if body_agencies and _slugs(raw) & body_agencies:
        body_url = http_link(raw.get("raw_text_url")) or http_link(raw.get("body_html_url"))
    return Entry(
        guid=number or None,
        link=http_link(raw.get("html_url")) or http_link(raw.get("pdf_url")),
        body_url=body_url,
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
