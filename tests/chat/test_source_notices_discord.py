"""A failing source is reported in the Discord servers that use it: once, then once when it works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.chat.test_bot_e2e import FEED, Regwatch, regwatch_at
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer


@pytest.fixture
async def app(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Regwatch]:
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as running:
        yield running


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
