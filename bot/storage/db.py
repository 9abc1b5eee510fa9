"""Open the database (WAL, foreign keys, migrations) and run calls on one writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlite_utils import Database

from bot.domain.errors import ConfigError
from bot.storage.migrations import migrations

P = ParamSpec("P")
T = TypeVar("T")


def connect(path: Path | str, *, migrate: bool = True) -> Database:
    """Open the SQLite file in WAL mode and bring its schema up to date."""
    path = Path(path)
    if str(path) != ":memory:":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"REGWATCH_DATABASE_PATH: cannot create {path.parent}: {exc.strerror}"
            ) from None
    try:
        # Autocommit mode: transactions are explicit (db.atomic()), never implicit.
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as exc:
        raise ConfigError(f"REGWATCH_DATABASE_PATH: cannot open {path}: {exc}") from None
    db = Database(conn)
    if migrate:
        try:
            migrations.apply(db)  # each migration in its own transaction: a failed one leaves no trace
        except sqlite3.Error as exc:
            conn.close()
            raise ConfigError(f"REGWATCH_DATABASE_PATH: cannot update the schema of {path}: {exc}") from None
    return db


class AsyncDatabase:
    """Run storage functions on a single dedicated thread: the one writer, off the event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="regwatch-db")

    async def call(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn(db, *args, **kwargs) on the database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, self.db, *args, **kwargs))

    async def close(self) -> None:
        """Finish queued calls, then close the connection."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.db.conn.close)
        self._executor.shutdown(wait=True)
