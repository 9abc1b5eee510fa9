"""Fixtures for the hostile-input and fault tests: the chat tests' fake Discord and running app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.chat.conftest import discord_at_fake, fake_discord
from tests.chat.test_bot_e2e import Regwatch, regwatch_at
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer

__all__ = ["app", "discord_at_fake", "fake_discord"]


@pytest.fixture
async def app(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Regwatch]:
    """Yield a running regwatch (services + Discord client) on the fake Discord, its source not yet polled."""
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as running:
        yield running
