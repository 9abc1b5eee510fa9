"""The poll pipeline through real parts: local feed server, real SQLite, real matcher, console sink."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.errors import DeliveryError
from bot.storage import outbox, sources, subscriptions
from bot.storage.outbox import PendingAlert
from tests.helpers import local_settings, rss_item, sources_toml, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"

SUBS = """
[[subscription]]
name = "kaspersky-actions"
query = 'vendor:Kaspersky'
[[subscription]]
name = "directives"
query = '"emergency directive" OR "binding operational directive"'
"""


def write_config(tmp_path, urls):
    return local_settings(tmp_path, sources_toml(*urls), SUBS)


async def poll_and_deliver(services):
    results = await services.scheduler.poll_all()
    drained = await services.dispatcher.drain()
    return results, drained


async def test_first_poll_records_then_new_item_alerts_once(tmp_path, feed_server):
    feed_server.set("/cisa.xml", with_items(NASA))
    settings = write_config(tmp_path, [("CISA news", feed_server.url("/cisa.xml"))])
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        [first], drained = await poll_and_deliver(services)
        assert first.status == "primed" and first.new_items == 4 and first.alerts == 0
        assert drained.sent == 0 and out.getvalue() == ""

        feed_server.set(
            "/cisa.xml",
            with_items(
                NASA,
                rss_item(
                    "CISA issues Binding Operational Directive on Kaspersky Lab's products",
                    "https://www.cisa.gov/news/bod-kaspersky?utm_source=rss",
                    guid="bod-kaspersky",
                ),
            ),
        )
        [second], drained = await poll_and_deliver(services)
        assert second.status == "new" and second.new_items == 1
        # One item matched two subscriptions on the same target: one alert per (target, link).
        assert second.alerts == 1 and drained.sent == 1
        printed = out.getvalue()
        assert "Binding Operational Directive on Kaspersky Lab's products" in printed
        assert "https://www.cisa.gov/news/bod-kaspersky" in printed
        assert "Kaspersky" in printed.split("matched:")[1]

        # Polling again finds nothing new and delivers nothing more.
        [third], drained = await poll_and_deliver(services)
        assert third.status == "unchanged" and drained.sent == 0
        assert out.getvalue() == printed


async def test_same_link_from_two_sources_alerts_once(tmp_path, feed_server):
    feed_server.set("/a.xml", with_items(NASA))
    feed_server.set("/b.xml", with_items(NASA))
    settings = write_config(tmp_path, [("A", feed_server.url("/a.xml")), ("B", feed_server.url("/b.xml"))])
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await poll_and_deliver(services)
        story = "Huawei and Kaspersky banned: emergency directive issued"
        feed_server.set(
            "/a.xml", with_items(NASA, rss_item(story, "https://news.example/story?utm_medium=rss"))
        )
        feed_server.set("/b.xml", with_items(NASA, rss_item(story, "http://www.news.example/story")))
        results, drained = await poll_and_deliver(services)
        assert sorted(r.new_items for r in results) == [1, 1]
        assert drained.sent == 1
        assert out.getvalue().count(story) == 1


async def test_unchanged_feed_is_a_304(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    async with build_services(settings) as services:
        await services.scheduler.poll_all()
        [again] = await services.scheduler.poll_all()
        assert again.status == "unchanged"
        last = [r for r in feed_server.requests if r.path == "/f.xml"][-1]
        assert last.status == 304 and "If-None-Match" in last.headers


async def test_html_page_is_a_source_error_with_backoff(tmp_path, feed_server):
    feed_server.set("/moved", b"<!DOCTYPE html><html><body>We moved!</body></html>", content_type="text/html")
    settings = write_config(tmp_path, [("Moved", feed_server.url("/moved"))])
    async with build_services(settings) as services:
        [result] = await services.scheduler.poll_all()
        assert result.status == "failed" and "not a feed" in (result.error or "")
        [src] = await services.adb.call(sources.list_sources)
        assert src.failures == 1 and "not a feed" in (src.last_error or "")
        assert src.next_check_at >= datetime.now(UTC) + timedelta(seconds=3)
        # A second failure backs off further.
        await services.scheduler.poll_all()
        [src2] = await services.adb.call(sources.list_sources)
        assert src2.failures == 2 and src2.next_check_at > src.next_check_at


async def test_server_error_then_recovery(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    feed_server.fail("/f.xml", 500, times=1)
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    async with build_services(settings) as services:
        [bad] = await services.scheduler.poll_all()
        assert bad.status == "failed" and "500" in (bad.error or "")
        [good] = await services.scheduler.poll_all()
        assert good.status == "primed"
        [src] = await services.adb.call(sources.list_sources)
        assert src.failures == 0 and src.last_error is None and src.failing_since is None


async def test_old_items_never_alert(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    async with build_services(settings) as services:
        await services.scheduler.poll_all()
        old = datetime.now(UTC) - timedelta(days=30)
        feed_server.set(
            "/f.xml", with_items(NASA, rss_item("Kaspersky ban", "https://x.example/old", published=old))
        )
        [result] = await services.scheduler.poll_all()
        assert result.new_items == 1 and result.alerts == 0


async def test_subscription_added_while_running_takes_effect(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await poll_and_deliver(services)
        await services.adb.call(subscriptions.add, "hikvision", "console", datetime.now(UTC), name="cams")
        feed_server.set(
            "/f.xml",
            with_items(NASA, rss_item("FCC adds Hikvision to Covered List", "https://fcc.example/1")),
        )
        [result], drained = await poll_and_deliver(services)
        assert result.alerts == 1 and drained.sent == 1 and "[cams]" in out.getvalue()


class FlakySink(ConsoleSink):
    """A sink whose target is down for the first `failures` attempts (a real outage, not a mock of ours)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.delivered: list[PendingAlert] = []

    async def send(self, alert: PendingAlert) -> str | None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("target unavailable", retry_after=0)
        self.delivered.append(alert)
        return f"msg-{alert.id}"


async def test_failed_delivery_is_retried_and_survives_restart(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    sink = FlakySink(failures=1)
    async with build_services(settings, sinks={"console": sink}) as services:
        await poll_and_deliver(services)
        feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky directive", "https://x.example/k")))
        _, drained = await poll_and_deliver(services)
        assert drained.retrying == 1 and sink.delivered == []
        [pending] = await services.adb.call(outbox.due, datetime.now(UTC) + timedelta(seconds=2))
        assert pending.attempts == 1
    # A new process (new services, same database) delivers it, once.
    async with build_services(settings, sinks={"console": sink}) as services:
        services.dispatcher._clock = lambda: datetime.now(UTC) + timedelta(seconds=2)
        drained = await services.dispatcher.drain()
        assert drained.sent == 1 and len(sink.delivered) == 1
        assert (await services.adb.call(outbox.counts))["sent"] == 1
        assert await services.dispatcher.drain() == type(drained)()


@pytest.mark.parametrize("dry_run", [True])
async def test_dry_run_stores_nothing(tmp_path, feed_server, dry_run):
    feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky removal ordered", "https://x.example/k")))
    settings = write_config(tmp_path, [("F", feed_server.url("/f.xml"))])
    async with build_services(settings) as services:
        [result] = await services.scheduler.poll_all(dry_run=dry_run)
        assert [w.title for w in result.would_alert] == ["Kaspersky removal ordered"]
        [src] = await services.adb.call(sources.list_sources)
        assert src.item_count == 0 and not src.primed


async def test_only_items_a_subscription_needs_are_classified(tmp_path, feed_server):
    from bot.domain.query import parse_query
    from bot.services.insight import preview
    from bot.storage import items as stored_items

    feed_server.set("/cisa.xml", with_items(NASA))
    settings = write_config(tmp_path, [("CISA news", feed_server.url("/cisa.xml"))])
    async with build_services(settings) as services:
        await services.scheduler.poll_all()
        feed_server.set(
            "/cisa.xml",
            with_items(
                NASA,
                rss_item("Kaspersky Lab products banned by the FCC", "https://x.example/kaspersky-ban"),
                rss_item("Treasury sanctions a shipping company", "https://x.example/sanctions"),
            ),
        )
        [result] = await services.scheduler.poll_all()
        assert result.new_items == 2 and result.alerts == 1
        rows = await services.adb.call(
            lambda db: dict(db.execute("SELECT link, classified FROM items WHERE first_poll = 0").fetchall())
        )
        # The matched item was classified (its alert explains the verdict); the other was not needed.
        assert rows == {"https://x.example/kaspersky-ban": 1, "https://x.example/sanctions": 0}
        stored = await services.adb.call(stored_items.recent, datetime.now(UTC) - timedelta(days=1))
        # A preview with action: classifies the unclassified item when it needs to.
        found = preview(stored, parse_query("shipping action:sanction"))
        assert [it.link for it, _ in found.top] == ["https://x.example/sanctions"]
