"""Storage fixtures: every test that takes `db` runs on SQLite and on PostgreSQL (tests/pgserver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.storage.db import connect


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Return which backend this run of the test uses."""
    return str(request.param)


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Yield a fresh, migrated database: a SQLite file, or a new database on the test PostgreSQL."""
    location = str(tmp_path / "regwatch.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    database = connect(location)
    yield database
    database.conn.close()
