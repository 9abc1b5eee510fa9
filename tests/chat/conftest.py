"""Fixtures for chat-layer tests: a started fake Discord, and discord.py pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from tests.chat.running import Regwatch, regwatch_at
from tests.fakediscord import FakeDiscord
from tests.fakediscord.harness import hook_values
from tests.feedserver import FeedServer


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """Yield a started FakeDiscord; fail the test if the bot called a route the fake does not model."""
    async with FakeDiscord() as fake:
        yield fake
        unknown = [f"{c.method} {c.path}" for c in fake.unknown_routes]
        assert not unknown, f"calls the fake Discord does not model: {unknown}"


@pytest.fixture
def discord_at_fake(fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """Point this process's discord.py at the fake (undone after the test) and return the fake."""
    base, gateway = hook_values(fake_discord)
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", gateway)
    return fake_discord


@pytest.fixture
async def app(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Regwatch]:
    """Yield a running regwatch connected to the fake Discord, its one source not yet polled."""
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as running:
        yield running
