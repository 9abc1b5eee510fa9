"""The buttons under every alert, end to end: the real discord.py client presses through the fake Discord.

Acknowledge (who and when, shown on the message), Why? (ephemeral), Mute vendor 7 days (later
alerts of that vendor in that channel are recorded as muted, never posted), Open source (a link),
permission refusals, and a press on an old message handled by a new process on the same database.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.storage import triage
from tests.chat.running import KASPERSKY_LINK, Regwatch, kaspersky_item, regwatch_at
from tests.fakediscord import ComponentUnavailable, FakeDiscord, Permission
from tests.feedserver import FeedServer


def _buttons(message: dict) -> list[dict]:
    return [c for row in message["components"] for c in row["components"]]


async def _one_alert(app: Regwatch) -> dict:
    await app.prime()
    await app.fake.invoke("watch vendor", options={"name": "Kaspersky"})
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = app.fake.messages(app.fake.channel.id)
    return message


async def test_alert_carries_buttons_with_the_alert_id(app: Regwatch) -> None:
    message = await _one_alert(app)
    [(alert_id, *_)] = await app.outbox_rows()
    buttons = _buttons(message)
    assert [b["label"] for b in buttons] == ["Acknowledge", "Why?", "Mute Kaspersky 7 days", "Open source"]
    assert [b.get("custom_id") for b in buttons[:3]] == [f"rw:ack:{alert_id}", f"rw:why:{alert_id}",
                                                         f"rw:mute:{alert_id}"]  # fmt: skip
    assert buttons[3]["style"] == 5 and buttons[3]["url"] == KASPERSKY_LINK and "custom_id" not in buttons[3]


async def test_acknowledge_records_who_and_when_and_edits_the_message(app: Regwatch) -> None:
    fake = app.fake
    message = await _one_alert(app)
    [(alert_id, *_)] = await app.outbox_rows()
    result = await fake.click(message, f"rw:ack:{alert_id}", user_id=fake.admin.user.id)
    assert result.callback_type == 7  # UPDATE_MESSAGE: the alert message itself changes
    [shown] = fake.messages(fake.channel.id)
    assert re.search(rf"Acknowledged by <@{fake.admin.user.id}> <t:\d+:f>", shown["content"])
    ack_button = _buttons(shown)[0]
    assert ack_button["disabled"] is True and ack_button["label"] == "Acknowledged by admin"
    assert [b["label"] for b in _buttons(shown)[1:]] == ["Why?", "Mute Kaspersky 7 days", "Open source"]
    assert shown["embeds"] == message["embeds"]  # the alert itself is untouched
    ack = await app.services.adb.call(triage.get_ack, alert_id)
    assert ack is not None and ack.user_id == fake.admin.user.id
    assert abs((ack.at - app.clock()).total_seconds()) < 60
    # A disabled button cannot be pressed again in Discord's client.
    with pytest.raises(ComponentUnavailable):
        fake.send_click(shown, f"rw:ack:{alert_id}")


async def test_members_without_the_triage_role_or_manage_server_are_refused(app: Regwatch) -> None:
    fake = app.fake
    message = await _one_alert(app)
    [(alert_id, *_)] = await app.outbox_rows()
    for action in ("ack", "mute"):
        refused = await fake.click(message, f"rw:{action}:{alert_id}", user_id=fake.member.user.id)
        assert refused.ephemeral and "Manage Server" in refused.content, refused.content
    assert await app.services.adb.call(triage.get_ack, alert_id) is None
    assert await app.services.adb.call(triage.active_mutes, app.clock()) == []
    # The server names a triage role: its members may acknowledge.
    role = fake.add_role("triage")
    analyst = fake.add_member("analyst", roles=[role.id])
    guild = app.bot.get_guild(fake.guild.id)
    assert guild is not None
    await fake.wait_for(lambda: guild.get_role(role.id))
    set_role = await fake.invoke("settings triage-role", options={"role": role})
    assert f"<@&{role.id}>" in set_role.content, set_role.content
    refused = await fake.invoke(
        "settings triage-role", options={"role": role}, user_id=fake.member.user.id, permission_override=True
    )
    assert "Manage Server" in refused.content
    done = await fake.click(message, f"rw:ack:{alert_id}", user_id=analyst.user.id)
    assert done.callback_type == 7
    [shown] = fake.messages(fake.channel.id)
    assert f"Acknowledged by <@{analyst.user.id}>" in shown["content"]


async def test_why_explains_ephemerally_to_anyone(app: Regwatch) -> None:
    fake = app.fake
    message = await _one_alert(app)
    [(alert_id, _, _, sub_id, _)] = await app.outbox_rows()
    result = await fake.click(message, f"rw:why:{alert_id}", user_id=fake.member.user.id)
    assert result.ephemeral
    assert f"Subscription {sub_id}" in result.content and "alerted at" in result.content, result.content
    assert len(fake.messages(fake.channel.id)) == 1  # nothing public


async def test_mute_vendor_holds_back_later_alerts_in_that_channel_for_seven_days(app: Regwatch) -> None:
    fake = app.fake
    message = await _one_alert(app)
    [(alert_id, *_)] = await app.outbox_rows()
    result = await fake.click(message, f"rw:mute:{alert_id}")
    assert result.ephemeral and "Muted Kaspersky" in result.content, result.content
    [mute] = await app.services.adb.call(triage.active_mutes, app.clock())
    assert (mute.kind, mute.key, mute.target) == ("vendor", "Kaspersky", f"discord:{fake.channel.id}")
    assert abs((mute.until - app.clock() - timedelta(days=7)).total_seconds()) < 60

    app.publish(kaspersky_item("Kaspersky added to the Entity List", "https://www.bis.gov/kaspersky-2"))
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and len(fake.messages(fake.channel.id)) == 1
    statuses = [r[1] for r in await app.outbox_rows()]
    assert statuses == ["sent", "muted"]

    # Eight days later the mute is over: the next Kaspersky alert is posted.
    app.clock.offset = timedelta(days=8)
    published = (app.clock() - timedelta(minutes=5)).replace(microsecond=0)
    app.publish(
        kaspersky_item("Kaspersky fined again", "https://www.bis.gov/kaspersky-3", published=published)
    )
    _, sent = await app.poll_and_deliver()
    assert sent == 1 and len(fake.messages(fake.channel.id)) == 2


async def test_a_new_process_answers_a_press_on_an_old_message(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = discord_at_fake
    async with regwatch_at(fake, feed_server, tmp_path) as first:
        message = await _one_alert(first)
        [(alert_id, *_)] = await first.outbox_rows()
    # The first client is gone; a new one, same database, never saw the message being posted.
    async with regwatch_at(fake, feed_server, tmp_path) as second:
        await fake.wait_ready(count=2)
        result = await fake.click(message, f"rw:ack:{alert_id}", user_id=fake.admin.user.id)
        assert result.callback_type == 7
        ack = await second.services.adb.call(triage.get_ack, alert_id)
        assert ack is not None and ack.user_id == fake.admin.user.id


async def test_batched_alerts_share_one_row_of_buttons_acting_on_all(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await fake.invoke("watch vendor", options={"name": "Kaspersky"})
    app.publish(
        kaspersky_item(),
        kaspersky_item("Kaspersky added to the Entity List", "https://www.bis.gov/kaspersky-2"),
    )
    _, sent = await app.poll_and_deliver()
    assert sent == 2
    [message] = fake.messages(fake.channel.id)
    assert len(message["embeds"]) == 2
    rows = await app.outbox_rows()
    first = min(r[0] for r in rows)
    assert [b["custom_id"] for b in _buttons(message)] == [f"rw:ack:{first}", f"rw:why:{first}",
                                                           f"rw:mute:{first}"]  # fmt: skip
    await fake.click(message, f"rw:ack:{first}", user_id=fake.admin.user.id)
    for alert_id, *_ in rows:
        assert await app.services.adb.call(triage.get_ack, alert_id) is not None


async def test_a_button_of_another_server_is_refused(app: Regwatch) -> None:
    fake = app.fake
    message = await _one_alert(app)
    [(alert_id, *_)] = await app.outbox_rows()
    other = fake.add_guild("Other Server")
    guild_channel = other.channels[other.system_channel_id or 0]
    await fake.wait_for(lambda: app.bot.get_guild(other.id))
    # A forged message in the other server carrying this server's alert id.
    forged = fake.message_store.create(
        guild_channel.id, fake.world.bot, {"content": "x", "components": message["components"]}
    )
    owner = other.owner_id
    result = await fake.click(forged, f"rw:ack:{alert_id}", user_id=owner)
    assert result.ephemeral and f"no alert {alert_id}" in result.content
    assert await app.services.adb.call(triage.get_ack, alert_id) is None
    assert Permission.MANAGE_GUILD  # the owner holds every permission: the refusal is the scope check


async def test_a_channel_can_choose_compact_embeds(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await fake.invoke("watch vendor", options={"name": "Kaspersky"})
    refused = await fake.invoke(
        "settings embed", options={"style": "compact"}, user_id=fake.member.user.id, permission_override=True
    )
    assert "Manage Server" in refused.content
    done = await fake.invoke("settings embed", options={"style": "compact"})
    assert "compact" in done.content, done.content
    long_title = "Commerce bans Kaspersky Lab software from US networks, " * 4
    app.publish(kaspersky_item(long_title.strip()))
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = fake.messages(fake.channel.id)
    [embed] = message["embeds"]
    assert "Subscription" not in {f["name"] for f in embed["fields"]}
    assert len(embed["title"]) <= 150 and embed["title"].endswith("…")
    assert _buttons(message)[0]["label"] == "Acknowledge"  # buttons either way
    # Back to full: the next alert has its subscription field and its whole title.
    await fake.invoke("settings embed", options={"style": "full"})
    app.publish(kaspersky_item(long_title.strip() + " again", "https://www.bis.gov/kaspersky-9"))
    await app.poll_and_deliver()
    full = fake.messages(fake.channel.id)[-1]["embeds"][0]
    assert "Subscription" in {f["name"] for f in full["fields"]} and len(full["title"]) > 150


async def test_snooze_mutes_the_subscription_when_no_catalog_vendor_matched(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    sub_id = await app.subscribe('"antivirus software"')
    app.publish(kaspersky_item())
    await app.poll_and_deliver()
    [message] = fake.messages(fake.channel.id)
    [(alert_id, *_)] = await app.outbox_rows()
    mute = next(b for b in _buttons(message) if b.get("custom_id") == f"rw:mute:{alert_id}")
    assert mute["label"] == "Snooze 7 days"
    result = await fake.click(message, f"rw:mute:{alert_id}")
    assert f"subscription {sub_id}" in result.content, result.content
    [stored] = await app.services.adb.call(triage.active_mutes, app.clock())
    assert (stored.kind, stored.key) == ("subscription", str(sub_id))
    app.publish(kaspersky_item("More antivirus software news", "https://www.bis.gov/kaspersky-5"))
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and [r[1] for r in await app.outbox_rows()] == ["sent", "muted"]
