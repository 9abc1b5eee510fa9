"""The `feed` kind on GOV.UK-finder-style Atom and Google-News-style RSS.

No capture of either is in the fixtures (SOURCES.md, "Not included"), so both documents below are
SYNTHETIC, written here to the shapes described in notes/sources.md §3 and §6: GOV.UK finder Atom
(`tag:www.gov.uk,2005:` ids, `updated` only, `summary type="html"`) and Google News RSS
(`<generator>NFE/5.0</generator>`, "Headline - Publisher" titles, `<source url>` elements).
"""

from __future__ import annotations

import pytest

from bot.sources.adapters import parse_document

GOVUK_ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <id>https://www.gov.uk/search/news-and-communications</id>
  <link rel="self" type="application/atom+xml"
        href="https://www.gov.uk/search/news-and-communications.atom?keywords=kaspersky"/>
  <title>Synthetic finder results</title>
  <updated>2025-03-14T10:00:00+00:00</updated>
  <entry>
    <id>tag:www.gov.uk,2005:/government/news/synthetic-guidance-on-antivirus-products</id>
    <updated>2025-03-14T09:30:00+00:00</updated>
    <link rel="alternate" type="text/html" href="https://www.gov.uk/government/news/synthetic-guidance-on-antivirus-products"/>
    <title>Synthetic guidance on Russian antivirus products</title>
    <summary type="html">&lt;p&gt;Departments should not use
      &lt;strong&gt;Kaspersky&lt;/strong&gt; products where …&lt;/p&gt;</summary>
  </entry>
  <entry>
    <id>tag:www.gov.uk,2005:/government/publications/synthetic-notice</id>
    <updated>2025-03-13T16:00:00+01:00</updated>
    <link rel="alternate" type="text/html" href="/government/publications/synthetic-notice"/>
    <title>Synthetic notice</title>
    <summary type="html">A one-line summary</summary>
  </entry>
</feed>
"""

GNEWS_RSS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
<generator>NFE/5.0</generator><title>"Kaspersky" ban - Google News</title>
<link>https://news.google.com/search?q=%22Kaspersky%22+ban</link><language>en-US</language>
<item><title>Commerce bans Kaspersky antivirus sales - Example Wire</title>
<link>https://news.google.com/rss/articles/CBMiSYNTHETIC1?oc=5</link>
<guid isPermaLink="false">CBMiSYNTHETIC1</guid><pubDate>Thu, 20 Jun 2024 16:00:00 GMT</pubDate>
<description>&lt;a href="https://news.google.com/rss/articles/CBMiSYNTHETIC1?oc=5" target="_blank"&gt;
Commerce bans Kaspersky antivirus sales&lt;/a&gt;&amp;nbsp;&amp;nbsp;
&lt;font color="#6f6f6f"&gt;Example Wire&lt;/font&gt;</description>
<source url="https://wire.example">Example Wire</source></item>
<item><title>Kaspersky - what the ban means for you - The Example Times</title>
<link>https://news.google.com/rss/articles/CBMiSYNTHETIC2?oc=5</link>
<guid isPermaLink="false">CBMiSYNTHETIC2</guid><pubDate>Fri, 21 Jun 2024 08:00:00 GMT</pubDate>
<description>&lt;a href="https://news.google.com/rss/articles/CBMiSYNTHETIC2?oc=5"&gt;
Kaspersky - what the ban means for you&lt;/a&gt;&amp;nbsp;&amp;nbsp;
&lt;font color="#6f6f6f"&gt;The Example Times&lt;/font&gt;</description>
<source url="https://times.example">The Example Times</source></item>
<item><title>An aggregated item - Someone Else</title>
<link>https://news.google.com/rss/articles/CBMiSYNTHETIC3?oc=5</link>
<guid isPermaLink="false">CBMiSYNTHETIC3</guid><pubDate>Fri, 21 Jun 2024 09:00:00 GMT</pubDate>
<description>No source element on this one</description></item>
</channel></rss>
"""


def feed(body: str, url: str, **options):
    return parse_document("feed", body.encode(), url=url, content_type="application/rss+xml", options=options)


def test_govuk_finder_atom_normalises():
    parsed = feed(GOVUK_ATOM, "https://www.gov.uk/search/news-and-communications.atom?keywords=kaspersky")
    assert parsed.format == "atom" and len(parsed.entries) == 2
    first, second = parsed.entries
    assert first.guid == "tag:www.gov.uk,2005:/government/news/synthetic-guidance-on-antivirus-products"
    assert first.link == "https://www.gov.uk/government/news/synthetic-guidance-on-antivirus-products"
    assert first.title == "Synthetic guidance on Russian antivirus products"
    assert first.text == "Departments should not use Kaspersky products where …"
    # GOV.UK sends only <updated>: it is the date we have.
    assert first.published.isoformat() == "2025-03-14T09:30:00+00:00"
    assert second.published.isoformat() == "2025-03-13T15:00:00+00:00"
    assert second.link == "https://www.gov.uk/government/publications/synthetic-notice"


def test_google_news_publisher_comes_from_the_source_element():
    parsed = feed(GNEWS_RSS, "https://news.google.com/rss/search?q=%22Kaspersky%22+ban")
    assert [e.publisher for e in parsed.entries] == ["Example Wire", "The Example Times", None]
    # Without the option, titles stay as Google News wrote them.
    assert parsed.entries[0].title == "Commerce bans Kaspersky antivirus sales - Example Wire"


@pytest.mark.parametrize("parser_path", ["fast", "feedparser"])
def test_google_news_titles_lose_the_publisher_suffix_with_the_option(parser_path):
    body = GNEWS_RSS
    if parser_path == "feedparser":
        body = body.replace(
            "<language>en-US</language>", "<language>en-US</language><x:y/>"
        )  # unbound prefix
    parsed = feed(body, "https://news.google.com/rss/search?q=x", strip_publisher_suffix=True)
    assert parsed.parser == parser_path
    first, second, third = parsed.entries
    assert first.title == "Commerce bans Kaspersky antivirus sales"
    assert first.text == "Commerce bans Kaspersky antivirus sales"
    assert (
        first.guid == "CBMiSYNTHETIC1"
        and first.link == "https://news.google.com/rss/articles/CBMiSYNTHETIC1?oc=5"
    )
    # Only the named publisher is cut: a " - " inside the headline stays.
    assert second.title == "Kaspersky - what the ban means for you"
    # No <source>: nothing to go by, so nothing is cut.
    assert third.title == "An aggregated item - Someone Else"
