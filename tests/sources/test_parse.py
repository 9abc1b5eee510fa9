"""Feed parsing: every fixture, both parser paths agreeing, sniffing, caps, and hostile input."""

from __future__ import annotations

import gzip
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedparser.datetimes import _parse_date as feedparser_parse_date
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ParseError
from bot.sources import parse as parse_module
from bot.sources.htmltext import TEXT_MAX_CHARS, TITLE_MAX_CHARS, html_to_text, plain_text
from bot.sources.parse import parse_date, parse_feed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
FEED_URL = "https://example.org/feeds/feed.xml"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str, **kwargs) -> object:
    return parse_feed(fixture(name), url=FEED_URL, **kwargs)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Every fixture: feeds parse with the right count and path; non-feeds fail with a clear message.

# name -> (format, entries, parser)
FEEDS = {
    "edge_aktuality_sk_image_inside_item.rss": ("rss", 30, "fast"),
    "edge_biorxiv_rss10.rdf": ("rdf", 30, "fast"),
    "edge_gzip_windows1251_userland_ns.rss.gz": ("rss", 10, "fast"),
    "edge_item_with_two_guid_elements.rss": ("rss", 1, "fast"),
    "edge_latin2_iso-8859-2.rss": ("rss", 1, "fast"),
    "edge_monkeydom_guid_permalink_false_claim.rss": ("rss", 13, "fast"),
    "edge_rss2sample_odd_datetime.xml": ("rss", 5, "fast"),
    "edge_scriptingnews_items_without_titles.rss": ("rss", 50, "fast"),
    "illformed_unescaped_ampersand.rss": ("rss", 3, "feedparser"),
    "jsonfeed_daringfireball_v1.json": ("json", 48, "json"),
    "jsonfeed_v11_authors.json": ("json", 4, "json"),
    "news_guardian_us_2018.rss": ("rss", 55, "fast"),
    "news_heise_developer_2016.atom": ("atom", 15, "fast"),
    "news_macworld_no_guids.rss": ("rss", 30, "fast"),
    "spec_rss2sample_nasa_liftoff.xml": ("rss", 4, "fast"),
    "feedparser/encoding_bozo_bogus_encoding.xml": ("rss", 0, "feedparser"),
    "feedparser/encoding_bozo_invalid-bytes-with-bom.xml": ("rss", 0, "feedparser"),
    "feedparser/encoding_bozo_linenoise.xml": ("rss", 1, "feedparser"),
    # Well-formed, an <rss> without <channel>: the single expat pass takes it (no entries).
    "feedparser/encoding_utf-16le-bom.xml": ("rss", 0, "fast"),
    "feedparser/entities_doesnotexist.xml": ("rss", 0, "feedparser"),
    "feedparser/illformed_http_high_bit_date.xml": ("rss", 0, "fast"),
    # The only item is cut off inside "<![CD": nothing to identify or show, so it is dropped.
    "feedparser/illformed_rss_incomplete_cdata.xml": ("rss", 0, "feedparser"),
    "feedparser/illformed_rss_item_link_corrupted_ampersands.xml": ("rss", 1, "feedparser"),
    "feedparser/illformed_undeclared_namespace.xml": ("rss", 0, "feedparser"),
    "feedparser/json_example.json": ("json", 2, "json"),
    "feedparser/wellformed_atom10_entry_content_inline_markup.xml": ("atom", 1, "fast"),
}

NOT_FEEDS = {
    "cisa_csaf_it_rolie_feed.json": "JSON but not a JSON Feed",
    "cisa_csaf_ot_rolie_feed_truncated.json": "JSON but not a JSON Feed",
    "cisa_kev_2025-08-18_truncated.json": "JSON but not a JSON Feed",
    "cisa_kev_2025-08-25_truncated.json": "JSON but not a JSON Feed",
    "cisa_kev_schema.json": "JSON but not a JSON Feed",
    "federalregister_document_single.json": "JSON but not a JSON Feed",
    "federalregister_documents_multi_by_number.json": "JSON but not a JSON Feed",
    "federalregister_documents_search_presidential_truncated.json": "JSON but not a JSON Feed",
    "federalregister_public_inspection_current.json": "JSON but not a JSON Feed",
    "edge_jsonfeed_truncated_invalid.json": "invalid JSON at line 1 column 12171 (char 12170)",
    "edge_not_a_feed.html": "not a feed: the server sent an HTML page",
    "feedparser/illformed_rss_empty_document.xml": "empty document",
}

WELL_FORMED = sorted(name for name, (fmt, _, parser) in FEEDS.items() if parser == "fast")


def all_fixture_names() -> list[str]:
    return sorted(
        str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".md"
    )


def test_every_fixture_is_classified():
    assert sorted([*FEEDS, *NOT_FEEDS]) == all_fixture_names()


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_feed_fixture_parses(name):
    fmt, count, parser = FEEDS[name]
    feed = parse(name)
    assert (feed.format, len(feed.entries), feed.parser) == (fmt, count, parser)
    for entry in feed.entries:
        assert entry.published is None or entry.published.tzinfo is UTC
        assert len(entry.title) <= TITLE_MAX_CHARS
        assert len(entry.text) <= TEXT_MAX_CHARS
        assert entry.guid or entry.link or entry.title or entry.text
        assert entry.link is None or not entry.link.lower().startswith(("javascript:", "data:"))


@pytest.mark.parametrize("name", sorted(NOT_FEEDS))
def test_non_feed_fixture_fails_clearly(name):
    with pytest.raises(ParseError) as caught:
        parse(name)
    assert NOT_FEEDS[name] in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Spot checks with values from the files


def test_nasa_sample_fields():
    feed = parse("spec_rss2sample_nasa_liftoff.xml")
    assert feed.title == "Liftoff News"
    first, second = feed.entries[:2]
    assert first.guid == "http://liftoff.msfc.nasa.gov/2003/06/03.html#item573"
    assert first.link == "http://liftoff.msfc.nasa.gov/news/2003/news-starcity.asp"
    assert first.title == "Star City"
    assert first.published == utc(2003, 6, 3, 9, 39, 21)
    # The description's escaped <a href> is markup, not text.
    assert first.text.endswith("at Russia's Star City.")
    assert "<a" not in first.text and "href" not in first.text
    # Item 2 has no title and no link: the title is empty, the permalink guid is the link.
    assert second.title == ""
    assert second.link == "http://liftoff.msfc.nasa.gov/2003/05/30.html#item572"
    assert second.text.startswith("Sky watchers in Europe, Asia, and parts of Alaska")


def test_unescaped_ampersand_link_is_kept_whole():
    feed = parse("illformed_unescaped_ampersand.rss")
    assert [e.title for e in feed.entries] == ["Good Item", "Bad Item", "Item After Error"]
    assert feed.entries[1].link == "http://example.com/bad?foo=1&bar=2"
    assert feed.entries[1].guid == "http://example.com/bad"


def test_corrupted_ampersands_fixture_decodes_the_entity():
    (entry,) = parse("feedparser/illformed_rss_item_link_corrupted_ampersands.xml").entries
    assert entry.link == "http://link/get?a=1&b=2"


def test_rdf_biorxiv():
    feed = parse("edge_biorxiv_rss10.rdf")
    assert (feed.format, len(feed.entries)) == ("rdf", 30)
    assert feed.title == "bioRxiv Subject Collection: Plant Biology"
    first = feed.entries[0]
    # Title and link sit in CDATA padded with newlines; rdf:about is the id.
    assert first.title.startswith("Wheat inositol pyrophosphate kinase (TaVIH2-3B)")
    assert first.link == "http://biorxiv.org/cgi/content/short/743294v1?rss=1"
    assert first.guid == first.link
    assert first.published == utc(2019, 8, 27)


def test_gzip_windows1251_is_decoded_to_cyrillic():
    feed = parse("edge_gzip_windows1251_userland_ns.rss.gz")
    assert feed.title == "Новости Оренбурга и области / Раздел Новости"
    assert feed.entries[0].title == "В Бузулуке главные стройплощадки – детсад и Ледовый дворец"
    assert feed.entries[0].link == "http://www.oren.ru/news/2743422/"
    assert feed.entries[0].published == utc(2014, 1, 22, 14, 31, 31)  # +0600
    assert feed.ttl_seconds == 30 * 60
    assert all(e.guid is None for e in feed.entries)


def test_latin2_polish_is_decoded():
    (entry,) = parse("edge_latin2_iso-8859-2.rss").entries
    assert entry.title == "ZAŻÓŁĆ GĘSLĄ JAŹŃ"
    assert entry.text == "Szedł sasza suchą szosą"
    assert entry.author == "Adam Gżegżółka"
    assert entry.published == utc(2019, 10, 18, 15, 27, 37)


def test_heise_german_umlauts_and_atom_dates():
    feed = parse("news_heise_developer_2016.atom")
    titles = [e.title for e in feed.entries]
    assert "Microsoft veröffentlicht Cordova-Erweiterung für Visual Studio Code" in titles
    assert "Änderungen bei der Authentifizierung in Microsofts v2.0 App Model" in titles
    first = feed.entries[0]
    assert first.guid == "http://heise.de/-3088438"
    assert first.link.startswith("http://www.heise.de/developer/meldung/Java-Anwendungsserver-Red-Hat")
    assert first.published == utc(2016, 2, 1, 16, 22)  # 17:22+01:00
    assert first.text.startswith("Die nun verfügbare Version 10 des Enterprise-Java-Servers")


def test_macworld_without_guids_has_guid_none():
    feed = parse("news_macworld_no_guids.rss")
    assert all(e.guid is None for e in feed.entries)
    assert all(e.link and e.link.startswith("https://") for e in feed.entries)
    assert feed.entries[0].title == "Best smart lock"
    assert feed.entries[0].author == "Christopher Null"


def test_monkeydom_guid_is_not_used_as_link():
    feed = parse("edge_monkeydom_guid_permalink_false_claim.rss")
    first = feed.entries[0]
    assert first.guid == "cocoa-dom:tcmportmapper"
    assert first.link == "https://github.com/monkeydom/TCMPortMapper"
    assert first.published == utc(2018, 9, 6, 13, 27)
    assert all(e.guid.startswith("cocoa-dom:") for e in feed.entries)
    assert not any(e.link.startswith("cocoa-dom") for e in feed.entries)


def test_items_without_titles_are_kept():
    feed = parse("edge_scriptingnews_items_without_titles.rss")
    titled = [e for e in feed.entries if e.title]
    assert (len(feed.entries), len(titled)) == (50, 11)
    assert titled[0].title == "Subscribable feed lists give power to users"
    untitled = feed.entries[0]
    assert untitled.title == ""
    assert untitled.text == "Good morning students and teachers! 🍏"
    assert untitled.guid == "http://scripting.com/2017/06/26.html#a080605"


def test_image_inside_item_does_not_steal_the_title():
    feed = parse("edge_aktuality_sk_image_inside_item.rss")
    first = feed.entries[0]
    assert first.title == "Analytici Goldman Sachs zvýšili odhad rastu ekonomiky USA"
    assert (
        first.link
        == "https://www.aktuality.sk/clanok/856577/analytici-goldman-sachs-zvysili-odhad-rastu-ekonomiky-usa/"
    )
    assert first.text.startswith("Očakávajú totiž, že plán fiškálnych stimulov")
    assert first.guid is None


def test_two_guid_elements_and_ttl():
    feed = parse("edge_item_with_two_guid_elements.rss")
    (entry,) = feed.entries
    assert entry.guid == "http://www.braingle.com/50366.html"
    assert entry.title == "Huh?"
    assert feed.ttl_seconds == 300 * 60


def test_odd_dates_become_none_without_crashing():
    feed = parse("edge_rss2sample_odd_datetime.xml")
    assert [e.published for e in feed.entries] == [None] * 5  # "08/02/2013 12:00:00": ambiguous, no zone
    assert feed.entries[0].title == "Inspection of Private Fostering Service"
    assert feed.ttl_seconds == 3600


def test_guardian_every_item_has_guid_and_date():
    feed = parse("news_guardian_us_2018.rss")
    assert all(e.guid and e.published for e in feed.entries)
    assert feed.entries[0].title == "Trump State of the Union address promised unity but emphasized discord"
    assert feed.entries[0].published == utc(2018, 1, 31, 7, 26, 5)


def test_undefined_entity_stays_literal():
    feed = parse("feedparser/entities_doesnotexist.xml")
    assert feed.title == "testing &doesnotexist; entity"


def test_atom_inline_xhtml_content_becomes_text():
    (entry,) = parse("feedparser/wellformed_atom10_entry_content_inline_markup.xml").entries
    assert entry.text == "Example Atom"


def test_utf16_bom_fixture_and_derived_utf16_feeds():
    assert parse("feedparser/encoding_utf-16le-bom.xml").format == "rss"
    original = parse("spec_rss2sample_nasa_liftoff.xml")
    text = fixture("spec_rss2sample_nasa_liftoff.xml").decode("utf-8")
    text = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    for encoded in (
        text.encode("utf-16"),  # with BOM
        text.encode("utf-16-be"),  # no BOM
        text.encode("utf-16-le"),
        "\ufeff".encode("utf-32-le") + text.encode("utf-32-le"),
    ):
        feed = parse_feed(encoded)
        assert feed.entries == original.entries


def test_json_feed_daringfireball():
    feed = parse("jsonfeed_daringfireball_v1.json")
    assert (feed.format, feed.parser, feed.title) == ("json", "json", "Daring Fireball")
    first = feed.entries[0]
    assert first.guid == "https://daringfireball.net/linked/2017/06/26/the-talk-show-195"
    assert first.link == first.guid
    assert first.title == "The Talk Show: ‘I Do Like Throwing a Baby’"
    assert first.published == utc(2017, 6, 27, 0, 54, 17)
    assert first.author == "John Gruber"
    assert first.text.startswith("New episode of America’s favorite 3-star podcast")


def test_json_feed_authors_v11_and_legacy():
    feed = parse("jsonfeed_v11_authors.json")
    assert [e.guid for e in feed.entries] == [
        "Item without authors",
        "Item with legacy author",
        "Item with modern authors",
        "Item with both",
    ]
    assert [e.author for e in feed.entries] == [
        "Root Author 1",
        "Legacy Item Author",
        "Item Author 1",
        "Item Author 1",
    ]


def test_json_example_script_is_removed_from_text():
    feed = parse("feedparser/json_example.json")
    assert feed.title == "My Example Feed"
    second = feed.entries[1]
    assert second.text == "Hello, world!"
    assert "alert" not in second.text and "<" not in second.text
    assert feed.entries[0].title == "post 2"
    assert feed.entries[0].text == "This is a second item."


def test_truncated_json_names_the_position():
    with pytest.raises(ParseError, match=r"line 1 column 12171 \(char 12170\)"):
        parse("edge_jsonfeed_truncated_invalid.json")


def test_kev_json_is_not_a_json_feed_and_says_what_it_is():
    with pytest.raises(ParseError, match=r"JSON but not a JSON Feed .*vulnerabilities"):
        parse("cisa_kev_2025-08-25_truncated.json")


def test_html_page_message_names_the_page():
    with pytest.raises(ParseError) as caught:
        parse("edge_not_a_feed.html")
    assert str(caught.value) == (
        'not a feed: the server sent an HTML page titled "The Is Not The Feed You\'re Looking For"'
    )


# ---------------------------------------------------------------------------------------------
# The fast path and feedparser agree

# Hand-made documents for the rules the fixtures do not exercise. xml:base sits on the channel:
# feedparser lets an item's xml:base leak into the following items, which the fast path does not.
SYNTHETIC = {
    "rss_rules": b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>T &amp;amp; co</title><ttl>15</ttl>
<image><title>not the feed title</title><url>http://x.example/i.png</url></image>
<item><title>Use &amp;lt;b&amp;gt; for AT&amp;T</title><link>rel/path?a=1&amp;b=2</link>
  <guid isPermaLink="false">abc</guid><dc:date>2020-01-02T03:04:05Z</dc:date><description></description>
  <content:encoded>&lt;p&gt;Full &lt;b&gt;content&lt;/b&gt; here&lt;/p&gt;</content:encoded></item>
<item><guid>http://g.example/1</guid><description>d</description></item>
<item><guid isPermaLink="false">http://g.example/2</guid><description>d2</description>
  <atom:link rel="alternate" href="http://alt.example/2"/></item>
<item><link>javascript:alert(1)</link><title>x</title><pubDate>Tue, 10 Jun 2003 04:00:00 EST</pubDate></item>
<item><link>/abs/path</link><title><![CDATA[ <b>Bold</b> &amp; co ]]></title>
  <content:encoded><![CDATA[<p>only <script>bad()</script>content</p>]]></content:encoded></item>
<item><title>numeric guid is no link</title><guid>12345</guid>
  <pubDate>Mon, 31 Feb 2020 10:00:00 GMT</pubDate></item>
<item><title>far future</title><pubDate>Fri, 31 Dec 9999 10:00:00 GMT</pubDate></item>
</channel></rss>""",
    "atom_rules": b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://atom.example/base/">
<title type="html">A &lt;i&gt;feed&lt;/i&gt;</title>
<entry><id>urn:1</id><title>One</title><link href="one.html"/><link rel="enclosure" href="x.mp3"/>
  <updated>2021-05-06T07:08:09.123+02:00</updated><summary>S1</summary>
  <content type="html">&lt;p&gt;C1&lt;/p&gt;</content>
  <author><name>Ann</name></author></entry>
<entry><id>urn:2</id>
  <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Two <b>bold</b></div></title>
  <link rel="alternate" type="text/html" href="http://other.example/two"/>
  <link rel="alternate" type="application/pdf" href="two.pdf"/>
  <published>2021-05-06T07:08:09Z</published><updated>2022-01-01T00:00:00Z</updated>
  <content type="html">&lt;p&gt;C2 only&lt;/p&gt;</content></entry>
<entry><title>Three</title><link rel="self" href="self3"/><updated>2021-13-45T00:00:00Z</updated></entry>
<entry><id>http://atom.example/4</id><title>id is the link</title></entry>
</feed>""",
}

AGREEMENT_CASES = [*(("fixture", n) for n in WELL_FORMED), *(("synthetic", n) for n in SYNTHETIC)]


@pytest.mark.parametrize(("kind", "name"), AGREEMENT_CASES)
@pytest.mark.parametrize("url", [FEED_URL, ""])
def test_fast_path_and_feedparser_agree(kind, name, url):
    body = fixture(name) if kind == "fixture" else SYNTHETIC[name]
    doc = parse_module._prepare(body, None, 50_000_000)
    base = url if url.startswith("http") else ""
    fast = parse_module._parse_fast(doc, base, 1000)
    slow = parse_module._parse_with_feedparser(doc, base, 1000)
    assert fast is not None and fast.parser == "fast"
    assert slow.parser == "feedparser"
    assert (fast.title, fast.format, fast.ttl_seconds) == (slow.title, slow.format, slow.ttl_seconds)
    assert len(fast.entries) == len(slow.entries)
    for ours, theirs in zip(fast.entries, slow.entries, strict=True):
        assert (ours.guid, ours.link, ours.title, ours.published) == (
            theirs.guid,
            theirs.link,
            theirs.title,
            theirs.published,
        )
        # Not required of the two paths, but true today; a change here deserves a look.
        assert (ours.text, ours.author) == (theirs.text, theirs.author)


def test_synthetic_rules_resolve_as_documented():
    feed = parse_feed(SYNTHETIC["rss_rules"], url=FEED_URL)
    assert feed.parser == "fast"
    assert feed.title == "T & co"
    assert feed.ttl_seconds == 15 * 60
    first, second, third, fourth, fifth, sixth, seventh = feed.entries
    assert first.guid == "abc"
    assert first.link == "https://example.org/feeds/rel/path?a=1&b=2"
    assert first.title == "Use <b> for AT&T"  # double-escaped markup is text
    assert first.text == "Full content here"  # empty description: content:encoded instead
    assert first.published == utc(2020, 1, 2, 3, 4, 5)
    assert second.link == "http://g.example/1"  # a permalink guid stands in for the link
    assert third.link == "http://alt.example/2"
    assert fourth.link is None  # javascript: dropped
    assert fourth.published == utc(2003, 6, 10, 9)  # EST
    assert (fifth.link, fifth.title, fifth.text) == (
        "https://example.org/abs/path",
        "Bold & co",
        "only content",
    )
    assert (sixth.guid, sixth.link, sixth.published) == ("12345", None, None)
    assert seventh.published is None  # year 9999

    atom = parse_feed(SYNTHETIC["atom_rules"], url=FEED_URL)
    assert atom.title == "A feed"
    one, two, three, four = atom.entries
    assert (one.link, one.text, one.author) == ("http://atom.example/base/one.html", "S1", "Ann")
    assert one.published == utc(2021, 5, 6, 5, 8, 9)
    assert (two.title, two.text, two.link) == ("Two bold", "C2 only", "http://other.example/two")
    assert two.published == utc(2021, 5, 6, 7, 8, 9)  # published wins over updated
    assert (three.guid, three.link, three.published) == (None, None, None)
    assert four.link == "http://atom.example/4"


def test_item_xml_base_applies_to_that_item_only():
    body = b"""<rss version="2.0"><channel>
    <item xml:base="http://a.example/d/"><title>t</title><link>x</link></item>
    <item><title>u</title><link>y</link></item></channel></rss>"""
    feed = parse_feed(body, url=FEED_URL)
    assert feed.parser == "fast"
    assert [e.link for e in feed.entries] == ["http://a.example/d/x", "https://example.org/feeds/y"]


def test_relative_links_stay_relative_without_an_http_url():
    body = b'<rss version="2.0"><channel><item><title>t</title><link>/a/b</link></item></channel></rss>'
    assert parse_feed(body, url="some/file.xml").entries[0].link == "/a/b"


def test_fast_path_refusal_falls_back_to_feedparser(monkeypatch):
    def boom(data, base):
        return None  # as when expat finds the document ill-formed

    monkeypatch.setattr(parse_module, "_collect", boom)
    feed = parse_feed(fixture("news_macworld_no_guids.rss"))
    assert (feed.parser, len(feed.entries)) == ("feedparser", 30)


# ---------------------------------------------------------------------------------------------
# Sniffing, sizes and caps


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf \n", gzip.compress(b"  ")])
def test_empty_documents(body):
    with pytest.raises(ParseError, match=r"^empty document"):
        parse_feed(body)


def test_text_html_content_type_is_refused_unless_the_root_is_a_feed():
    page = b"<html><head><title>Just a moment...</title></head><body></body></html>"
    with pytest.raises(ParseError, match=r"the server sent an HTML page titled 'Just a moment\.\.\.'"):
        parse_feed(page, content_type="text/html; charset=utf-8")
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(b"<?xml version='1.0'?><unknown/>", content_type="text/html")
    # Misconfigured servers label real feeds text/html; the root element wins.
    feed = parse_feed(fixture("spec_rss2sample_nasa_liftoff.xml"), content_type="text/html")
    assert len(feed.entries) == 4


def test_html5_doctype_without_html_element_is_html():
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed(b"<!DOCTYPE html><title>Moved</title><p>gone")


def test_unknown_xml_root_and_plain_text():
    with pytest.raises(ParseError, match=r"not a feed: the XML root element is <opml>"):
        parse_feed(b'<?xml version="1.0"?><opml version="2.0"><body/></opml>')
    with pytest.raises(ParseError, match="neither XML nor JSON"):
        parse_feed(b"Service Unavailable")


def test_json_edge_cases():
    with pytest.raises(ParseError, match="JSON but not a JSON Feed \\(a top-level list\\)"):
        parse_feed(b"[1, 2]")
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_feed(b"[" * 100_000)
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_feed(b'{"version": ' + b"1" * 5000 + b"}")
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "<b>t</b>", "items": [
        {"id": 42, "url": "/p/1", "title": "a <b> b", "content_text": "plain  text"},
        "junk", {"id": ""}, {"url": "javascript:x", "summary": "s", "date_published": "nonsense"}]}"""
    feed = parse_feed(body, url="https://j.example/feed.json", content_type="application/feed+json")
    assert feed.title == "<b>t</b>"  # JSON Feed titles are plain text
    first, second = feed.entries
    assert (first.guid, first.link, first.title, first.text) == (
        "42",
        "https://j.example/p/1",
        "a <b> b",
        "plain text",
    )
    assert (second.guid, second.link, second.text, second.published) == (None, None, "s", None)


def test_max_entries_keeps_the_newest_in_document_order(caplog):
    everything = parse("news_guardian_us_2018.rss").entries
    newest = sorted(everything, key=lambda e: e.published, reverse=True)[:5]
    with caplog.at_level("WARNING", logger="bot.sources.parse"):
        feed = parse("news_guardian_us_2018.rss", max_entries=5)
    assert [e.guid for e in feed.entries] == [e.guid for e in everything if e in newest]
    assert "has 55 entries; kept the newest 5, dropped 50" in caplog.text
    assert len(parse("jsonfeed_daringfireball_v1.json", max_entries=3).entries) == 3
    assert len(parse("illformed_unescaped_ampersand.rss", max_entries=2).entries) == 2


def test_max_entries_zero_means_none():
    assert parse("news_guardian_us_2018.rss", max_entries=0).entries == []


def test_multibyte_encodings_expat_cannot_read_still_parse():
    doc = '<?xml version="1.0" encoding="{}"?><rss version="2.0"><channel><title>{}</title>'
    doc += "<item><title>{}</title><link>http://x.example/1</link></item></channel></rss>"
    for encoding, feed_title, item_title in (
        ("Shift_JIS", "日本語", "経済産業省"),
        ("GB2312", "中文", "工业和信息化部"),
    ):
        feed = parse_feed(doc.format(encoding, feed_title, item_title).encode(encoding))
        assert (feed.title, feed.entries[0].title) == (feed_title, item_title)


def test_html_entities_outside_xml_are_decoded_by_the_lenient_path():
    feed = parse_feed(
        b'<rss version="2.0"><channel><item><title>x&nbsp;y &eacute;</title></item></channel></rss>'
    )
    assert (feed.parser, feed.entries[0].title) == ("feedparser", "x y é")


def test_size_caps():
    body = fixture("news_guardian_us_2018.rss")
    with pytest.raises(ParseError, match="larger than 1000 bytes"):
        parse_feed(body, max_decompressed_bytes=1000)
    assert len(parse_feed(gzip.compress(body), max_decompressed_bytes=len(body)).entries) == 55
    with pytest.raises(ParseError, match="gzip body inflates to more than"):
        parse_feed(gzip.compress(body), max_decompressed_bytes=len(body) - 1)


def test_gzip_bomb_is_refused():
    bomb = gzip.compress(b"<" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="gzip body inflates to more than 20000000 bytes"):
        parse_feed(bomb)


def test_truncated_and_corrupt_gzip():
    packed = gzip.compress(fixture("spec_rss2sample_nasa_liftoff.xml"))
    with pytest.raises(ParseError, match="truncated gzip data"):
        parse_feed(packed[:-30])
    with pytest.raises(ParseError, match="corrupt gzip data"):
        parse_feed(packed[:10] + b"\xff" * 40 + packed[50:])


def test_http_charset_applies_only_when_the_document_declares_none():
    doc = "<rss version='2.0'><channel><item><title>Zażółć</title></item></channel></rss>"

    def title(body: bytes, content_type: str) -> str:
        return parse_feed(body, content_type=content_type).entries[0].title

    assert title(doc.encode("iso-8859-2"), "text/xml; charset=ISO-8859-2") == "Zażółć"
    declared = b'<?xml version="1.0" encoding="utf-8"?>' + doc.encode("utf-8")
    # A stale server charset must not override the document's own declaration.
    assert title(declared, "text/xml; charset=iso-8859-1") == "Zażółć"
    assert title(doc.encode("utf-8"), "text/xml; charset=rot13") == "Zażółć"


def test_entries_with_nothing_in_them_are_dropped():
    body = b'<rss version="2.0"><channel><item></item><item><description>  </description></item>'
    body += b"<item><title>kept</title></item></channel></rss>"
    assert [e.title for e in parse_feed(body).entries] == ["kept"]


# ---------------------------------------------------------------------------------------------
# Hostile XML: no entity expansion, no external entities, no network, no local files

NASA = fixture("spec_rss2sample_nasa_liftoff.xml")


def with_doctype(doctype: bytes, title: bytes) -> bytes:
    body = NASA.replace(b'<rss version="2.0">', doctype + b'\n<rss version="2.0">')
    return body.replace(b"<title>Star City</title>", b"<title>" + title + b"</title>")


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_billion_laughs_is_not_expanded():
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    body = with_doctype(b"<!DOCTYPE rss [" + entities + b"]>", b"Star &lol9; City")
    feed = parse_feed(body)  # expanding would take 3 GB and not come back
    assert feed.entries[0].title == "Star &lol9; City"
    assert len(feed.entries) == 4


def test_quadratic_blowup_is_not_expanded():
    body = with_doctype(b'<!DOCTYPE rss [<!ENTITY a "' + b"x" * 100_000 + b'">]>', b"&a;" * 20_000)
    feed = parse_feed(body)
    assert "xxxx" not in feed.entries[0].title
    assert len(feed.entries[0].title) <= TITLE_MAX_CHARS


def test_external_entities_are_not_read(tmp_path, no_network):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "file://{secret}">')
    variants = [
        with_doctype(f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(), b"Star &xxe; City"),
        with_doctype(
            f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{dtd}"> %p;]>'.encode(), b"Star &leak; City"
        ),
        with_doctype(b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">', b"Star City"),
        with_doctype(b'<!DOCTYPE rss [<!ENTITY net SYSTEM "http://127.0.0.1:9/x">]>', b"Star &net; City"),
    ]
    for body in variants:
        feed = parse_feed(body, url=FEED_URL)
        assert len(feed.entries) == 4
        assert "TOPSECRET" not in repr(feed)
    assert no_network == []


def test_a_body_that_looks_like_a_url_or_path_is_not_fetched_or_opened(tmp_path, no_network):
    local = tmp_path / "feed.xml"
    local.write_bytes(NASA)
    for body in (b"http://127.0.0.1:9/feed.xml", b"https://127.0.0.1:9/", str(local).encode()):
        with pytest.raises(ParseError):
            parse_feed(body)
    # Even handed straight to the feedparser step, a path is data, not a file name.
    doc = parse_module._Document("xml", str(local).encode(), root="rss")
    assert parse_module._parse_with_feedparser(doc, "", 1000).entries == []
    assert no_network == []


def test_doctype_with_tricky_internal_subset_is_removed_whole():
    doctype = b"""<!DOCTYPE rss [
      <!-- a comment with ] and > and ' inside -->
      <!ENTITY a "value with > and ]">
      <!ENTITY b 'single quoted "x"'>
    ]>"""
    feed = parse_feed(with_doctype(doctype, b"Star &a; City"))
    assert feed.parser == "feedparser"  # &a; is undefined once the DTD is gone: ill-formed
    assert feed.entries[0].title == "Star &a; City"
    assert len(feed.entries) == 4


def test_harmless_doctype_keeps_the_fast_path():
    body = with_doctype(
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">', b"Star"
    )
    feed = parse_feed(body)
    assert (feed.parser, feed.entries[0].title) == ("fast", "Star")


# ---------------------------------------------------------------------------------------------
# HTML to text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello, <b>world</b>!</p>", "Hello, world!"),
        ("<p>one</p><p>two</p>", "one two"),
        ("<b>Kas</b>persky", "Kaspersky"),
        ("<P>one</P><BlockQuote>two</BLOCKQUOTE>three<Br>four", "one two three four"),
        ("<prefix>a</prefix>b<thx>c", "abc"),  # unknown tags are inline, even if they start like <p>
        ("a<br/>b", "a b"),
        ("<script>alert(1)</script>x<style>p{}</style>y", "x y"),
        ("<SCRIPT type='text/javascript'>var a = '<p>';</SCRIPT>kept", "kept"),
        ("before<script>never closed", "before"),
        ("a<!-- hidden -->b", "a b"),
        ("AT&amp;T &lt;b&gt; &#8217; &eacute;&nbsp;x", "AT&T <b> ’ é x"),
        ("x < y and y > z", "x < y and y > z"),
        ("  lots \n\n of\t\tspace  ", "lots of space"),
        ("ctrl\x00\x07\x1b[0m\x85chars\u2028", "ctrl[0m chars"),  # NEL, LS: line breaks
        ("<a href='x'", "<a href='x'"),
        ("", ""),
    ],
)
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_html_to_text_caps_length_on_a_word():
    text = html_to_text("<p>" + "word " * 5000 + "</p>")
    assert len(text) <= TEXT_MAX_CHARS
    assert text.endswith("word…")
    assert len(html_to_text("x" * 50, limit=10)) == 10


def test_html_to_text_bounds_work_on_huge_input():
    huge = "<div>" + "<b>bold</b> text " * 200_000 + "</div>"
    assert len(html_to_text(huge)) <= TEXT_MAX_CHARS


def test_plain_text_keeps_angle_brackets():
    assert plain_text("a <b>  c\n") == "a <b> c"


# ---------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tue, 10 Jun 2003 04:00:00 GMT", utc(2003, 6, 10, 4)),
        ("Thu, 6 Sep 2018 13:27:00 +0000", utc(2018, 9, 6, 13, 27)),
        ("Fri, 18 Oct 2019 17:27:37 +0200", utc(2019, 10, 18, 15, 27, 37)),
        ("Tue, 10 Jun 03 04:00:00 EST", utc(2003, 6, 10, 9)),
        ("2016-01-28T17:07:00+01:00", utc(2016, 1, 28, 16, 7)),
        ("2017-06-27T00:54:17Z", utc(2017, 6, 27, 0, 54, 17)),
        ("2021-05-06T07:08:09.123456-05:30", utc(2021, 5, 6, 12, 38, 9)),
        ("2019-08-14", utc(2019, 8, 14)),
        ("  2019-08-14T10:00:00Z  ", utc(2019, 8, 14, 10)),
        ("08/02/2013 12:00:00", None),
        ("Mon, 31 Feb 2020 10:00:00 GMT", None),
        ("9999-12-31T23:00:00-05:00", None),
        ("1970-01-01T00:00:00Z", None),
        ("0000-00-00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("9" * 500, None),
    ],
)
def test_parse_date(raw, expected):
    assert parse_date(raw) == expected


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1991, 1, 1), max_value=datetime(2099, 1, 1)),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
    iso=st.booleans(),
)
def test_fast_date_parsing_agrees_with_feedparser(when, offset_minutes, iso):
    when = when.replace(microsecond=0)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    if iso:
        raw = when.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"
    else:
        raw = when.strftime("%a, %d %b %Y %H:%M:%S") + f" {sign}{hours:02d}{minutes:02d}"
    expected = (when - timedelta(minutes=offset_minutes)).replace(tzinfo=UTC)
    assert parse_module._fast_date(raw) == (True, expected)
    assert datetime(*feedparser_parse_date(raw)[:6], tzinfo=UTC) == expected


# ---------------------------------------------------------------------------------------------
# Nothing but ParseError, whatever the bytes

SMALL_FIXTURES = [n for n in all_fixture_names() if (FIXTURES / n).stat().st_size < 16_000]


def parses_or_refuses(body: bytes, content_type: str | None = None) -> None:
    try:
        feed = parse_feed(body, content_type=content_type, url=FEED_URL, max_decompressed_bytes=2_000_000)
    except ParseError as exc:
        assert str(exc)
    else:
        assert feed.parser in ("fast", "feedparser", "json")
        for entry in feed.entries:
            assert isinstance(entry.title, str) and isinstance(entry.text, str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2000), content_type=st.none() | st.text(max_size=40))
def test_arbitrary_bytes_raise_only_parse_error(body, content_type):
    parses_or_refuses(body, content_type)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(SMALL_FIXTURES),
    edits=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1),
            st.sampled_from(["flip", "drop", "insert", "cut"]),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_fixtures_raise_only_parse_error(name, edits):
    body = bytearray(fixture(name))
    for where, op, data in edits:
        at = int(where * len(body))
        if op == "flip" and body:
            body[min(at, len(body) - 1)] ^= data[0] or 1
        elif op == "drop":
            del body[at : at + len(data)]
        elif op == "insert":
            body[at:at] = data
        else:
            del body[at:]
    parses_or_refuses(bytes(body))


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("<>&;/!?[]-\"' abcxml=#")) | st.characters(),
        max_size=300,
    )
)
def test_markup_like_text_raises_only_parse_error(text):
    parses_or_refuses(('<rss version="2.0"><channel><item><title>' + text).encode("utf-8", "surrogatepass"))
    parses_or_refuses(("<?xml version='1.0'?>" + text).encode("utf-8", "surrogatepass"))
