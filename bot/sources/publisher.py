"""Clean up aggregator items whose title ends with the publisher (Google News: "Headline - Publisher").

Used by the `feed` kind when a source sets `options.strip_publisher_suffix = true`. Only the exact
publisher named by the item's RSS `<source>` element is cut, so a headline that merely contains
" - " keeps it; an item with no `<source>` is left alone.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.models import Entry, ParsedFeed

_SEPARATORS = (" - ", " – ", " — ")


def strip_publisher_suffix(feed: ParsedFeed) -> ParsedFeed:
    """Return the feed with each item's trailing " - Publisher" removed from title and text."""
    return replace(feed, entries=[_strip(entry) for entry in feed.entries])


def _cut(value: str, publisher: str, *, separators: tuple[str, ...]) -> str:
    for sep in separators:
        suffix = sep + publisher
        if value.endswith(suffix) and len(value) > len(suffix):
            return value[: -len(suffix)].rstrip()
    return value


def _strip(entry: Entry) -> Entry:
    publisher = entry.publisher
    if not publisher:
        return entry
    title = _cut(entry.title, publisher, separators=_SEPARATORS)
    # Google News descriptions are the headline link followed by the publisher's name.
    text = _cut(entry.text, publisher, separators=(" ",))
    if title == entry.title and text == entry.text:
        return entry
    return replace(entry, title=title, text=text)
