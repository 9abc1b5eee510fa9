"""Fixtures for delivery tests: the injected clock, a fresh outbox, and a discord.py client on the fake."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TextIO

import discord
import pytest

from tests.chat.conftest import app, discord_at_fake, fake_discord  # noqa: F401 (shared fixtures)
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, outbox_at, tomorrow_at
from tests.fakediscord import FakeDiscord
from tests.fakediscord.harness import running


@pytest.fixture
def clock() -> Clock:
    """Return the injected clock, at noon tomorrow (UTC)."""
    return Clock(tomorrow_at(12))


@pytest.fixture
async def box(tmp_path: Path, clock: Clock) -> AsyncIterator[Outbox]:
    """Yield a fresh SQLite outbox with one source."""
    async with outbox_at(tmp_path, clock) as opened:
        yield opened


@pytest.fixture
async def client(discord_at_fake: FakeDiscord) -> AsyncIterator[discord.Client]:  # noqa: F811
    """Yield a discord.py client logged in and connected to the fake, the default server in its cache."""
    fake = discord_at_fake
    # A 429 longer than 30 s raises RateLimited instead of sleeping inside discord.py.
    bot = discord.Client(
        intents=discord.Intents.default(), guild_ready_timeout=0.01, max_ratelimit_timeout=30
    )
    async with running(bot, fake, timeout=10):
        await fake.wait_for(lambda: bot.get_guild(fake.guild.id), what="the default server in the cache")
        yield bot


@pytest.fixture
def broken_pipe() -> Iterator[TextIO]:
    """Yield a text stream whose reader has gone: every flush fails with BrokenPipeError."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = os.fdopen(write_end, "w")
    yield stream
    with contextlib.suppress(OSError):
        stream.close()
