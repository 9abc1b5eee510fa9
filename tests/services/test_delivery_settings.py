"""The delivery-settings use cases on a real database: validation in plain words, and per-server scope."""

from __future__ import annotations

from datetime import time

import pytest

from bot.domain.delivery_schedule import QuietHours, Schedule
from bot.domain.errors import UserError
from bot.services.delivery_settings import ScheduleService
from bot.services.scope import Scope
from bot.storage import delivery_settings
from bot.storage.delivery_settings import RateCap
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox

SERVER_A, SERVER_B = 111111111111111111, 222222222222222222
ROLE = 333333333333333333
A, B = Scope.guild(SERVER_A), Scope.guild(SERVER_B)


async def test_a_schedule_is_validated_scoped_and_starts_its_first_period_now(
    box: Outbox, clock: Clock
) -> None:
    service = ScheduleService(box.adb, clock=clock)
    sub = await box.subscribe(target="discord:1", guild_id=SERVER_A)

    for mode, at, day in (
        ("fortnightly", None, None),
        ("daily", "25:00", None),
        ("weekly", "08:00", "someday"),
    ):
        with pytest.raises(UserError):
            await service.schedule(A, sub, mode, at, day)
    with pytest.raises(UserError, match=f"no subscription {sub}"):
        await service.schedule(B, sub, "daily", "09:00")
    [(mode, state)] = await box.call(
        lambda db: db.execute(
            "SELECT s.delivery_mode, d.last_digest_at FROM subscriptions s"
            " LEFT JOIN digest_state d ON d.subscription_id = s.id"
        ).fetchall()
    )
    assert (mode, state) == ("instant", None), "a refused request changed nothing"

    await box.call(delivery_settings.set_timezone, SERVER_A, "Europe/Vilnius")
    schedule, tz = await service.schedule(A, sub, "weekly", "08:00", "mon", urgent_instant=False)
    assert schedule == Schedule("weekly", time(8, 0), 0, False) and tz == "Europe/Vilnius"
    [digest] = await box.call(delivery_settings.digest_subscriptions)
    assert (digest.id, digest.last_digest_at, digest.timezone) == (sub, clock(), "Europe/Vilnius")
    assert await service.described(A) == {sub: schedule.describe()}
    assert await service.described(B) == {}


async def test_mentions_take_known_actions_or_severities_of_the_servers_own_subscriptions(
    box: Outbox, clock: Clock
) -> None:
    service = ScheduleService(box.adb, clock=clock)
    sub = await box.subscribe(target="discord:1", guild_id=SERVER_A)

    with pytest.raises(UserError, match="unknown action type or severity 'loud'"):
        await service.mention(A, sub, ROLE, "ban, loud")
    with pytest.raises(UserError, match=f"no subscription {sub}"):
        await service.mention(B, sub, ROLE, "ban")
    assert await service.mention(A, sub, ROLE, "Ban, high ban") == ("ban", "high")
    assert await box.call(delivery_settings.mention_filters, {sub}) == {sub: ("ban", "high")}
    assert await box.call(lambda db: db.execute("SELECT mention_role_id FROM subscriptions").fetchall()) == [
        (ROLE,)
    ]
    assert await service.mention(A, sub, None, None) == ()


async def test_time_zone_quiet_hours_and_rate_caps_belong_to_one_server(box: Outbox, clock: Clock) -> None:
    service = ScheduleService(box.adb, clock=clock)

    with pytest.raises(UserError):
        await service.set_timezone(A, "Mars/Olympus_Mons")
    assert await service.set_timezone(A, "Asia/Tokyo") == "Asia/Tokyo"
    assert (await service.timezone(A), await service.timezone(B)) == ("Asia/Tokyo", "UTC")

    with pytest.raises(UserError):
        await service.set_quiet_hours(A, "*", "22:00", "22:00")
    with pytest.raises(UserError):
        await service.set_quiet_hours(A, "*", "late", "07:00")
    hours = await service.set_quiet_hours(A, "discord:1", "22:00", "07:00", urgent_bypass=False)
    assert hours == QuietHours(time(22, 0), time(7, 0), False)
    assert await box.call(delivery_settings.quiet_hours_of, SERVER_A, "discord:1") == hours
    assert await box.call(delivery_settings.quiet_hours_of, SERVER_B, "discord:1") is None
    assert await service.set_quiet_hours(A, "discord:1", "OFF", None) is None
    assert await box.call(delivery_settings.quiet_hours_of, SERVER_A, "discord:1") is None

    cap = await service.set_rate_limit(A, 3, 10, overflow_cap=50)
    assert cap == RateCap(3, 10, 50)
    assert await service.set_rate_limit(A, 4, 20) == RateCap(4, 20, 50)  # the overflow cap is kept
    assert await box.call(delivery_settings.caps_by_scope) == {SERVER_A: RateCap(4, 20, 50)}
    assert await box.call(delivery_settings.get_rate_cap, SERVER_B) == RateCap()
