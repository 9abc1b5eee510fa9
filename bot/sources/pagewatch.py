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
4. A row's identity is a hash of its normalised text (NFKC, case folded, whitespace collapsed,
   footnote markers left out: `<sup>` text and *, †, ‡, superscript digits, "[3]") and its own
   link: a row that changes becomes a new item; markup, whitespace and footnote edits do not.
   Rows that repeat (a sidebar repeating the list) count once; so do rows that are links to one
   target.
5. Links are made absolute against `<base href>` or the page URL; non-http(s) links are dropped.
   A row without a link of its own (none, or one that several rows share: alerts are kept once
   per (channel, link), so rows sharing a link would hide each other) links to the page with a
   text fragment of its first words (`page#:~:text=Information%20security%20products…`): a
   browser scrolls to the row, and `regwatch why` takes that link.
6. Each row carries its context: the page's title and the nearest heading (h1-h6) above it. They
   are appended to the row's text after " — Listed on: " (so `"covered list"` finds a row of the
   Covered List page) and kept on the entry for `source:` and the classifier.
7. Rows have no trustworthy date: `published` is None, so the item-age cut-off never hides them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from bot.domain.errors import ParseError
from bot.domain.identity import text_fragment
from bot.domain.models import Entry, ParsedFeed
from bot.domain.semantics import with_context
from bot.sources.htmltext import TEXT_MAX_CHARS, plain_text
from bot.sources.jsondoc import http_link

_MAX_ROWS = 1000
_TITLE_MAX_CHARS = 300
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)
# Footnote markers: a page that adds or renumbers a footnote has not changed the row.
_FOOTNOTES = re.compile(r"[*†‡§¶⁰¹²³⁴⁵⁶⁷⁸⁹]+|\[\d{1,3}\]")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_FRAGMENT_WORDS = 8


@dataclass(frozen=True, slots=True)
class _Row:
    title: str
    text: str  # as shown
    clean: str  # footnote markers left out: identity and fragment
    own_link: str | None
    heading: str | None


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
    page_title = _page_title(tree)
    headings = _headings_before(tree, rows)
    picked: list[_Row] = []
    seen: set[tuple[str, str | None]] = set()
    for row in rows[:_MAX_ROWS]:
        text = plain_text(row.text(separator=" "), limit=TEXT_MAX_CHARS)
        if not text:
            continue
        link = _row_link(row, link_selector, base)
        clean = _clean_text(row)
        # Rows that are links themselves are one item per target: a teaser's title and its
        # "Read more" point at the same directive, and the first of them is the title.
        key = ("", link) if row.tag == "a" and link else (clean.casefold(), link)
        if key in seen:
            continue
        seen.add(key)
        title = ""
        if title_selector is not None and (node := _first(row, title_selector)) is not None:
            title = plain_text(node.text(separator=" "), limit=_TITLE_MAX_CHARS)
        heading = headings.get(row.mem_id)
        picked.append(_Row(title or plain_text(text, limit=_TITLE_MAX_CHARS), text, clean, link, heading))
    shared = Counter(r.own_link for r in picked if r.own_link)
    fragments = _fragments([r.clean for r in picked])
    entries = [
        Entry(
            guid=row_identity(r.clean, r.own_link),
            link=r.own_link if r.own_link and shared[r.own_link] == 1 else _fragment_link(url, fragment),
            title=r.title,
            text=with_context(r.text, page_title, r.heading),
            published=None,
            page_title=page_title or None,
            heading=r.heading,
        )
        for r, fragment in zip(picked, fragments, strict=True)
    ]
    return ParsedFeed(title=page_title, format="html", entries=entries, parser="selectolax")


def row_identity(text: str, link: str | None) -> str:
    """Return a row's identity: a hash of its normalised text (footnotes left out) and its link."""
    normal = " ".join(_FOOTNOTES.sub(" ", unicodedata.normalize("NFKC", text)).casefold().split())
    digest = hashlib.sha256(f"{normal}\x1f{link or ''}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"row:{digest[:32]}"


def _page_title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title") or tree.css_first("h1")
    return _strip_footnotes(plain_text(node.text(separator=" ") if node else "", limit=_TITLE_MAX_CHARS))


def _strip_footnotes(text: str) -> str:
    return " ".join(_FOOTNOTES.sub(" ", text).split())


def _clean_text(row: LexborNode) -> str:
    """Return a row's text without footnote markers (superscripts and marker characters)."""
    if row.css_first("sup") is None:
        raw = row.text(separator=" ")
    else:
        parts = []
        for node in row.traverse(include_text=True):
            if node.tag != "-text":
                continue
            parent = node.parent
            while parent is not None and parent.mem_id != row.mem_id and parent.tag != "sup":
                parent = parent.parent
            if parent is None or parent.tag != "sup":
                parts.append(node.text_content or "")
        raw = " ".join(parts)
    return _strip_footnotes(plain_text(raw, limit=TEXT_MAX_CHARS))


def _headings_before(tree: LexborHTMLParser, rows: list[LexborNode]) -> dict[int, str]:
    """Map each row (by node id) to the text of the nearest heading above it in the page."""
    wanted = {row.mem_id for row in rows}
    found: dict[int, str] = {}
    current: str | None = None
    root = tree.body or tree.root
    if root is None:
        return found
    for node in root.traverse():
        if node.tag in _HEADINGS:
            current = (
                _strip_footnotes(plain_text(node.text(separator=" "), limit=_TITLE_MAX_CHARS)) or current
            )
        elif node.mem_id in wanted and current:
            found[node.mem_id] = current
    return found


def _fragments(texts: list[str]) -> list[str]:
    """Return for each row the shortest start of its text (8 words or more) no other row shares."""
    words = [t.split() for t in texts]
    result = [""] * len(words)
    pending = set(range(len(words)))
    size = _FRAGMENT_WORDS
    while pending:
        counts = Counter(tuple(w[:size]) for w in words)
        for n in list(pending):
            own = words[n]
            if counts[tuple(own[:size])] == 1 or len(own) <= size or size >= 50 * _FRAGMENT_WORDS:
                result[n] = " ".join(own[:size])
                pending.discard(n)
        size += 4
    return result


def _fragment_link(page_url: str, fragment: str) -> str | None:
    """Return the page URL with a text fragment pointing at a row, or None without one."""
    page = http_link(page_url)
    if page is None or not fragment:
        return None
    return urlunsplit((*urlsplit(page)[:4], text_fragment(fragment)))


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
