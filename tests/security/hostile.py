"""Hostile documents derived from real captures: CPU bombs for the parsers (issue: hostile input).

Each is built from a real fixture (tests/fixtures/feeds/SOURCES.md) with the hostile part added,
sized like the attacks seen: about 1 MB each.
"""

from __future__ import annotations

from tests.helpers import fixture_bytes, rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"


def many_attributes_feed(count: int = 90_000) -> bytes:
    """Return the NASA feed with one item whose <title> carries `count` attributes (~1 MB)."""
    attributes = " ".join(f"a{n}='{n % 10}'" for n in range(count))
    item = rss_item("Hostile title", "https://hostile.example/item", guid="https://hostile.example/item")
    item = item.replace("<title>", f"<title {attributes}>", 1)
    return with_items(NASA, item)


def deeply_nested_page(depth: int = 100_000) -> bytes:
    """Return a web page whose body nests `depth` <div> elements (~1 MB), for a page watch on `div`."""
    page = fixture_bytes("edge_not_a_feed.html").decode("utf-8")
    head, sep, tail = page.partition("<body")
    assert sep, "the fixture has no <body>"
    end = tail.index(">") + 1
    nested = "<div>" * depth + "row" + "</div>" * depth
    return (head + sep + tail[:end] + nested + tail[end:]).encode("utf-8")


def many_paragraphs_page(count: int = 100_000) -> bytes:
    """Return a web page whose body holds `count` short paragraphs, for full-text extraction."""
    page = fixture_bytes("edge_not_a_feed.html").decode("utf-8")
    head, sep, tail = page.partition("<body")
    assert sep, "the fixture has no <body>"
    end = tail.index(">") + 1
    paragraphs = "".join(f"<p>Paragraph {n} of the notice.</p>" for n in range(count))
    return (head + sep + tail[:end] + paragraphs + tail[end:]).encode("utf-8")
