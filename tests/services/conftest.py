"""Fixtures for service tests: the injected clock, a fresh SQLite database, a real HTTP fetcher."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sources.http import Fetcher
from tests.delivery.conftest import box, clock  # noqa: F401 (the same clock and fresh database)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """Yield the real HTTP client, allowed to reach the local feed server."""
    async with Fetcher(user_agent="regwatch-tests", timeout=10, connect_timeout=10, allow_private=True) as f:
        yield f
