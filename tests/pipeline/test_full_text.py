"""Full text for teaser feeds: the linked page's article is matched (local pages, real trafilatura)."""

from __future__ import annotations

import io

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from tests.helpers import local_settings, rss_item, sources_toml, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
# A page written for this test (not a captured one): navigation, the article, a footer.
ARTICLE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Commerce acts</title></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Commerce acts on antivirus software</h1>
<p>The Department of Commerce today announced a final determination prohibiting Kaspersky Lab
from providing antivirus software and cybersecurity products or services in the United States.</p>
<p>Existing customers have until September to find alternatives, the department said.</p></article>
<footer>Contact the press office</footer></body></html>"""


def settings_for(tmp_path, feed_url, options=""):
    subscription = "[[subscription]]\nname = \"k\"\nquery = 'Kaspersky'\n"
    return local_settings(tmp_path, sources_toml(("Teasers", feed_url)) + options, subscription)


def teaser(feed_server, path="/article.html"):
    return rss_item("Commerce acts on antivirus software", feed_server.url(path), description="Read more…")


async def poll_twice(settings, feed_server, item):
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as svc:
        await svc.scheduler.poll_all()  # first poll: recorded, no pages fetched
        feed_server.set("/feed.xml", with_items(NASA, item))
        [result] = await svc.scheduler.poll_all()
        await svc.dispatcher.drain()
    return result, out.getvalue()


async def test_full_text_finds_the_vendor_only_named_in_the_article(tmp_path, feed_server):
    feed_server.set("/feed.xml", with_items(NASA))
    feed_server.set("/article.html", ARTICLE, content_type="text/html; charset=utf-8")
    options = "[source.options]\nfull_text = true\nmin_interval_seconds = 0\n"
    result, printed = await poll_twice(
        settings_for(tmp_path, feed_server.url("/feed.xml"), options), feed_server, teaser(feed_server)
    )
    assert result.status == "new" and result.alerts == 1
    assert "Commerce acts on antivirus software" in printed and "matched: Kaspersky" in printed
    assert feed_server.hits("/article.html") == 1
    assert "Home | News" not in printed and "press office" not in printed  # boilerplate left out


async def test_without_the_option_the_teaser_is_all_that_is_matched(tmp_path, feed_server):
    feed_server.set("/feed.xml", with_items(NASA))
    feed_server.set("/article.html", ARTICLE, content_type="text/html; charset=utf-8")
    result, printed = await poll_twice(
        settings_for(tmp_path, feed_server.url("/feed.xml")), feed_server, teaser(feed_server)
    )
    assert result.alerts == 0 and printed == "" and feed_server.hits("/article.html") == 0


async def test_a_page_that_fails_keeps_the_teaser_and_the_poll_succeeds(tmp_path, feed_server):
    feed_server.set("/feed.xml", with_items(NASA))
    feed_server.fail("/gone.html", 404, times=5)
    options = "[source.options]\nfull_text = true\nmin_interval_seconds = 0\n"
    result, _ = await poll_twice(
        settings_for(tmp_path, feed_server.url("/feed.xml"), options),
        feed_server,
        teaser(feed_server, "/gone.html"),
    )
    assert result.status == "new" and result.new_items == 1 and result.alerts == 0
    assert feed_server.hits("/gone.html") == 1
