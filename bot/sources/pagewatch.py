"""Watch a web page that has no feed: a CSS selector picks rows, and each row is an entry.

For pages such as the FCC Covered List (a table) or CISA's directives index (a list of links).
Options: `selector` (required) picks the rows; `link_selector` picks the link inside a row
(default: the row itself when it is a link, else its first `a[href]`); `title_selector` picks the
title inside a row (default: the row's whole text).

Rules, in order:

1. Only the page given is read; nothing else is ever fetched.
2. The page is decoded with the Content-Type charset, else its `<meta charset>`, else UTF-8.
3. A selector that matches nothing is an error: the page was redesigned, or a challenge page came
   instead, and a watch that silently sees no rows would never alert again.
4. A row's identity is a hash of its normalised text (NFKC, case folded, whitespace collapsed)
   and its link: a row that changes becomes a new item, a markup-only change does not. Rows that
   repeat (a sidebar repeating the list) count once; so do rows that are links to one target.
5. Links are made absolute against `<base href>` or the page URL; non-http(s) links are dropped. A
   link that several rows share identifies none of them — alerts are kept once per (channel,
   link), so rows sharing a link would hide each other — and those rows go without a link.
6. Rows have no trustworthy date: `published` is None, so the item-age cut-off never hides them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from bot.domain.errors import ParseError
from bot.domain.models import Entry, ParsedFeed
from bot.sources.htmltext import TEXT_MAX_CHARS, plain_text
from bot.sources.jsondoc import http_link

_MAX_ROWS = 1000
_TITLE_MAX_CHARS = 300
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)


def parse_page(
    body: bytes, *, content_type: str | None, url: str, options: Mapping[str, Any], max_bytes: int
) -> ParsedFeed:
    """Turn the rows a CSS selector picks on a page into entries."""
    selector = _option(options, "selector")
    if selector is None:
        raise ParseError("an html source needs options.selector (a CSS selector for the rows to watch)")
    link_selector = _option(options, "link_selector")
    title_selector = _option(options, "title_selector")
    if len(body) > max_bytes:
        raise ParseError(f"document is larger than {max_bytes} bytes")
    tree = LexborHTMLParser(_decode(body, content_type))
    rows = _select(tree, selector)
    if not rows:
        raise ParseError(f"selector {selector!r} matched nothing on the page")
    base = _base_url(tree, url)
    picked: list[tuple[str, str, str | None]] = []  # (title, text, link) per distinct row
    seen: set[tuple[str, str | None]] = set()
    for row in rows[:_MAX_ROWS]:
        text = plain_text(row.text(separator=" "), limit=TEXT_MAX_CHARS)
        if not text:
            continue
        link = _row_link(row, link_selector, base)
        # Rows that are links themselves are one item per target: a teaser's title and its
        # "Read more" point at the same directive, and the first of them is the title.
        key = ("", link) if row.tag == "a" and link else (text, link)
        if key in seen:
            continue
        seen.add(key)
        title = ""
        if title_selector is not None and (node := _first(row, title_selector)) is not None:
            title = plain_text(node.text(separator=" "), limit=_TITLE_MAX_CHARS)
        picked.append((title or plain_text(text, limit=_TITLE_MAX_CHARS), text, link))
    shared = Counter(link for _, _, link in picked if link)
    entries = [
        Entry(
            guid=row_identity(text, link),
            link=link if link and shared[link] == 1 else None,
            title=title,
            text=text,
            published=None,
        )
        for title, text, link in picked
    ]
    page_title = tree.css_first("title")
    return ParsedFeed(
        title=plain_text(page_title.text() if page_title else "", limit=_TITLE_MAX_CHARS),
        format="html",
        entries=entries,
        parser="selectolax",
    )


def row_identity(text: str, link: str | None) -> str:
    """Return a row's identity: a hash of its normalised text and its link."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    digest = hashlib.sha256(f"{normal}\x1f{link or ''}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"row:{digest[:32]}"


def _option(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"options.{name} must be a CSS selector (a non-empty string)")
    return value.strip()


def _decode(body: bytes, content_type: str | None) -> str:
    m = _HTTP_CHARSET.search(content_type or "")
    charset = m.group(1) if m else None
    if charset is None and (meta := _META_CHARSET.search(body, 0, 4096)):
        charset = meta.group(1).decode("ascii")
    try:
        return bytes(body).decode(charset or "utf-8", errors="replace")
    except (LookupError, ValueError):  # an unknown or non-text codec name
        return bytes(body).decode("utf-8", errors="replace")


def _select(node: LexborHTMLParser | LexborNode, selector: str) -> list[LexborNode]:
    try:
        return list(node.css(selector))
    except SelectolaxError as exc:
        raise ParseError(f"invalid CSS selector {selector!r}: {exc}") from None


def _first(node: LexborNode, selector: str) -> LexborNode | None:
    found = _select(node, selector)
    return found[0] if found else None


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    base = tree.css_first("base[href]")
    href = base.attributes.get("href") if base is not None else None
    if href:
        try:
            return urljoin(url, href.strip())
        except ValueError:
            pass
    return url


def _row_link(row: LexborNode, link_selector: str | None, base: str) -> str | None:
    if link_selector is not None:
        node = _first(row, link_selector)
    elif row.tag == "a" and row.attributes.get("href"):
        node = row
    else:
        node = _first(row, "a[href]")
    href = node.attributes.get("href") if node is not None else None
    if not href:
        return None
    try:
        return http_link(urljoin(base, href.strip()))
    except ValueError:
        return None
