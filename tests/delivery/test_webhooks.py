"""Delivery by webhook (/settings webhook), through the real discord.py client and the fake Discord.

A channel with a webhook gets its alerts from the webhook, under the name and avatar chosen;
buttons still work; a webhook deleted in Discord falls back to the bot; a re-send of a message
that may already be in the channel (a crash after the POST) is found there, not posted twice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.delivery.discord_sink import DiscordSink, same_message
from bot.delivery.embed import build_message
from bot.storage import webhooks
from bot.storage.webhooks import ChannelWebhook
from tests.chat.running import Regwatch, kaspersky_item
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.fakediscord import FakeDiscord, Permission

EXECUTES = r"^/webhooks/\d+/[^/]+$"
POSTS = r"^/channels/\d+/messages$"


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message["components"] for c in row["components"]]


async def _watch_kaspersky(app: Regwatch) -> None:
    await app.prime()
    done = await app.fake.invoke("watch vendor", options={"name": "Kaspersky"})
    assert "Kaspersky" in done.content, done.content


async def test_enable_needs_manage_webhooks_then_alerts_come_from_the_webhook_with_its_name(
    app: Regwatch,
) -> None:
    fake = app.fake
    await _watch_kaspersky(app)
    options = {"name": "Compliance Desk", "avatar_url": "https://example.org/regwatch.png"}
    member = await fake.invoke(
        "settings webhook enable", options=options, user_id=fake.member.user.id, permission_override=True
    )
    assert "Manage Server" in member.content and not fake.webhooks.by_id
    missing = await fake.invoke("settings webhook enable", options=options)
    assert "needs the **Manage Webhooks** permission" in missing.content, missing.content
    assert not fake.webhooks.by_id
    refused = await fake.invoke("settings webhook enable", options={"name": "Discord Bot"})
    assert 'containing "discord"' in refused.content and not fake.webhooks.by_id

    fake.set_overwrite(fake.channel.id, fake.bot_user_id, allow=Permission.MANAGE_WEBHOOKS)
    done = await fake.invoke("settings webhook enable", options=options)
    assert "posted by a webhook named **Compliance Desk**" in done.content, done.content
    [hook] = fake.webhooks.in_channel(fake.channel.id)
    assert hook.application_id == fake.application_id  # made by the bot: its messages may have buttons

    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = fake.messages(fake.channel.id)
    assert message["webhook_id"] == str(hook.id) and message["author"]["username"] == "Compliance Desk"
    assert not fake.requests("POST", POSTS)  # nothing posted as the bot
    [execute] = fake.requests("POST", rf"^/webhooks/{hook.id}/[^/]+$")
    assert execute.query == {"wait": "true"} and "nonce" not in execute.json
    assert execute.json["avatar_url"] == "https://example.org/regwatch.png"
    [(alert_id, status, _, _, external_id)] = await app.outbox_rows()
    assert (status, external_id) == ("sent", message["id"])
    assert _buttons(message)[0]["custom_id"] == f"rw:ack:{alert_id}"
    # The buttons of a webhook's message answer like the bot's own.
    pressed = await fake.click(message, f"rw:ack:{alert_id}")
    assert pressed.callback_type == 7
    assert "Acknowledged by" in fake.messages(fake.channel.id)[0]["content"]

    gone = await fake.invoke("settings webhook disable")
    assert "posted by the bot again" in gone.content and not fake.webhooks.by_id  # deleted in Discord
    app.publish(kaspersky_item(link="https://www.bis.gov/press/kaspersky-2"))
    await app.poll_and_deliver()
    last = fake.messages(fake.channel.id)[-1]
    assert "webhook_id" not in last and last["author"]["id"] == str(fake.bot_user_id)


async def test_a_webhook_deleted_in_discord_falls_back_to_the_bot_and_clears_the_setting(
    app: Regwatch,
) -> None:
    fake = app.fake
    await _watch_kaspersky(app)
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, allow=Permission.MANAGE_WEBHOOKS)
    await fake.invoke("settings webhook enable", options={"name": "Compliance Desk"})
    [hook] = fake.webhooks.in_channel(fake.channel.id)
    fake.webhooks.delete(hook.id)  # a server admin deletes it in the channel's settings

    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = fake.messages(fake.channel.id)
    assert message["author"]["id"] == str(fake.bot_user_id)
    assert await app.services.adb.call(webhooks.get, f"discord:{fake.channel.id}") is None


async def test_a_story_copy_edits_the_webhooks_message(app: Regwatch) -> None:
    fake = app.fake
    await _watch_kaspersky(app)
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, allow=Permission.MANAGE_WEBHOOKS)
    await fake.invoke("settings webhook enable", options={"name": "Compliance Desk"})
    app.publish(kaspersky_item())
    await app.poll_and_deliver()
    # The same story from another outlet (same title, another link): an addition, not a new alert.
    app.publish(kaspersky_item(link="https://www.reuters.example/kaspersky-ban"))
    await app.poll_and_deliver()
    [message] = fake.messages(fake.channel.id)
    fields = {f["name"] for f in message["embeds"][0]["fields"]}
    assert "Also reported by" in fields, message["embeds"][0]["fields"]
    assert fake.requests("PATCH", r"^/webhooks/\d+/[^/]+/messages/\d+$")


async def test_a_resend_after_a_crash_finds_the_webhooks_message_instead_of_posting_again(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: Any
) -> None:
    fake = discord_at_fake
    reply = fake.webhooks.create(fake.channel.id, fake.guild.id, {"name": "Compliance Desk"})
    hook = ChannelWebhook(
        f"discord:{fake.channel.id}", int(reply.body["id"]), reply.body["token"], "Desk", None
    )
    await box.call(webhooks.enable, fake.guild.id, hook, "test", clock())
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub, 2)
    first, second = await box.pending()
    sink = DiscordSink(client, box.adb, clock=clock)
    posted = await sink.send(first)
    assert posted is not None
    # Other messages arrive in the channel after it (the history is searched, not just its end).
    for n in range(3):
        fake.message_store.create(fake.channel.id, fake.member.user, {"content": f"chat {n}"})
    # The re-send of an alert marked as composed before (its nonce saved): found, not posted again.
    marked = replace(first, message_nonce=build_message(first)["nonce"])
    assert await sink.send(marked) == posted
    assert len(fake.requests("POST", EXECUTES)) == 1
    # An alert never composed before is posted without looking; one composed but never posted is
    # looked for, not found, and posted.
    marked_second = replace(second, message_nonce=build_message(second)["nonce"])
    other = await sink.send(marked_second)
    assert other != posted and len(fake.requests("POST", EXECUTES)) == 2
    assert [m["id"] for m in fake.messages(fake.channel.id) if m.get("webhook_id")] == [posted, other]


def test_a_message_is_known_by_its_first_buttons_custom_id_or_a_digests_content() -> None:
    alert = {"components": [{"type": 1, "components": [{"type": 2, "custom_id": "rw:ack:12"}]}]}
    assert same_message(alert, alert)
    other = {"components": [{"type": 1, "components": [{"type": 2, "custom_id": "rw:ack:121"}]}]}
    assert not same_message(other, alert)
    digest = {
        "content": "Daily digest for subscription 3: 2 alerts",
        "embeds": [{"title": "Kaspersky · ban (2)"}],
    }
    assert same_message({**digest, "components": []}, digest)
    assert not same_message({**digest, "content": "Daily digest for subscription 3: 3 alerts"}, digest)
