"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.feedserver import FeedServer
from tests.pgserver import pg_server, pg_url  # noqa: F401 (the session's PostgreSQL, a fresh database)


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """Yield a started local feed server on 127.0.0.1 (see tests/feedserver.py); stop it afterwards."""
    async with FeedServer() as server:
        yield server
