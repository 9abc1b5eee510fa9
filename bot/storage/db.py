"""Open the database (WAL, foreign keys, migrations) and run calls on one writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from sqlite_utils import Database

from bot.domain.errors import ConfigError
from bot.storage.migrations import migrations

P = ParamSpec("P")
T = TypeVar("T")


PRIVATE_MODE = 0o600  # the database holds servers' private sources and subscriptions


def create_private(path: Path) -> None:
    """Create `path` readable and writable by its owner only, or take group and other bits off it."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_MODE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            with contextlib.suppress(PermissionError):  # someone else's file: theirs to set
                os.fchmod(fd, mode & ~0o077)
    finally:
        os.close(fd)


def is_postgres_url(location: Path | str | None) -> bool:
    """Tell whether a database location is a PostgreSQL URL (postgresql:// or postgres://)."""
    return isinstance(location, str) and location.split(":", 1)[0] in ("postgresql", "postgres")


def connect_postgres(url: str, *, migrate: bool) -> Database:
    """Open the shared PostgreSQL backend (bot/storage/pg.py) in place of a SQLite file."""
    try:
        from bot.storage import pg
    except ImportError:
        raise ConfigError(
            "REGWATCH_DATABASE_URL: PostgreSQL needs psycopg; install regwatch[postgres]"
        ) from None
    import psycopg

    try:
        # The adapter answers every call storage makes on a sqlite_utils Database (bot/storage/pg.py).
        return cast(Database, pg.connect(url, migrate=migrate))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"REGWATCH_DATABASE_URL: cannot open the PostgreSQL database: {reason}") from None


def connect(path: Path | str, *, migrate: bool = True) -> Database:
    """Open the database and bring its schema up to date: a SQLite file, or PostgreSQL by URL.

    The SQLite file is opened in WAL mode, created 0600 (and an existing one loses group and
    other access); SQLite gives its -wal and -shm files the database file's permissions.
    A `postgresql://` URL opens the shared PostgreSQL backend instead, and writes no file.
    """
    if is_postgres_url(path):
        return connect_postgres(str(path), migrate=migrate)
    path = Path(path)
    if str(path) != ":memory:":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            create_private(path)
            for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if companion.exists():
                    create_private(companion)
        except OSError as exc:
            raise ConfigError(f"REGWATCH_DATABASE_PATH: cannot create {path}: {exc.strerror}") from None
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


def transaction(db: Database) -> contextlib.AbstractContextManager[object]:
    """Open a transaction, or join the one the caller has open (no savepoint of its own).

    Joined, a failure rolls back the caller's whole transaction: for writes whose callers let the
    exception out (a batch of stored polls is all or nothing). A savepoint per poll and per
    enqueue cost four statements of the eighteen a stored poll ran.
    """
    joined = getattr(db, "_depth", 0) > 0 if is_postgres(db) else db.conn.in_transaction
    return contextlib.nullcontext(db) if joined else db.atomic()


def is_postgres(db: Database) -> bool:
    """Tell whether an open database is the PostgreSQL backend."""
    return getattr(db, "dialect", "sqlite") == "postgresql"


def schema_status(db: Database) -> tuple[int, int]:
    """Return (migrations applied, migrations this code knows) for either backend."""
    if is_postgres(db):
        from bot.storage import pg_schema

        return len(pg_schema.applied(db.conn.connection)), len(pg_schema.PG_MIGRATIONS)  # type: ignore[attr-defined]
    from bot.storage.migrations import latest_version, schema_version

    return schema_version(db), latest_version()


def check_writable(db: Database) -> None:
    """Create and drop a table: raise when the database (file or PostgreSQL role) cannot be written."""
    db.execute("CREATE TABLE IF NOT EXISTS _doctor_probe (x INTEGER)")
    db.execute("DROP TABLE _doctor_probe")


def database_errors() -> tuple[type[Exception], ...]:
    """Return the exception classes either backend raises for a database failure."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


def safe_location(location: Path | str) -> str:
    """Return where the database is, for a report: a SQLite path, or a PostgreSQL URL without its password."""
    if not is_postgres_url(location):
        return str(Path(location).resolve())
    parts = urlsplit(str(location))
    if parts.password is None:
        return str(location)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
