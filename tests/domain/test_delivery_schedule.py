"""Schedule rules: digest times across DST, quiet hours across midnight, input errors, mention filters."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.domain.delivery_schedule import (
    QuietHours,
    ScheduleError,
    next_run,
    parse_mention_filter,
    parse_schedule,
    previous_run,
    wants_mention,
    zone,
)

VILNIUS = zone("Europe/Vilnius")


def test_daily_0900_vilnius_stays_0900_local_across_the_dst_change():
    daily = parse_schedule("daily", "09:00")
    # 2026-03-29: Vilnius moves from UTC+2 to UTC+3.
    before = next_run(daily, VILNIUS, datetime(2026, 3, 28, 7, 30, tzinfo=UTC))
    after = next_run(daily, VILNIUS, datetime(2026, 3, 29, 7, 30, tzinfo=UTC))
    assert before == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert previous_run(daily, VILNIUS, datetime(2026, 3, 29, 6, 0, tzinfo=UTC)) == before


def test_hourly_and_weekly_times():
    hourly = parse_schedule("hourly", "00:15")
    now = datetime(2026, 5, 6, 10, 20, tzinfo=UTC)
    assert previous_run(hourly, VILNIUS, now) == datetime(2026, 5, 6, 10, 15, tzinfo=UTC)
    assert next_run(hourly, VILNIUS, now) == datetime(2026, 5, 6, 11, 15, tzinfo=UTC)
    weekly = parse_schedule("weekly", "08:00", "friday")
    assert weekly.describe() == "weekly digest on Fri at 08:00"
    # 2026-05-06 is a Wednesday; Friday 08:00 Vilnius (UTC+3) is 05:00 UTC.
    assert next_run(weekly, VILNIUS, now) == datetime(2026, 5, 8, 5, 0, tzinfo=UTC)
    assert previous_run(weekly, VILNIUS, now) == datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
    assert weekly.cron() == {"hour": "8", "minute": "0", "day_of_week": "fri"}


def test_quiet_hours_wrap_midnight():
    quiet = QuietHours(time(22, 0), time(7, 0))
    late = datetime(2026, 5, 6, 20, 30, tzinfo=UTC)  # 23:30 Vilnius
    early = datetime(2026, 5, 7, 2, 0, tzinfo=UTC)  # 05:00 Vilnius
    day = datetime(2026, 5, 7, 9, 0, tzinfo=UTC)  # 12:00 Vilnius
    release = datetime(2026, 5, 7, 4, 0, tzinfo=UTC)  # 07:00 Vilnius
    assert quiet.release_time(VILNIUS, late) == release
    assert quiet.release_time(VILNIUS, early) == release
    assert quiet.release_time(VILNIUS, day) is None
    assert QuietHours(time(12, 0), time(13, 0)).release_time(VILNIUS, day) == datetime(
        2026, 5, 7, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "24:00"), "time must be HH:MM"),
        (("daily",), "a daily digest needs a time"),
        (("weekly", "09:00"), "a weekly digest needs a day"),
        (("weekly", "09:00", "funday"), "day must be one of mon"),
        (("monthly",), "mode must be one of instant, hourly, daily, weekly"),
        (("daily", "09:00", "mon"), "only a weekly digest takes a day"),
    ],
)
def test_bad_schedules_are_refused_in_plain_words(args, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(*args)


def test_unknown_time_zone():
    with pytest.raises(ScheduleError, match="unknown time zone 'Europe/Atlantis'"):
        zone("Europe/Atlantis")
    with pytest.raises(ScheduleError):
        zone("../etc/passwd")


def test_mention_filters_by_action_or_severity():
    assert wants_mention((), None)
    high = parse_mention_filter("high")
    assert wants_mention(high, "ban") and wants_mention(high, "covered_list")
    assert not wants_mention(high, "guidance") and not wants_mention(high, None)
    only = parse_mention_filter("fine, sanction")
    assert wants_mention(only, "fine") and not wants_mention(only, "ban")
    assert wants_mention(parse_mention_filter("urgent"), "entity_list")
    with pytest.raises(ScheduleError, match="unknown action type or severity 'bans'"):
        parse_mention_filter("bans")
