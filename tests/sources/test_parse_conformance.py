"""Each class of text loss found by bench/conformance.py, on the fast path and on the feedparser path.

The documents below are small hand-written XML inputs made for these defect classes (test inputs,
not captures of real feeds); the shapes follow the feed formats' specifications.
"""

from __future__ import annotations

import pytest

from bot.sources import parse as parse_module
from bot.sources.parse import parse_feed

RSS = '<rss version="2.0"{ns}><channel><title>c</title><item>{item}</item></channel></rss>'
ATOM = '<feed xmlns="http://www.w3.org/2005/Atom"><title>f</title><entry>{entry}</entry></feed>'
ATOM03 = '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry>{entry}</entry></feed>'


def _both(doc: str) -> list:
    """Parse with the fast path and with feedparser; return both entries lists."""
    prepared = parse_module._prepare(doc.encode(), None, 1_000_000)
    fast = parse_module._parse_fast(prepared, "", 5000)
    slow = parse_module._parse_with_feedparser(prepared, "", 5000)
    assert fast is not None and fast.parser == "fast"
    assert parse_feed(doc.encode()).parser == "fast"
    return [fast.entries, slow.entries]


# 1. Summary text held as child markup, not escaped text.
SUMMARY_MARKUP = {
    "atom_xhtml_summary": ATOM.format(
        entry='<id>u:1</id><summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        "Kaspersky <b>banned</b> &amp; removed</div></summary>"
    ),
    "atom03_inline_summary": ATOM03.format(
        entry='<id>u:1</id><summary type="application/xhtml+xml" mode="xml">'
        '<div xmlns="http://www.w3.org/1999/xhtml">Kaspersky <b>banned</b> &amp; removed</div></summary>'
    ),
    "rss_naked_description": RSS.format(
        ns="", item="<guid>g1</guid><description><p>Kaspersky <b>banned</b> &amp; removed</p></description>"
    ),
}


@pytest.mark.parametrize("name", sorted(SUMMARY_MARKUP))
def test_summary_held_as_child_markup_keeps_its_text(name):
    for entries in _both(SUMMARY_MARKUP[name]):
        assert [e.text for e in entries] == ["Kaspersky banned & removed"]


# 2. Escaped angle brackets in plain-text titles are words, not tags.
PLAIN_TITLES = {
    "rss_title": (
        RSS.format(ns="", item="<guid>g</guid><title>Use Vec&lt;T&gt; in Rust</title>"),
        "Use Vec<T> in Rust",
    ),
    "atom_text_title": (
        ATOM.format(entry='<id>u:1</id><title type="text">History of the &lt;blink&gt; tag</title>'),
        "History of the <blink> tag",
    ),
    "atom_default_title": (
        ATOM.format(entry="<id>u:1</id><title>if a &lt;b then &lt;stop&gt;</title>"),
        "if a <b then <stop>",
    ),
    # Still HTML when it looks like HTML: a closing tag of an HTML element, or an entity.
    "rss_title_with_markup": (
        RSS.format(ns="", item="<guid>g</guid><title>&lt;b&gt;Huawei&lt;/b&gt; ban</title>"),
        "Huawei ban",
    ),
}


@pytest.mark.parametrize("name", sorted(PLAIN_TITLES))
def test_plain_text_titles_keep_bracketed_words(name):
    doc, title = PLAIN_TITLES[name]
    for entries in _both(doc):
        assert [e.title for e in entries] == [title]


# 3. Atom 0.3 base64 titles, and inline-XHTML titles with a script in them.
def test_base64_titles_are_decoded():
    # base64 of "Huawei <b>added</b>" and of "<p>Use &lt;T&gt;</p>"
    atom03 = ATOM03.format(entry='<id>u:1</id><title mode="base64">SHVhd2VpIDxiPmFkZGVkPC9iPg==</title>')
    atom10 = ATOM.format(
        entry='<id>u:1</id><title type="application/octet-stream">PHA+VXNlICZsdDtUJmd0OzwvcD4=</title>'
    )
    for entries in _both(atom03):
        assert [e.title for e in entries] == ["Huawei added"]
    for entries in _both(atom10):
        assert [e.title for e in entries] == ["Use <T>"]


def test_inline_xhtml_title_drops_script_text():
    doc = ATOM.format(
        entry='<id>u:1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Safe '
        "<script>alert('x')</script>title &lt;here&gt;</div></title>"
    )
    for entries in _both(doc):
        assert [e.title for e in entries] == ["Safe title <here>"]


# 4. Fallback fields: dc:title, media:title as the title; itunes:summary as the text.
FALLBACKS = {
    "dc_title": (
        RSS.format(
            ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
            item="<guid>g</guid><dc:title>DC title</dc:title>",
        ),
        ("DC title", ""),
    ),
    "media_title": (
        RSS.format(
            ns=' xmlns:media="http://search.yahoo.com/mrss/"',
            item="<guid>g</guid><media:title>Media title</media:title>",
        ),
        ("Media title", ""),
    ),
    "itunes_summary": (
        RSS.format(
            ns=' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"',
            item="<title>t</title><itunes:summary>Episode about ZTE</itunes:summary>",
        ),
        ("t", "Episode about ZTE"),
    ),
    "itunes_summary_uppercase_namespace": (
        RSS.format(
            ns=' xmlns:itunes="http://www.itunes.com/DTDs/Podcast-1.0.dtd"',
            item="<title>t</title><itunes:summary>Episode about ZTE</itunes:summary>",
        ),
        ("t", "Episode about ZTE"),
    ),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_fallback_fields_give_title_and_text(name):
    doc, expected = FALLBACKS[name]
    for entries in _both(doc):
        assert [(e.title, e.text) for e in entries] == [expected]


def test_primary_title_wins_over_fallbacks():
    doc = RSS.format(
        ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
        item="<guid>g</guid><title>Main</title><dc:title>Other</dc:title>",
    )
    fast, _ = _both(doc)
    assert fast[0].title == "Main"


# 5. A permalink guid that is not a valid URL is never the link.
def test_invalid_permalink_guid_is_not_the_link():
    doc = '<rss version="2.0"><channel><item><guid isPermaLink="true">http://example.c[o.test/</guid>'
    doc += "<title>t</title></item></channel></rss>"
    for entries in _both(doc):
        assert [(e.guid, e.link) for e in entries] == [("http://example.c[o.test/", None)]


def test_valid_ipv6_link_is_kept():
    doc = RSS.format(ns="", item="<guid>g</guid><link>http://[2001:db8::1]/a</link>")
    for entries in _both(doc):
        assert [e.link for e in entries] == ["http://[2001:db8::1]/a"]


def test_lone_markup_declaration_opener_is_text():
    doc = RSS.format(ns="", item='<guid>g</guid><description>&lt;!\' &lt;a href="foo"&gt;</description>')
    fast, _ = _both(doc)
    assert fast[0].text == "<!'"
