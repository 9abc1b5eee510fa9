"""Fixtures for service tests: the injected clock, a fresh SQLite database, a real HTTP fetcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sources.http import Fetcher
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, outbox_at, tomorrow_at


@pytest.fixture
def clock() -> Clock:
    """Return the injected clock, at noon tomorrow (UTC)."""
    return Clock(tomorrow_at(12))


@pytest.fixture
async def box(tmp_path: Path, clock: Clock) -> AsyncIterator[Outbox]:
    """Yield a fresh SQLite database with one shared source."""
    async with outbox_at(tmp_path, clock) as opened:
        yield opened


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """Yield the real HTTP client, allowed to reach the local feed server."""
    async with Fetcher(user_agent="regwatch-tests", timeout=10, connect_timeout=10, allow_private=True) as f:
        yield f
