"""Digests, urgent bypass and quiet hours with an injected clock, real SQLite and a local feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.delivery_schedule import parse_quiet_hours
from bot.storage import delivery_settings
from tests.delivery.harness import Clock, running


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """A UTC time tomorrow: near the real date, so items are recent, and never 'now' by accident."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def vilnius_offset(moment: datetime) -> timedelta:
    from zoneinfo import ZoneInfo

    offset = moment.astimezone(ZoneInfo("Europe/Vilnius")).utcoffset()
    assert offset is not None
    return offset


async def test_daily_digest_at_0900_vilnius_survives_restarts_before_and_after(tmp_path, feed_server):
    items: list[str] = []
    base = tomorrow_at(12)
    offset = vilnius_offset(base)
    nine = base.replace(hour=9) - offset  # 09:00 in Vilnius, in UTC
    clock = Clock(nine - timedelta(hours=3))  # 06:00 Vilnius
    async with running(tmp_path, feed_server, clock, items) as bot:
        await bot.call(delivery_settings.set_timezone, None, "Europe/Vilnius")
        await bot.poll()  # first poll primes the source
        sub = await bot.subscribe("kaspersky", "daily", "09:00")
        bot.publish("Kaspersky patches a flaw in its VPN", "https://news.example/1")
        await bot.poll()
        clock.advance(minutes=30)
        bot.publish("Kaspersky opens a transparency centre", "https://news.example/2")
        await bot.poll()
        assert bot.printed() == ""  # no instant alert

    # Restart before its time: nothing yet; the job is rebuilt for 09:00 Vilnius.
    clock.now = nine - timedelta(minutes=30)
    async with running(tmp_path, feed_server, clock, items) as bot:
        assert bot.printed() == ""
        assert bot.services.digests.fire_time(sub, clock()) == nine
        clock.now = nine + timedelta(seconds=2)  # the cron job fires
        await bot.services.digests.runner.run_job(sub)
        digest = bot.printed()
        assert digest.count("DIGEST ") == 1
        assert f"Daily digest at 09:00 for subscription #{sub}: 2 alerts" in digest
        assert digest.index("transparency centre") < digest.index("VPN")  # newest first
        assert "https://news.example/1" in digest and "https://news.example/2" in digest
        await bot.services.digests.runner.run_job(sub)  # fired twice: sent once
        assert bot.printed() == ""

    # Restart after its time: it was sent, so it is not sent again.
    clock.now = nine + timedelta(hours=1)
    async with running(tmp_path, feed_server, clock, items) as bot:
        assert bot.printed() == ""
        # An item for tomorrow's digest; the bot is down at 09:00 the next day.
        bot.publish("Kaspersky wins an appeal", "https://news.example/3")
        await bot.poll()
        assert bot.printed() == ""

    clock.now = nine + timedelta(days=1, hours=2)
    async with running(tmp_path, feed_server, clock, items) as bot:
        missed = bot.printed()  # sent once at start
        assert missed.count("DIGEST ") == 1 and "1 alert since" in missed and "appeal" in missed
    clock.advance(minutes=5)
    async with running(tmp_path, feed_server, clock, items) as bot:
        assert bot.printed() == ""  # not doubled
        rows = await bot.call(lambda db: db.execute("SELECT status FROM outbox").fetchall())
        assert rows == [("sent",)] * 3


async def test_empty_period_sends_nothing_and_hourly_and_weekly_fire_on_time(tmp_path, feed_server):
    items: list[str] = []
    clock = Clock(tomorrow_at(10, 20))
    async with running(tmp_path, feed_server, clock, items) as bot:
        await bot.poll()
        hourly = await bot.subscribe("kaspersky", "hourly")
        weekly = await bot.subscribe("huawei", "weekly", "08:00", "mon")
        await bot.services.digests.rebuild(force=True)
        assert bot.services.digests.fire_time(hourly, clock()) == clock().replace(hour=11, minute=0)
        monday = bot.services.digests.fire_time(weekly, clock())
        assert monday is not None and monday.weekday() == 0 and monday.hour == 8 and monday > clock()

        clock.now = clock().replace(hour=11, minute=0, second=1)
        await bot.services.digests.runner.run_job(hourly)
        assert bot.printed() == ""  # an empty hour sends nothing

        bot.publish("Kaspersky ends its US business", "https://news.example/k")
        bot.publish("Huawei equipment removal deadline extended", "https://news.example/h")
        await bot.poll()
        assert bot.printed() == ""
        clock.now = clock().replace(hour=12, minute=0, second=1)
        await bot.services.digests.runner.run_job(hourly)
        await bot.services.digests.runner.run_job(weekly)  # not its day: nothing
        out = bot.printed()
        assert out.count("DIGEST ") == 1 and "Hourly digest at :00" in out and "US business" in out
        assert "Huawei" not in out

        clock.now = monday + timedelta(seconds=1)
        await bot.services.digests.runner.run_job(weekly)
        out = bot.printed()
        assert out.count("DIGEST ") == 1 and "Weekly digest on Mon at 08:00" in out
        assert "Huawei · other news (1)" in out


async def test_urgent_action_bypasses_the_digest_unless_told_not_to(tmp_path, feed_server):
    items: list[str] = []
    clock = Clock(tomorrow_at(6))
    async with running(tmp_path, feed_server, clock, items) as bot:
        await bot.poll()
        sub = await bot.subscribe("kaspersky", "daily", "09:00")
        strict = await bot.subscribe("huawei", "daily", "09:00", urgent_instant=False)
        bot.publish("Commerce bans Kaspersky Lab software from US networks", "https://bis.example/k")
        bot.publish("Kaspersky opens a transparency centre", "https://news.example/t")
        bot.publish("Commerce bans Huawei equipment", "https://bis.example/h")
        await bot.poll()
        out = bot.printed()
        assert out.count("ALERT [") == 1 and "bans Kaspersky" in out and "action: ban" in out
        sent = await bot.services.digests.runner.run_now()
        out = bot.printed()
        assert out.count("DIGEST ") == 2
        assert "transparency centre" in out and "bans Huawei" in out and "bans Kaspersky" not in out
        assert {d.subscription_id: d.alerts for d in sent} == {sub: 1, strict: 1}


async def test_quiet_hours_hold_alerts_and_release_them_together(tmp_path, feed_server):
    items: list[str] = []
    base = tomorrow_at(12)
    clock = Clock(base.replace(hour=23) - vilnius_offset(base))  # 23:00 Vilnius
    async with running(tmp_path, feed_server, clock, items) as bot:
        await bot.call(delivery_settings.set_timezone, None, "Europe/Vilnius")
        await bot.call(
            delivery_settings.set_quiet_hours, None, "console", parse_quiet_hours("22:00", "07:00")
        )
        await bot.poll()
        await bot.subscribe("kaspersky")
        bot.publish("Kaspersky patches a flaw in its VPN", "https://news.example/1")
        bot.publish("Treasury sanctions Kaspersky executives", "https://news.example/s")
        await bot.poll()
        out = bot.printed()
        assert out.count("ALERT [") == 1 and "sanctions" in out  # urgent: bypasses quiet hours
        clock.advance(hours=3)
        bot.publish("Kaspersky opens a transparency centre", "https://news.example/2")
        await bot.poll()
        assert bot.printed() == ""
        clock.advance(hours=4, minutes=59)  # 06:59 Vilnius
        await bot.services.dispatcher.drain()
        assert bot.printed() == ""
        clock.advance(minutes=1)  # 07:00: quiet hours end
        await bot.services.dispatcher.drain()
        out = bot.printed()
        assert out.count("ALERT [") == 2 and "VPN" in out and "transparency" in out
        await bot.services.dispatcher.drain()
        assert bot.printed() == ""
