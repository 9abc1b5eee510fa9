"""Fixtures for chat-layer tests: a started fake Discord, and discord.py pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.fakediscord import FakeDiscord
from tests.fakediscord.harness import hook_values


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
