"""Fixtures for service tests: the injected clock, a fresh database on each backend, a real HTTP fetcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sources.http import Fetcher
from bot.storage import sources
from bot.storage.db import AsyncDatabase, connect
from bot.storage.sources import SourceConfig
from tests.delivery.conftest import clock  # noqa: F401 (the same clock)
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox


@pytest.fixture(params=["sqlite", "postgres"])
async def box(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[Outbox]:  # noqa: F811
    """Yield the delivery tests' outbox (one source) on a fresh SQLite file or PostgreSQL database."""
    location = (
        str(tmp_path / "regwatch.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    db = connect(location)
    source = sources.add(db, SourceConfig("Guardian US", "https://www.theguardian.com/us-news/rss"), clock())
    adb = AsyncDatabase(db)
    try:
        yield Outbox(adb, clock, source.id)
    finally:
        await adb.close()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    """Yield the real HTTP client, allowed to reach the local feed server."""
    async with Fetcher(user_agent="regwatch-tests", timeout=10, connect_timeout=10, allow_private=True) as f:
        yield f
