"""Notices about failing and silent sources: raised once per episode, printed, cleared on recovery."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.clock import utcnow
from bot.storage import notices, sources, subscriptions
from tests.helpers import local_settings, rss_item, sources_toml, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def settings_for(tmp_path, url, **extra):
    return local_settings(tmp_path, sources_toml(("UK NCSC", url)), **extra)


async def test_failing_source_notice_once_then_works_again_once(tmp_path, feed_server):
    feed_server.set("/ncsc.xml", with_items(NASA))
    out = io.StringIO()
    clock = ShiftedClock()
    settings = settings_for(tmp_path, feed_server.url("/ncsc.xml"), source_failing_notice_hours=24)
    async with build_services(settings, sinks={"console": ConsoleSink(out)}, clock=clock) as svc:
        await svc.scheduler.poll_all()
        # A guild uses the shared source: it is told too (delivered once Discord is connected).
        await svc.adb.call(subscriptions.add, "kaspersky", "discord:555", utcnow(), name="g", guild_id=42)
        feed_server.fail("/ncsc.xml", 503, times=3)
        [failed] = await svc.scheduler.poll_all()
        assert failed.status == "failed"
        assert await svc.check_sources() == 0 and out.getvalue() == ""  # failing, but not for long

        clock.offset = timedelta(hours=23)
        await svc.scheduler.poll_all()
        assert await svc.check_sources() == 0 and out.getvalue() == ""

        clock.offset = timedelta(hours=25)
        await svc.scheduler.poll_all()
        assert await svc.check_sources() == 1
        printed = out.getvalue()
        assert printed.count("regwatch notice:") == 1
        assert "UK NCSC" in printed and "has been failing since" in printed and "3 polls in a row" in printed
        assert "503" in printed and "regwatch sources check 1" in printed
        [src] = await svc.adb.call(sources.list_sources)
        assert src.state == "failing" and src.notice == "failing"

        clock.offset = timedelta(hours=30)  # still failing: no second notice
        assert await svc.check_sources() == 0 and out.getvalue() == printed
        waiting = await svc.adb.call(notices.pending)
        assert [n.target for n in waiting] == ["guild:42"]  # no Discord here: kept, not dropped

        [ok] = await svc.scheduler.poll_all()
        assert ok.status != "failed"
        assert await svc.check_sources() == 1
        assert out.getvalue().count("works again: its last poll succeeded") == 1
        assert await svc.check_sources() == 0
        [src] = await svc.adb.call(sources.list_sources)
        assert src.state == "ok" and src.notice is None


async def test_silent_source_notice_and_new_items_end_the_silence(tmp_path, feed_server):
    feed_server.set("/ncsc.xml", with_items(NASA))
    out = io.StringIO()
    clock = ShiftedClock()
    settings = settings_for(tmp_path, feed_server.url("/ncsc.xml"), source_silent_days=30)
    async with build_services(settings, sinks={"console": ConsoleSink(out)}, clock=clock) as svc:
        await svc.scheduler.poll_all()
        clock.offset = timedelta(days=29)
        await svc.scheduler.poll_all()
        assert await svc.check_sources() == 0

        clock.offset = timedelta(days=31)
        await svc.scheduler.poll_all()  # answers (unchanged), but nothing new for 31 days
        assert await svc.check_sources() == 1
        assert "no new items since" in out.getvalue() and "more than 30 days" in out.getvalue()
        [src] = await svc.adb.call(sources.list_sources)
        assert src.state == "silent" and "no new items since" in src.health_text()
        assert await svc.check_sources() == 0

        clock.offset = timedelta(days=32)
        feed_server.set("/ncsc.xml", with_items(NASA, rss_item("NCSC advisory", "https://ncsc.example/a")))
        await svc.scheduler.poll_all()
        await svc.check_sources()
        [src] = await svc.adb.call(sources.list_sources)
        assert src.state == "ok" and src.notice is None
        assert out.getvalue().count("regwatch notice:") == 1


async def test_a_sources_own_expected_period_overrides_the_default(tmp_path, feed_server):
    feed_server.set("/ncsc.xml", with_items(NASA))
    settings = settings_for(tmp_path, feed_server.url("/ncsc.xml"), source_silent_days=0)
    (tmp_path / "sources.toml").write_text(  # settings_for wrote a plain one: replace it
        f'[[source]]\nname = "Daily"\nurl = "{feed_server.url("/ncsc.xml")}"\n'
        "[source.options]\nexpected_period_hours = 48\n"
    )
    out = io.StringIO()
    clock = ShiftedClock()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}, clock=clock) as svc:
        await svc.scheduler.poll_all()
        clock.offset = timedelta(hours=50)
        await svc.scheduler.poll_all()
        assert await svc.check_sources() == 1
        assert "more than 2 days" in out.getvalue()  # the default (0: never) would not raise it
