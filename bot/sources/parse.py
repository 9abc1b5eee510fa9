"""Parse a fetched feed document (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into plain-text entries.

Rules apply in this order:

1. Size and shape: an empty body, a body over the size cap, a gzip body (magic 1f 8b, however it
   was served) that inflates past the cap, and truncated or corrupt gzip are refused.
2. Sniffing, from the bytes: `{` or `[` first means JSON, which must be a JSON Feed; otherwise the
   first XML element decides. An `<html>` root or an HTML doctype is refused as "not a feed"; so is
   a `text/html` content type, unless the body's root really is a feed (servers that label feeds
   text/html are common, and the root is the stronger evidence).
3. The document type declaration is cut out before any parser sees it. Entity declarations, and
   with them entity expansion (billion laughs) and external entities (XXE), are never processed;
   a reference to an entity that only the DTD defined stays literal text.
4. Fast path: the document must parse with strict expat (well-formed, namespaces bound, encoding
   known). One pass reads the feed title and TTL and each entry's raw fields: title (else
   dc:title, else media:title), guid, links, dates, summary (else content, else itunes:summary,
   else media:description), author. A field holding child elements (inline XHTML, or an RSS
   description with naked `<p>`) is written back as HTML, its text escaped.
5. Otherwise feedparser (lenient, slower) reads the document.
6. Every path builds entries the same way: guid only from an explicit guid/id/rdf:about (never
   from the link), link from the item's link (else an alternate link, else a permalink guid),
   relative links resolved against xml:base and the feed URL, non-http(s) links and malformed
   URLs dropped, title and text as capped plain text, dates as UTC datetimes between 1990 and 2100
   or None. HTML (RSS description, Atom type="html", inline XHTML) loses its tags, scripts and
   comments; text that may be plain (RSS titles, Atom type="text") stays as written unless it
   looks like HTML by feedparser's own test, so "Use Vec&lt;T&gt;" keeps its T. Atom base64
   (0.3 mode="base64", 1.0 non-text media types) is decoded. An entry with no guid, link, title
   or text cannot be identified or shown, and is dropped.
7. At most `max_entries` (5,000) entries are kept: the newest by date, in document order; a cut
   is logged as a warning with the feed URL.

docs/parsing.md has the conformance run against feedparser's test corpus and what differs by design.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import entities as html_entities
from io import BytesIO
from typing import Any, TypeVar, cast
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

import feedparser
from feedparser.datetimes import _parse_date as _feedparser_parse_date
from feedparser.sanitizer import _HTMLSanitizer

from bot.domain.errors import ParseError
from bot.domain.models import Entry, ParsedFeed
from bot.sources.entries import LazyEntries
from bot.sources.htmltext import TITLE_MAX_CHARS, html_to_text, plain_text
from bot.sources.jsondoc import decode_json, shape_error

__all__ = ["looks_like_html", "parse_date", "parse_feed"]

log = logging.getLogger(__name__)

_AUTHOR_MAX_CHARS = 200
_GUID_MAX_CHARS = 2_048
_LINK_MAX_CHARS = 8_192
_TTL_MAX_MINUTES = 7 * 24 * 60  # a longer refresh hint would stall the source; a week is plenty
_YEAR_MIN, _YEAR_MAX = 1990, 2100
# Deeper element nesting than any feed needs; feedparser's time grows faster than linearly with depth
# (a 7 MB document of nested tags kept it busy for two minutes), so deeper documents are refused.
_MAX_DEPTH = 256
# HTML elements that never have content: `<br>` in a description opens nothing.
_VOID_ELEMENTS = frozenset(b"area base br col embed hr img input link meta param source track wbr".split())
# Tags as a lenient parser sees them, for measuring nesting before feedparser runs.
_TAG = re.compile(rb"<(/?)([A-Za-z_][^\s/<>]*)[^<>]*?(/?)>|<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.DOTALL)

_GZIP_MAGIC = b"\x1f\x8b"
_FEED_ROOTS = {"rss": "rss", "feed": "atom", "RDF": "rdf"}

# Namespaces as expat reports them ("uri local"); "" is no namespace.
_RSS_NAMESPACES = (
    "",
    "http://purl.org/rss/1.0/",
    "http://backend.userland.com/rss2",
    "http://backend.userland.com/rss",
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://channel.netscape.com/rdf/simple/0.9/",
)
_ATOM_NAMESPACES = ("http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#")
_DC = "http://purl.org/dc/elements/1.1/"
_DCTERMS = "http://purl.org/dc/terms/"
_RDF_ABOUT = "http://www.w3.org/1999/02/22-rdf-syntax-ns# about"
_XML_BASE = "http://www.w3.org/XML/1998/namespace base"


def _qname(ns: str, local: str) -> str:
    return f"{ns} {local}" if ns else local


# An Atom <feed> that forgot its namespace still has entries (feedparser reads them too).
_ENTRY_NAMES = frozenset(
    [_qname(ns, "item") for ns in _RSS_NAMESPACES] + [_qname(ns, "entry") for ns in (*_ATOM_NAMESPACES, "")]
)
_TTL_NAMES = frozenset(_qname(ns, "ttl") for ns in _RSS_NAMESPACES)
_CHANNEL_NAMES = frozenset(_qname(ns, "channel") for ns in _RSS_NAMESPACES)
_ATOM_FEED_NAMES = frozenset(_qname(ns, "feed") for ns in _ATOM_NAMESPACES)
_TITLE_NAMES = frozenset(_qname(ns, "title") for ns in (*_RSS_NAMESPACES, *_ATOM_NAMESPACES))
# Which child of an entry feeds which field; the mapping follows feedparser's, so that both paths
# read the same elements (dc:date is an update time there, pubDate a publication time).
_ENTRY_FIELDS: dict[str, str] = {
    **{_qname(ns, "title"): "title" for ns in (*_RSS_NAMESPACES, *_ATOM_NAMESPACES)},
    **{_qname(ns, "guid"): "guid" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "link"): "link" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "pubDate"): "published" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "description"): "summary" for ns in _RSS_NAMESPACES},
    # RSS <source> names the channel an item came from (Google News: the publisher).
    **{_qname(ns, "source"): "source" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "id"): "atom_id" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "link"): "atom_link" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "published"): "published" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "issued"): "published" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "updated"): "updated" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "modified"): "updated" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "created"): "created" for ns in _ATOM_NAMESPACES},
    **{_qname(ns, "summary"): "summary" for ns in _ATOM_NAMESPACES},
    _qname(_DC, "date"): "updated",
    _qname(_DC, "description"): "summary",
    _qname(_DCTERMS, "issued"): "published",
    _qname(_DCTERMS, "modified"): "updated",
    _qname(_DCTERMS, "created"): "created",
}

_WS = b" \t\r\n\x0c"
_NOT_WS = re.compile(rb"[^ \t\r\n\x0c]")
_UTF8_BOM = b"\xef\xbb\xbf"
_XML_NAME = re.compile(rb"[A-Za-z_:][-A-Za-z0-9_.:\x80-\xff]*")
_DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|[\[\]>]", re.DOTALL)
_XML_DECL_ENCODING = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")
_HAS_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=")
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Public API


def parse_feed(
    body: bytes,
    *,
    content_type: str | None = None,
    url: str = "",
    max_entries: int = 5000,
    max_decompressed_bytes: int = 20_000_000,
) -> ParsedFeed:
    """Parse a fetched feed document into plain-text entries, or raise ParseError saying why not."""
    doc = _prepare(body, content_type, max_decompressed_bytes)
    base = url if _is_http(url) else ""
    if doc.kind == "json":
        return _parse_json_feed(doc.data, doc.charset, base, max_entries)
    feed = _parse_fast(doc, base, max_entries)
    if feed is None:
        feed = _parse_with_feedparser(doc, base, max_entries)
    return feed


def parse_date(value: str | None) -> datetime | None:
    """Parse a feed date (RFC 822, ISO 8601 and the variants feedparser knows) into aware UTC."""
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > 100:
        return None
    recognised, parsed = _fast_date(value)
    if not recognised:
        try:
            st = _feedparser_parse_date(value)
        except Exception:  # a date handler choking on garbage must not fail the feed
            return None
        if st is None:
            return None
        try:
            year, month, day, hour, minute, second = (int(part) for part in st[:6])
            parsed = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (ValueError, OverflowError, TypeError):
            return None
    if parsed is None:
        return None
    return parsed if _YEAR_MIN <= parsed.year <= _YEAR_MAX else None


# ---------------------------------------------------------------------------------------------
# Dates

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(GMT|UTC|UT|Z|[+-]\d{4})"
)
_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*([Zz]|[+-]\d{2}:?\d{2})"
)


def _fast_date(value: str) -> tuple[bool, datetime | None]:
    """Parse the two common shapes directly: (False, None) leaves anything else to feedparser.

    A string of one of these shapes with impossible values (month 13, 31 February) is (True, None):
    feedparser's parser would roll "2021-13-45" over into 2022 instead of refusing it.
    """
    if m := _ISO8601.fullmatch(value):
        year, month, day, hour, minute, second, zone = m.groups()
        month_number = int(month)
    elif m := _RFC822.fullmatch(value):
        day, month, year, hour, minute, second, zone = m.groups()
        month_number = _MONTHS.get(month.lower(), 0)
    else:
        return False, None
    try:
        when = datetime(
            int(year), month_number, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC
        )
        if zone[0] in "+-":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            when = when - offset if zone[0] == "+" else when + offset
    except (ValueError, OverflowError):  # impossible fields, or year 1/9999 pushed out of range
        return True, None
    return True, when


# ---------------------------------------------------------------------------------------------
# Preparing the bytes


@dataclass(slots=True)
class _Document:
    kind: str  # "xml" or "json"
    data: bytes  # XML: ASCII-compatible, doctype removed; JSON: as sent (gunzipped)
    root: str = ""  # local name of the first element
    charset: str | None = None  # from Content-Type, for documents that declare nothing themselves


def _prepare(body: bytes, content_type: str | None, limit: int) -> _Document:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(body).__name__}")
    data = bytes(body)
    if len(data) > limit:
        raise ParseError(f"document is larger than {limit} bytes")
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, limit)
    media_type, charset = _split_content_type(content_type)
    data = _to_ascii_compatible(data)
    first = _NOT_WS.search(data, 3 if data.startswith(_UTF8_BOM) else 0)
    if first is None:
        raise ParseError("empty document")
    lead = data[first.start() : first.start() + 1]
    if lead in (b"{", b"["):
        return _Document("json", data, charset=charset)

    root, doctype_spans, doctype_name = _scan_prolog(data)
    local = root.rpartition(":")[2] if root else ""
    if doctype_name.lower() == "html" or local.lower() == "html":
        raise ParseError(_html_message(data))
    if media_type in ("text/html", "application/xhtml+xml") and local not in _FEED_ROOTS:
        raise ParseError(_html_message(data))
    if root is None:
        if lead != b"<":
            raise ParseError("not a feed: the document is neither XML nor JSON")
        raise ParseError("empty document: no XML element")
    for start, end in reversed(doctype_spans):
        data = data[:start] + data[end:]
    if charset and not _declares_encoding(data):
        data = _transcode(data, charset)
    return _Document("xml", data, root=local)


def _split_content_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    media_type = content_type.split(";", 1)[0].strip().lower()
    m = _CHARSET.search(content_type)
    return media_type, (m.group(1).lower() if m else None)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Inflate gzip member(s), refusing more than `limit` bytes of output (gzip bombs)."""
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest[:2] == _GZIP_MAGIC:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = inflater.decompress(rest, limit - size + 1)
            size += len(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise ParseError(f"gzip body inflates to more than {limit} bytes")
            if not inflater.eof:
                raise ParseError("truncated gzip data")
            out.append(chunk)
            rest = inflater.unused_data
    except zlib.error as exc:
        raise ParseError(f"corrupt gzip data: {exc}") from None
    return b"".join(out)


def _to_ascii_compatible(data: bytes) -> bytes:
    """Re-encode UTF-16/32 documents as UTF-8, so that byte-level sniffing works on every input."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif data.startswith((b"<\x00\x00\x00", b"\x00\x00\x00<")):
        encoding = "utf-32-le" if data[0] else "utf-32-be"
    elif data.startswith((b"<\x00", b"\x00<")):
        encoding = "utf-16-le" if data[0] else "utf-16-be"
    else:
        return data
    text = data.decode(encoding, errors="replace")
    # The declaration still names UTF-16; it must name what the bytes now are.
    return _XML_DECL_ENCODING.sub(r'\1"utf-8"', text, count=1).encode("utf-8")


def _declares_encoding(data: bytes) -> bool:
    if data.startswith(_UTF8_BOM):
        return True
    return _HAS_DECLARED_ENCODING.match(data) is not None


def _transcode(data: bytes, charset: str) -> bytes:
    """Decode with the HTTP charset, used only when the document declares no encoding itself.

    The document's own declaration wins otherwise: it is written by the software that wrote the
    bytes, while server charsets are often stale defaults.
    """
    try:
        if charset.replace("-", "").replace("_", "") in ("utf8", "usascii", "ascii"):
            return data
        return data.decode(charset, errors="replace").encode("utf-8")
    except (LookupError, ValueError):  # unknown charset, or a codec that is not a text encoding
        return data


def _scan_prolog(data: bytes) -> tuple[str | None, list[tuple[int, int]], str]:
    """Return the first element's name, the doctype spans before it, and the doctype's name."""
    spans: list[tuple[int, int]] = []
    doctype_name = ""
    pos, size = 0, len(data)
    while True:
        lt = data.find(b"<", pos)
        if lt < 0 or lt + 1 >= size:
            return None, spans, doctype_name
        if data.startswith(b"<?", lt):
            end = data.find(b"?>", lt + 2)
            pos = size if end < 0 else end + 2
        elif data.startswith(b"<!--", lt):
            end = data.find(b"-->", lt + 4)
            pos = size if end < 0 else end + 3
        elif data[lt : lt + 9].upper() == b"<!DOCTYPE":
            end = _doctype_end(data, lt + 9)
            spans.append((lt, end))
            m = _XML_NAME.match(data[lt + 9 : lt + 200].lstrip(_WS))
            if m and not doctype_name:
                doctype_name = m.group().decode("ascii", "replace")
            pos = end
        elif data.startswith(b"<!", lt):
            end = data.find(b">", lt)
            pos = size if end < 0 else end + 1
        else:
            m = _XML_NAME.match(data, lt + 1)
            if m:
                return m.group().decode("utf-8", "replace"), spans, doctype_name
            pos = lt + 1


def _doctype_end(data: bytes, pos: int) -> int:
    """Return the index after the doctype's closing `>`, skipping quoted strings, comments, `[...]`."""
    depth = 0
    for m in _DOCTYPE_TOKEN.finditer(data, pos):
        token = m.group()
        if token == b"[":
            depth += 1
        elif token == b"]":
            depth = max(0, depth - 1)
        elif token == b">" and depth == 0:
            return m.end()
    return len(data)


def _html_message(data: bytes) -> str:
    m = _HTML_TITLE.search(data, 0, 65_536)
    title = html_to_text(m.group(1).decode("utf-8", "replace"), limit=120) if m else ""
    suffix = f" titled {title!r}" if title else ""
    return f"not a feed: the server sent an HTML page{suffix}"


# ---------------------------------------------------------------------------------------------
# Building entries (shared by every path)


def _is_http(url: str) -> bool:
    return url[:8].lower().startswith(("http://", "https://"))


def _clean_link(value: object, base: str) -> str | None:
    if not isinstance(value, str):
        return None
    link = value.strip()
    if not link or len(link) > _LINK_MAX_CHARS:
        return None
    if _is_http(link):
        # The common case; urlsplit costs more than everything else here, so only a link with
        # brackets (an IPv6 host, or a broken URL such as "http://example.c[o.test/") is checked.
        return link if ("[" not in link and "]" not in link) or _valid_url(link) else None
    try:
        scheme = urlsplit(link).scheme.lower()
        if not scheme and base:
            link = urljoin(base, link)
            scheme = urlsplit(link).scheme.lower()
    except ValueError:
        return None
    # javascript:, data: and friends are never something to send people to.
    if scheme and scheme not in ("http", "https"):
        return None
    return link


def _valid_url(link: str) -> bool:
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError for a malformed host or port
    except ValueError:
        return False
    return bool(parts.hostname)


def _clean_guid(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # JSON Feed ids should be strings; numbers occur in the wild
    if not isinstance(value, str):
        return None
    guid = value.strip()
    return guid[:_GUID_MAX_CHARS] or None


def _first_date(*raw: object) -> datetime | None:
    for value in raw:
        if isinstance(value, str) and (when := parse_date(value)) is not None:
            return when
    return None


def _make_entry(
    *,
    guid: object,
    link: str | None,
    title: str,
    text: str,
    published: datetime | None,
    author: str | None,
    publisher: str | None = None,
) -> Entry | None:
    clean_guid = _clean_guid(guid)
    if clean_guid is None and link is None and not title and not text:
        return None
    return Entry(clean_guid, link, title, text, published, author or None, publisher or None)


def _text(value: object, *, limit: int | None = None, html: bool = True) -> str:
    if not isinstance(value, str):
        return ""
    convert = html_to_text if html else plain_text
    return convert(value) if limit is None else convert(value, limit=limit)


def _ttl_seconds(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if minutes <= 0:
        return None
    return min(minutes, _TTL_MAX_MINUTES) * 60


# ---------------------------------------------------------------------------------------------
# XML fast path: one strict expat pass


class _NotWellFormed(Exception):
    """The document is not something the fast path may take."""


class _Tag(str):
    """A tag written back into a captured field's text (inline markup), not text to escape."""

    __slots__ = ()


# How a captured field's text is to be read (see _convert).
_PLAIN = "text"  # plain text, unless it looks like HTML (feedparser's guess for RSS titles)
_HTML = "html"  # escaped HTML
_XHTML = "xhtml"  # inline markup, written back as HTML
_B64 = "b64"  # Atom 0.3 mode="base64": base64 of the text, then read as `type` says

_ATOM_TEXT_TYPES = {
    "html": _HTML,
    "text/html": _HTML,
    "xhtml": _XHTML,
    "application/xhtml+xml": _XHTML,
    "text": _PLAIN,
    "text/plain": _PLAIN,
}

# iTunes' namespace is written in two spellings in the wild; expat compares URIs exactly.
_ITUNES = ("http://www.itunes.com/dtds/podcast-1.0.dtd", "http://www.itunes.com/DTDs/Podcast-1.0.dtd")
_MEDIA = "http://search.yahoo.com/mrss/"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_XHTML_NS = "http://www.w3.org/1999/xhtml"
_ATOM_AUTHOR_NAMES = frozenset(_qname(ns, "author") for ns in _ATOM_NAMESPACES)
_ATOM_NAME_NAMES = frozenset(_qname(ns, "name") for ns in _ATOM_NAMESPACES)
_MEDIA_GROUP = _qname(_MEDIA, "group")
_AUTHOR_FIELDS = frozenset([_qname(ns, "author") for ns in _RSS_NAMESPACES] + [_qname(_DC, "creator")])
# Fields that may hold inline markup (their child elements are written back as tags).
_MARKUP_FIELDS = frozenset(
    {"title", "summary", "content", "dc_title", "media_title", "itunes_summary", "media_description"}
)
# Fields read besides feedparser's core mapping (_ENTRY_FIELDS), as fallbacks: an item whose only
# title is a dc:title or media:title, or whose only text is an iTunes summary, is still an item.
_EXTRA_FIELDS: dict[str, str] = {
    **{_qname(ns, "content"): "content" for ns in _ATOM_NAMESPACES},
    _qname(_CONTENT, "encoded"): "content",
    _qname(_XHTML_NS, "body"): "content",  # RSS 2.0 items with an inline xhtml:body
    **{_qname(ns, "body"): "content" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "fullitem"): "content" for ns in _RSS_NAMESPACES},
    # Atom names used in RSS items (Podlove's examples, some generators): feedparser reads them too.
    **{_qname(ns, "summary"): "summary" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "id"): "atom_id" for ns in _RSS_NAMESPACES},
    **{_qname(ns, "updated"): "updated" for ns in _RSS_NAMESPACES},
    _qname(_DC, "title"): "dc_title",
    _qname(_MEDIA, "title"): "media_title",
    _qname(_MEDIA, "description"): "media_description",
    **{_qname(ns, "summary"): "itunes_summary" for ns in _ITUNES},
    **{name: "author" for name in _AUTHOR_FIELDS},
}
# Inside a <media:group>, the fields of the group's own children.
_MEDIA_GROUP_FIELDS = {
    _qname(_MEDIA, "title"): "media_title",
    _qname(_MEDIA, "description"): "media_description",
}
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_CLOSE_TAG = re.compile(r"</(\w+)>")
_ENTITY_REF = re.compile(r"&#?\w+;")
_OPEN_OR_CLOSE = re.compile(r"</?(\w+)")
_NAMED_ENTITY = re.compile(r"&(\w+);")
_HTML_ELEMENTS = frozenset(_HTMLSanitizer.acceptable_elements)


def looks_like_html(value: str) -> bool:
    """Guess as feedparser does whether text that may be plain is HTML.

    It must hold a closing tag or an entity reference, and only HTML elements and HTML entities:
    "Use Vec<T>" is text, "a <b>bold</b> claim" and "AT&amp;T" are HTML.
    """
    if "<" not in value and "&" not in value:
        return False
    if not (_CLOSE_TAG.search(value) or _ENTITY_REF.search(value)):
        return False
    if any(tag.lower() not in _HTML_ELEMENTS for tag in _OPEN_OR_CLOSE.findall(value)):
        return False
    return all(name in html_entities.entitydefs for name in _NAMED_ENTITY.findall(value))


def _convert(value: str | None, how: str, *, limit: int | None = None) -> str:
    """Turn a captured field into plain text according to how it is to be read."""
    if not value:
        return ""
    if how == _PLAIN and not looks_like_html(value):
        return plain_text(value) if limit is None else plain_text(value, limit=limit)
    return html_to_text(value) if limit is None else html_to_text(value, limit=limit)


def _field_format(name: str, attrs: dict[str, str], kind: str) -> str:
    """Return how the text of a field element is to be read, from its name and attributes."""
    if name.partition(" ")[0] in _ATOM_NAMESPACES and kind in ("title", "summary", "content"):
        how = _ATOM_TEXT_TYPES.get(attrs.get("type", "").strip().lower() or "text") if attrs else _PLAIN
        if how is None:
            # Another media type: text/* is text, XML types inline markup, anything else base64
            # of some text (RFC 4287 4.1.3.3), read as HTML.
            media = attrs.get("type", "").strip().lower()
            if media.startswith("text/"):
                how = _PLAIN
            elif media.endswith(("/xml", "+xml")):
                how = _HTML
            else:
                return _B64 + _HTML
        mode = attrs.get("mode", "").strip().lower() if attrs else ""
        if mode == "base64":
            return _B64 + how
        if mode == "escaped" and how == _XHTML:
            return _HTML
        return how
    if kind in ("summary", "content"):
        return _HTML  # RSS description and content:encoded carry escaped HTML
    return _PLAIN


def _decode_field(value: str, how: str) -> tuple[str, str]:
    """Undo Atom 0.3 base64: return the text and how to read it."""
    if not how.startswith(_B64):
        return value, how
    try:
        decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8", "replace")
    except (ValueError, binascii.Error):
        return value, how[len(_B64) :]
    return decoded, how[len(_B64) :]


@dataclass(slots=True)
class _Item:
    """One entry as the expat pass read it: raw strings, converted only when asked."""

    about: str | None = None
    title: str | None = None
    title_how: str = _PLAIN
    dc_title: str | None = None
    dc_title_how: str = _PLAIN
    media_title: str | None = None
    media_title_how: str = _PLAIN
    guid: str | None = None
    permalink: bool = True
    atom_id: str | None = None
    link: str | None = None
    link_base: str = ""
    atom_links: list[tuple[str, str | None, str, str]] = field(default_factory=list)
    published: str | None = None
    updated: str | None = None
    created: str | None = None
    summary: str | None = None
    summary_how: str = _HTML
    content: str | None = None
    content_how: str = _HTML
    itunes_summary: str | None = None
    itunes_summary_how: str = _PLAIN
    media_description: str | None = None
    media_description_how: str = _PLAIN
    author: str | None = None
    source: str | None = None

    def guid_or_id(self) -> str | None:
        return self.guid or self.atom_id or self.about

    def best_link(self) -> str | None:
        if self.link and self.link.strip():
            return _clean_link(self.link, self.link_base)
        for rel, type_, href, base in self.atom_links:
            if rel == "alternate" and (type_ is None or "html" in type_):
                return _clean_link(href, base)
        # A permalink guid (or an Atom id) stands in for a missing link, if it is a URL at all.
        guid = self.guid or self.atom_id or ""
        if self.permalink and _is_http(guid):
            return _clean_link(guid, "")
        return None

    def title_text(self) -> str:
        for value, how in (
            (self.title, self.title_how),
            (self.dc_title, self.dc_title_how),
            (self.media_title, self.media_title_how),
        ):
            if value:
                text = _convert(*_decode_field(value, how), limit=TITLE_MAX_CHARS)
                if text:
                    return text
        return ""

    def text(self) -> str:
        for value, how in (
            (self.summary, self.summary_how),
            (self.content, self.content_how),
            (self.itunes_summary, self.itunes_summary_how),
            (self.media_description, self.media_description_how),
        ):
            if value:
                text = _convert(*_decode_field(value, how))
                if text:
                    return text
        return ""

    def published_at(self) -> datetime | None:
        return _first_date(self.published, self.updated, self.created)


class _Collector:
    """Expat handlers that read each entry's fields, in one pass over the document.

    Depths are plain ints compared on every element (-1 = none), because these handlers run twice
    per element and are most of the fast path's cost.
    """

    def __init__(self, base: str) -> None:
        self.depth = 0
        self.items: list[_Item] = []
        self.item: _Item | None = None
        self.entry_depth = -1
        self.bases: list[tuple[int, str]] = [(0, base)]  # (depth of the xml:base, resolved base)
        self.base_depth = 0
        self.field: str | None = None
        self.field_depth = -1
        self.field_base = ""
        self.field_how = _PLAIN
        self.markup = False  # the captured field holds child elements
        self.author_depth = -1  # an Atom <author> of the current entry
        self.group_depth = -1  # a <media:group> of the current entry
        self.buf: list[str] = []
        self.container_depth = 0  # the channel (RSS) or feed (Atom) element; 0 = not yet, -1 = closed
        self.title: str | None = None
        self.title_how = _PLAIN
        self.ttl: str | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth > _MAX_DEPTH:
            raise _NotWellFormed("nested too deeply")  # the feedparser step refuses it with the reason
        if attrs and _XML_BASE in attrs:
            self.bases.append((depth, _join_base(self.bases[-1][1], attrs[_XML_BASE])))
            self.base_depth = depth
        if self.field is not None:
            if self.field in _MARKUP_FIELDS:
                self.markup = True
                self.buf.append(_Tag("<" + name.rpartition(" ")[2] + ">"))
            return
        item = self.item
        if item is None:
            if name in _ENTRY_NAMES:
                about = attrs.get(_RDF_ABOUT) if attrs else None
                self.item = _Item(about=about.strip() if about else None)
                self.items.append(self.item)
                self.entry_depth = depth
            elif self.container_depth == 0 and (
                name in _CHANNEL_NAMES or (depth == 1 and name in _ATOM_FEED_NAMES)
            ):
                self.container_depth = depth
            elif depth == self.container_depth + 1 and self.container_depth > 0:
                # Only the channel's own children: an <image> has a <title> of its own.
                if name in _TITLE_NAMES and self.title is None:
                    self.title_how = _field_format(name, attrs, "title")
                    self._capture("feed_title")
                elif name in _TTL_NAMES and self.ttl is None:
                    self._capture("ttl")
            return
        if depth != self.entry_depth + 1:
            if depth == self.author_depth + 1 and name in _ATOM_NAME_NAMES and item.author is None:
                self._capture("author")
            elif (
                depth == self.group_depth + 1
                and (kind := _MEDIA_GROUP_FIELDS.get(name))
                and getattr(item, kind) is None
            ):
                self.field_how = _field_format(name, attrs, kind)
                self._capture(kind)
            return
        kind = _ENTRY_FIELDS.get(name) or _EXTRA_FIELDS.get(name)
        if kind is None:
            if name in _ATOM_AUTHOR_NAMES:
                self.author_depth = depth
            elif name == _MEDIA_GROUP:
                self.group_depth = depth
            return
        if kind == "atom_link" or (kind == "link" and attrs and "href" in attrs):
            # An Atom-style <link href> in an RSS item (or a namespace-less Atom feed) is a link too.
            href = attrs.get("href")
            if href:
                rel = attrs.get("rel", "alternate").strip() or "alternate"
                item.atom_links.append((rel, attrs.get("type"), href, self.bases[-1][1]))
        elif getattr(item, kind) is None:
            if kind == "guid":
                # As feedparser reads it: a guid is a permalink unless it says otherwise.
                item.permalink = attrs.get("isPermaLink", "true") == "true"
            elif kind in _MARKUP_FIELDS:
                self.field_how = _field_format(name, attrs, kind)
            self._capture(kind)

    def _capture(self, kind: str) -> None:
        self.field = kind
        self.field_depth = self.depth
        self.field_base = self.bases[-1][1]
        self.markup = False
        self.buf.clear()  # drop the text seen since the last capture: it belongs to no field we read

    def _store(self) -> None:
        if self.markup:
            # Child elements: write the markup back as HTML, escaping the text between the tags.
            text = "".join(p if type(p) is _Tag else p.translate(_XML_ESCAPES) for p in self.buf)
            how = _XHTML
        else:
            text = "".join(self.buf)
            how = self.field_how
        self.buf.clear()
        kind, self.field, self.field_depth = self.field, None, -1
        self.field_how, self.markup = _PLAIN, False
        if kind == "ttl":
            self.ttl = text
        elif kind == "feed_title":
            self.title = text
            if how == _XHTML:
                self.title_how = _XHTML
        elif self.item is not None and kind is not None:
            if kind in _MARKUP_FIELDS:
                setattr(self.item, kind, text)
                setattr(self.item, kind + "_how", how)
            else:
                setattr(self.item, kind, text.strip())
                if kind == "link":
                    self.item.link_base = self.field_base

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.field_depth:
            self._store()
        elif self.field is not None and self.markup:
            self.buf.append(_Tag("</" + name.rpartition(" ")[2] + ">"))
        if depth == self.base_depth:
            self.bases.pop()
            self.base_depth = self.bases[-1][0]
        if depth == self.author_depth:
            self.author_depth = -1
        elif depth == self.group_depth:
            self.group_depth = -1
        if depth == self.entry_depth:
            self.item = None
            self.entry_depth = -1
        elif depth == self.container_depth:
            self.container_depth = -1


def _join_base(parent: str, value: str) -> str:
    try:
        return urljoin(parent, value.strip())
    except ValueError:
        return parent


def _refuse_dtd(*_: object) -> None:
    # The prolog scan removed the doctype; meeting one here means the scan and expat disagree.
    raise _NotWellFormed("document type declaration")


def _collect(data: bytes, base: str) -> _Collector | None:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    collector = _Collector(base)
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    # All text goes to a list through a C-level append, cheaper than switching the handler on and
    # off around each field; _capture() clears it, _store() reads it.
    parser.CharacterDataHandler = collector.buf.append
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    try:
        parser.Parse(data, True)
    except Exception as exc:  # ExpatError mostly; any failure here only means "not the fast path"
        log.debug("not taking the fast path: %s", exc)
        return None
    return collector


_UNSET: Any = object()


class _LazyItem:
    """An item of the fast path whose fields are converted when first read (see entries.py)."""

    __slots__ = ("_guid", "_link", "_published", "_text", "_title", "item")

    def __init__(self, item: _Item) -> None:
        self.item = item
        self._guid: Any = _UNSET
        self._link: Any = _UNSET
        self._title: Any = _UNSET
        self._text: Any = _UNSET
        self._published: Any = _UNSET

    def __reduce__(self) -> tuple[type[_LazyItem], tuple[_Item]]:
        # To another process (the parse worker pool) as the raw item: the sentinel is per process.
        return (_LazyItem, (self.item,))

    @property
    def guid(self) -> str | None:
        if self._guid is _UNSET:
            self._guid = _clean_guid(self.item.guid_or_id())
        return cast(str | None, self._guid)

    @property
    def link(self) -> str | None:
        if self._link is _UNSET:
            self._link = self.item.best_link()
        return cast(str | None, self._link)

    @property
    def title(self) -> str:
        if self._title is _UNSET:
            self._title = self.item.title_text()
        return cast(str, self._title)

    @property
    def text(self) -> str:
        if self._text is _UNSET:
            self._text = self.item.text()
        return cast(str, self._text)

    @property
    def published(self) -> datetime | None:
        if self._published is _UNSET:
            self._published = self.item.published_at()
        return cast(datetime | None, self._published)

    def keep(self) -> bool:
        """Whether the entry can be identified or shown at all (as _make_entry decides)."""
        return self.guid is not None or self.link is not None or bool(self.title) or bool(self.text)

    def entry(self) -> Entry:
        item = self.item
        return Entry(
            self.guid,
            self.link,
            self.title,
            self.text,
            self.published,
            _text(item.author, limit=_AUTHOR_MAX_CHARS, html=False) or None,
            _text(item.source, limit=_AUTHOR_MAX_CHARS, html=False) or None,
        )


def _parse_fast(doc: _Document, base: str, max_entries: int) -> ParsedFeed | None:
    fmt = _FEED_ROOTS.get(doc.root)
    if fmt is None:
        return None
    collector = _collect(doc.data, base)
    if collector is None:
        return None
    # Only what identity needs is converted here (a guid, for most feeds); the rest when read.
    raw = [lazy for item in collector.items if (lazy := _LazyItem(item)).keep()]
    return ParsedFeed(
        title=_convert(collector.title, collector.title_how, limit=TITLE_MAX_CHARS),
        format=fmt,
        entries=LazyEntries(_newest(raw, max_entries, base)),
        parser="fast",
        ttl_seconds=_ttl_seconds(collector.ttl) if collector.ttl is not None else None,
    )


_E = TypeVar("_E", Entry, _LazyItem)


def _newest(entries: list[_E], max_entries: int, url: str) -> list[_E]:
    """Keep at most `max_entries`, the newest by date (undated last), in document order; log a cut."""
    if len(entries) <= max_entries:
        return entries
    floor = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(range(len(entries)), key=lambda i: entries[i].published or floor, reverse=True)
    keep = sorted(ranked[:max_entries])
    log.warning(
        "feed %s has %d entries; kept the newest %d, dropped %d",
        url or "(no url)",
        len(entries),
        max_entries,
        len(entries) - max_entries,
    )
    return [entries[i] for i in keep]


# ---------------------------------------------------------------------------------------------
# XML slow path: feedparser


def _format_from_version(version: str) -> str | None:
    if version in ("rss090", "rss10"):
        return "rdf"
    if version.startswith("rss"):
        return "rss"
    if version.startswith("atom"):
        return "atom"
    return version or None


def _check_nesting(data: bytes) -> None:
    """Raise ParseError when elements nest deeper than _MAX_DEPTH, counted as a lenient parser would.

    A closing tag closes every unclosed element opened after its own opening tag (`<br>` in HTML
    text), so ill-formed but ordinary feeds stay shallow.
    """
    stack: list[bytes] = []
    for match in _TAG.finditer(data):
        name = match.group(2)
        if name is None:
            continue  # CDATA or a comment
        if match.group(1):
            for index in range(len(stack) - 1, -1, -1):
                if stack[index] == name:
                    del stack[index:]
                    break
        elif not match.group(3) and name.lower() not in _VOID_ELEMENTS:
            stack.append(name)
            if len(stack) > _MAX_DEPTH:
                raise ParseError(f"not a feed: elements are nested more than {_MAX_DEPTH} deep")


def _detail_how(detail: object) -> str:
    """Return how to read a feedparser value from its detail's type (text/plain: plain text)."""
    type_ = detail.get("type") if isinstance(detail, dict) else None
    return _PLAIN if type_ == "text/plain" else _HTML


def _detail_text(raw: dict[str, Any], key: str, *, limit: int | None = None) -> str:
    return _convert(raw.get(key), _detail_how(raw.get(key + "_detail")), limit=limit)


def _parse_with_feedparser(doc: _Document, base: str, max_entries: int) -> ParsedFeed:
    _check_nesting(doc.data)
    try:
        # A BytesIO, never bytes: feedparser treats a bytes argument as a file name to open first.
        # No Content-Location either: feedparser would resolve guids against it, and a guid must
        # stay what the document says; links are resolved against the feed URL below instead.
        result = feedparser.parse(BytesIO(doc.data), sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is lenient, but its fallbacks can still trip over garbage
        raise ParseError(f"could not parse the feed: {type(exc).__name__}: {exc}") from None
    raw_entries = result.get("entries") or []
    fmt = _FEED_ROOTS.get(doc.root) or _format_from_version(str(result.get("version") or ""))
    if fmt is None:
        raise ParseError(f"not a feed: the XML root element is <{doc.root[:40]}>, not rss, feed or rdf:RDF")
    if result.get("bozo"):
        log.debug("feedparser read an ill-formed document: %s", result.get("bozo_exception"))
    entries: list[Entry] = []
    for raw in raw_entries:
        summary = _detail_text(raw, "summary")
        if not summary:
            content = raw.get("content") or [{}]
            if isinstance(content[0], dict):
                summary = _convert(content[0].get("value"), _detail_how(content[0]))
        link = raw.get("link")
        if raw.get("guidislink") and not _is_http(str(link or "")):
            link = None  # feedparser took a guid that is not a URL ("12345") for the link
        entry = _make_entry(
            guid=raw.get("id"),
            link=_clean_link(link, base),
            title=_detail_text(raw, "title", limit=TITLE_MAX_CHARS),
            text=summary,
            published=_first_date(raw.get("published"), raw.get("updated"), raw.get("created")),
            author=_text(raw.get("author"), limit=_AUTHOR_MAX_CHARS),
            publisher=_source_title(raw) if fmt in ("rss", "rdf") else None,
        )
        if entry is not None:
            entries.append(entry)
    feed_info = result.get("feed") or {}
    ttl = feed_info.get("ttl")
    return ParsedFeed(
        title=_detail_text(feed_info, "title", limit=TITLE_MAX_CHARS),
        format=fmt,
        entries=_newest(entries, max_entries, base),
        parser="feedparser",
        ttl_seconds=_ttl_seconds(ttl) if ttl is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# JSON Feed


def _parse_json_feed(data: bytes, charset: str | None, base: str, max_entries: int) -> ParsedFeed:
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # JSON is UTF-8 by definition (RFC 8259); a declared charset is the only better guess.
        try:
            text = data.decode(charset or "utf-8", errors="replace")
        except (LookupError, ValueError):
            text = data.decode("utf-8", errors="replace")
    doc = decode_json(text)
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise shape_error(doc, "a JSON Feed")
    feed_base = base
    for key in ("feed_url", "home_page_url"):
        candidate = doc.get(key)
        if not feed_base and isinstance(candidate, str) and _is_http(candidate.strip()):
            feed_base = candidate.strip()
    items = doc.get("items")
    entries: list[Entry] = []
    for raw in items if isinstance(items, list) else []:
        if not isinstance(raw, dict):
            continue
        text = _text(raw.get("summary"), html=False)
        if not text:
            text = _text(raw.get("content_text"), html=False) or _text(raw.get("content_html"))
        entry = _make_entry(
            guid=raw.get("id"),
            link=_clean_link(raw.get("url"), feed_base) or _clean_link(raw.get("external_url"), feed_base),
            title=_text(raw.get("title"), limit=TITLE_MAX_CHARS, html=False),
            text=text,
            published=_first_date(raw.get("date_published"), raw.get("date_modified")),
            author=_json_author(raw) or _json_author(doc),
        )
        if entry is not None:
            entries.append(entry)
    return ParsedFeed(
        title=_text(doc.get("title"), limit=TITLE_MAX_CHARS, html=False),
        format="json",
        entries=_newest(entries, max_entries, base),
        parser="json",
    )


def _source_title(raw: dict[str, Any]) -> str | None:
    source = raw.get("source")
    title = source.get("title") if isinstance(source, dict) else None
    return _text(title, limit=_AUTHOR_MAX_CHARS, html=False) or None


def _json_author(obj: dict[str, Any]) -> str | None:
    # JSON Feed 1.1 has authors[]; 1.0 had a single author.
    authors = obj.get("authors")
    candidates = [*authors] if isinstance(authors, list) else []
    candidates.append(obj.get("author"))
    for author in candidates:
        if isinstance(author, dict) and isinstance(author.get("name"), str):
            name = plain_text(author["name"], limit=_AUTHOR_MAX_CHARS)
            if name:
                return name
    return None
