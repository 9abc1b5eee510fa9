"""A failing source is reported in the Discord servers that use it: once, then once when it works."""

from __future__ import annotations

from datetime import timedelta

from tests.chat.running import FEED, Regwatch


async def test_failing_source_notice_reaches_the_server_once(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("kaspersky", user_id=fake.admin.user.id)  # the server now uses the source
    before = len(fake.messages(fake.channel.id))

    app.feeds.fail(FEED, 503, times=1)
    [failed] = await app.services.scheduler.poll_all()
    assert failed.status == "failed"
    app.clock.offset = timedelta(hours=25)
    assert await app.services.check_sources() == 2  # the console and this server
    posted = fake.messages(fake.channel.id)[before:]
    assert len(posted) == 1
    text = posted[0]["content"]
    assert "Local news" in text and "has been failing since" in text and "503" in text

    assert await app.services.check_sources() == 0  # once per episode, not every check
    [ok] = await app.services.scheduler.poll_all()
    assert ok.status != "failed"
    assert await app.services.check_sources() == 2
    posted = fake.messages(fake.channel.id)[before:]
    assert len(posted) == 2 and "works again" in posted[1]["content"]
