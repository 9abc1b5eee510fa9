"""A subscription paused by a lost permission is announced where an admin sees it."""

from __future__ import annotations

from tests.chat.running import Regwatch, kaspersky_item
from tests.fakediscord import Permission


async def test_a_pause_nobody_could_be_told_about_opens_the_next_command_reply(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    # Made in the channel it posts to, which is also the server's system channel: when regwatch
    # loses Send Messages there, no channel is left to post the notice in.
    sub_id = await app.subscribe("vendor:Kaspersky")
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and fake.messages(fake.channel.id) == []

    # The next reply in that server, whatever the command, starts with the news; only once.
    first = await fake.invoke("source list")
    assert first.content.startswith(f"⚠ Subscription {sub_id} is paused: regwatch lacks permission")
    assert f"/watch remove id:{sub_id}" in first.content
    second = await fake.invoke("source list")
    assert "⚠" not in second.content and "is paused" not in second.content
