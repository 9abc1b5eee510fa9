"""Plain data passed between pipeline stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as a parser read it, before identity and storage.

    `title` and `text` are plain text (HTML already removed); `published` is timezone-aware
    UTC or None when the feed gave no usable date.
    """

    guid: str | None
    link: str | None
    title: str
    text: str
    published: datetime | None
    author: str | None = None
    publisher: str | None = None  # who carried it, when the feed says (RSS <source>, e.g. Google News)
    # Page-watch rows: the page's title and the nearest heading above the row (its context).
    page_title: str | None = None
    heading: str | None = None
    # A document whose full text the source may fetch for new items (Federal Register raw text).
    body_url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document: its title, its kind and its entries."""

    title: str
    format: str  # "rss", "atom", "rdf", "json" (JSON Feed), ...
    # A list, or a read-only sequence converting each entry when first read (the feed fast path).
    entries: Sequence[Entry] = field(default_factory=list)
    parser: str = ""  # which parser produced it ("fast" or "feedparser"), for benchmarks and logs
    ttl_seconds: int | None = None  # the feed's own refresh hint (RSS <ttl>), if any
    next_url: str | None = None  # the next page of a paged API response, on the same host, if any


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source's items mean, declared by the source (e.g. the FCC Covered List page).

    The classifier uses it as context: an item of a source with a default `action` is that action
    even when its text names none; `issuer`/`jurisdiction` fill in what the text does not say.
    `title` is the page or feed title and `heading` the nearest heading above a page-watch row.
    """

    issuer: str | None = None
    jurisdiction: str | None = None
    action: str | None = None
    title: str | None = None
    heading: str | None = None


@dataclass(frozen=True, slots=True)
class MatchDoc:
    """What the matcher sees of an item: plain-text fields and the classified action."""

    title: str
    summary: str
    source: str
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """One subscription that matched one item, with the terms as they appear in the text."""

    subscription_id: int
    terms: tuple[str, ...]
