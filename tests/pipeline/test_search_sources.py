"""Search sources through real parts: a local server answering per search text, real SQLite."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import parse_qs

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.storage import sources, subscriptions
from tests.helpers import local_settings, rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SUBS = """
[[subscription]]
name = "kaspersky"
query = 'vendor:Kaspersky'
[[subscription]]
name = "kaspersky-bans"
query = 'Kaspersky AND (ban OR prohibit*)'
[[subscription]]
name = "directives"
query = '"emergency directive" OR "binding operational directive"'
[[subscription]]
name = "any-ban"
query = 'action:ban'
"""
KASPERSKY_Q = "/search?q=kaspersky"
DIRECTIVE_Q = "/search?q=%22binding+operational+directive%22+OR+%22emergency+directive%22"


def settings_for(tmp_path, feed_server, options: str = ""):
    source = (
        f'[[source]]\nname = "News search"\nkind = "search"\n'
        f'url = "{feed_server.url("/search")}?q={{terms}}"\n'
        f"[source.options]\nmin_interval_seconds = 0\n{options}"
    )
    return local_settings(tmp_path, source, SUBS)


def searched_for(feed_server) -> list[list[str]]:
    return sorted(parse_qs(r.query)["q"] for r in feed_server.requests_for("/search"))


def kaspersky_item(n: int) -> str:
    return rss_item(f"Commerce bans Kaspersky Lab software ({n})", f"https://news.example/k{n}", guid=f"k{n}")


async def test_one_search_per_term_set_first_answers_prime_later_ones_alert(tmp_path, feed_server):
    feed_server.set(KASPERSKY_Q, with_items(NASA, kaspersky_item(1)))
    feed_server.set(DIRECTIVE_Q, with_items(NASA))
    out = io.StringIO()
    async with build_services(
        settings_for(tmp_path, feed_server), sinks={"console": ConsoleSink(out)}
    ) as svc:
        [first] = await svc.scheduler.poll_all()
        # Two Kaspersky queries share one search; `action:ban` has nothing to search for.
        assert searched_for(feed_server) == [
            ['"binding operational directive" OR "emergency directive"'],
            ["kaspersky"],
        ]
        assert first.status == "primed" and first.new_items == 5 and first.alerts == 0

        feed_server.set(KASPERSKY_Q, with_items(NASA, kaspersky_item(2), kaspersky_item(1)))
        [second] = await svc.scheduler.poll_all()
        assert second.status == "new" and second.new_items == 1
        await svc.dispatcher.drain()
        printed = out.getvalue()
        assert "Commerce bans Kaspersky Lab software (2)" in printed and "(1)" not in printed
        assert printed.count("https://news.example/k2") == 1

        # A subscription added later: its first search only records what the server knows.
        await svc.adb.call(subscriptions.add, "Hikvision", "console", datetime.now(UTC), name="cams")
        hik_q = "/search?q=hikvision"
        feed_server.set(hik_q, with_items(NASA, rss_item("FCC adds Hikvision", "https://news.example/h1")))
        [third] = await svc.scheduler.poll_all()
        assert third.new_items == 1 and third.alerts == 0
        feed_server.set(
            hik_q,
            with_items(
                NASA,
                rss_item("FCC bans Hikvision cameras", "https://news.example/h2"),
                rss_item("FCC adds Hikvision", "https://news.example/h1"),
            ),
        )
        [fourth] = await svc.scheduler.poll_all()
        assert fourth.new_items == 1 and fourth.alerts >= 1
        await svc.dispatcher.drain()
        assert "FCC bans Hikvision cameras" in out.getvalue()
        assert "FCC adds Hikvision" not in out.getvalue()
        assert feed_server.hits(KASPERSKY_Q) == 4 and feed_server.hits(hik_q) == 2


async def test_search_source_failing_everywhere_backs_off_and_one_failure_does_not_stop_others(
    tmp_path, feed_server
):
    feed_server.set(KASPERSKY_Q, with_items(NASA))
    feed_server.fail(DIRECTIVE_Q, 500, times=1)
    async with build_services(
        settings_for(tmp_path, feed_server), sinks={"console": ConsoleSink(io.StringIO())}
    ) as svc:
        [first] = await svc.scheduler.poll_all()
        assert first.status == "primed"  # the Kaspersky search answered
        [src] = await svc.adb.call(sources.list_sources)
        assert src.failures == 0

        feed_server.fail(KASPERSKY_Q, 503, times=1)
        feed_server.fail(DIRECTIVE_Q, 503, times=1)
        [second] = await svc.scheduler.poll_all()
        assert second.status == "failed"
        assert "503" in (second.error or "") and "and 1 more" in (second.error or "")
        [src] = await svc.adb.call(sources.list_sources)
        assert src.failures == 1 and src.next_check_at > datetime.now(UTC)


async def test_max_queries_caps_the_searches_most_subscribed_first(tmp_path, feed_server):
    feed_server.set(KASPERSKY_Q, with_items(NASA))
    feed_server.set(DIRECTIVE_Q, with_items(NASA))
    settings = settings_for(tmp_path, feed_server, "max_queries = 1\n")
    async with build_services(settings, sinks={"console": ConsoleSink(io.StringIO())}) as svc:
        await svc.scheduler.poll_all()
        assert searched_for(feed_server) == [["kaspersky"]]  # two subscriptions need it, one the other
