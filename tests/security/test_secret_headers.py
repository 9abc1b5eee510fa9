"""A source's secret headers go to the source's own origin only (bot/sources/http.py).

Two loopback servers on different ports are two origins. The source lives on `home` and carries
an API key, an Authorization header and a cookie; `elsewhere` records what reaches it through a
redirect, a mirror and full-text item pages, polled by the real service.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from tests.feedserver import FeedServer, RecordedRequest
from tests.helpers import local_settings, rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SECRETS = {"X-Api-Key": "key-123", "Authorization": "Bearer tok-456", "Cookie": "session=789"}
HEADERS_TOML = (
    'headers = { X-Api-Key = "key-123", Authorization = "Bearer tok-456", Cookie = "session=789" }\n'
)
# A page written for these tests (not a captured one).
ARTICLE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Commerce acts</title></head>
<body><article><h1>Commerce acts on antivirus software</h1>
<p>The Department of Commerce today announced a final determination prohibiting Kaspersky Lab
from providing antivirus software and cybersecurity products or services in the United States.</p>
<p>Existing customers have until September to find alternatives, the department said.</p>
</article></body></html>"""


@pytest.fixture
async def elsewhere() -> AsyncIterator[FeedServer]:
    """Yield a second loopback server: another origin (another port)."""
    async with FeedServer() as server:
        yield server


def secrets_in(request: RecordedRequest) -> set[str]:
    """Return the secret headers a request carried."""
    return {name for name in SECRETS if name in request.headers}


def source(url: str, options: str = "") -> str:
    """Return a sources file with one source carrying the secret headers."""
    return f'[[source]]\nname = "Keyed"\nurl = "{url}"\n[source.options]\n{HEADERS_TOML}{options}'


async def poll(settings, times: int = 1) -> str:
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as svc:
        for _ in range(times):
            await svc.scheduler.poll_all()
        await svc.dispatcher.drain()
    return out.getvalue()


async def test_headers_reach_the_source_but_not_a_redirect_to_another_origin(
    tmp_path, feed_server, elsewhere
) -> None:
    elsewhere.set("/moved.xml", with_items(NASA))
    feed_server.set("/same.xml", with_items(NASA))
    feed_server.redirect("/feed.xml", elsewhere.url("/moved.xml"))
    feed_server.redirect("/local.xml", "/same.xml")
    settings = local_settings(
        tmp_path, source(feed_server.url("/feed.xml")) + source(feed_server.url("/local.xml"))
    )
    await poll(settings)
    [first_hop] = feed_server.requests_for("/feed.xml")
    assert secrets_in(first_hop) == set(SECRETS)  # the source's own origin gets them
    [moved] = elsewhere.requests_for("/moved.xml")
    assert secrets_in(moved) == set(), moved.headers
    assert moved.headers["User-Agent"].startswith("regwatch")  # our own headers still go
    # A redirect within the origin keeps them.
    [same] = feed_server.requests_for("/same.xml")
    assert secrets_in(same) == set(SECRETS)


async def test_a_mirror_on_another_origin_gets_no_headers(tmp_path, feed_server, elsewhere) -> None:
    feed_server.set("/feed.xml", with_items(NASA))
    feed_server.fail("/feed.xml", 403, times=5)
    elsewhere.set("/mirror.xml", with_items(NASA))
    settings = local_settings(
        tmp_path, source(feed_server.url("/feed.xml"), f'mirror = "{elsewhere.url("/mirror.xml")}"\n')
    )
    await poll(settings)
    assert secrets_in(feed_server.requests_for("/feed.xml")[0]) == set(SECRETS)
    [mirrored] = elsewhere.requests_for("/mirror.xml")
    assert secrets_in(mirrored) == set()


async def test_full_text_item_pages_get_no_headers_on_any_origin(tmp_path, feed_server, elsewhere) -> None:
    feed_server.set("/feed.xml", with_items(NASA))
    elsewhere.set("/article.html", ARTICLE, content_type="text/html; charset=utf-8")
    feed_server.set("/own-article.html", ARTICLE, content_type="text/html; charset=utf-8")
    subscription = "[[subscription]]\nname = \"k\"\nquery = 'Kaspersky'\n"
    settings = local_settings(
        tmp_path,
        source(feed_server.url("/feed.xml"), "full_text = true\nmin_interval_seconds = 0\n"),
        subscription,
    )
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as svc:
        await svc.scheduler.poll_all()  # first poll: recorded, no pages fetched
        feed_server.set(
            "/feed.xml",
            with_items(
                NASA,
                rss_item("Commerce acts", elsewhere.url("/article.html"), description="Read more…"),
                rss_item("Commerce acts again", feed_server.url("/own-article.html"), description="More…"),
            ),
        )
        [result] = await svc.scheduler.poll_all()
        await svc.dispatcher.drain()
    assert result.alerts == 2  # both pages were fetched and read: the vendor is only in them
    assert all(secrets_in(r) == set(SECRETS) for r in feed_server.requests_for("/feed.xml"))
    [page] = elsewhere.requests_for("/article.html")
    [own_page] = feed_server.requests_for("/own-article.html")
    assert secrets_in(page) == set() and secrets_in(own_page) == set()
