"""The PostgreSQL backend: a thin stand-in for the part of sqlite_utils.Database that storage uses.

Storage functions take a `Database` and call `db.execute(sql, params)` (a cursor with
fetchone/fetchall/iteration, rowcount, lastrowid, description), `db.conn.executemany(sql, rows)`,
`db.atomic()` (a transaction; nested, a savepoint) and `db.conn.close()`. `PgDatabase` offers
exactly that on one psycopg connection in autocommit mode, so a statement outside `atomic()`
commits on its own, as with SQLite in autocommit mode.

SQL is written once, for both engines. `translate()` turns what is still SQLite's own into
PostgreSQL's, statement by statement (cached):
- `?` placeholders become `%s`, and a literal `%` becomes `%%` (psycopg reads both);
- a lone `WHERE 1` becomes `WHERE TRUE`;
- `INSERT OR IGNORE INTO ...` becomes `INSERT INTO ... ON CONFLICT DO NOTHING`;
- an INSERT into a table with an `id` gains `RETURNING id`, which gives the cursor its lastrowid;
- quiet_hours' column `end` is quoted (a reserved word in PostgreSQL);
- the FTS5 preselect of previews (`i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)`)
  becomes a condition that is always true: on PostgreSQL a preview reads every item of its period
  and the matcher decides, which is exact; it costs a scan of the period (bounded by the
  preview's item budget). A tsvector index could come later; PostgreSQL's parser does not split
  words as FTS5's unicode61 does, so it would need its own proof that it never drops a match.

Values are bound on the client (psycopg's ClientCursor): each arrives as a literal, typed by
where it lands, as SQLite would take it (`SELECT ?, ? ...` feeding an INSERT, `? > 0`, NULLs).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection, ClientCursor
from psycopg_pool import AsyncConnectionPool

from bot.storage import pg_schema

# Tables whose rows have an `id`: an INSERT into one returns it (the cursor's lastrowid).
ID_TABLES = frozenset(
    {"sources", "items", "subscriptions", "outbox", "notices", "source_owners", "mutes", "audit_log"}
)

_INSERT = re.compile(r"^\s*INSERT\s+(OR\s+IGNORE\s+)?INTO\s+(\w+)", re.IGNORECASE)
_FTS = re.compile(r"\w+\.id\s+IN\s+\(SELECT\s+rowid\s+FROM\s+items_fts\s+WHERE\s+items_fts\s+MATCH\s+\?\)")
_END_COLUMN = re.compile(r'(?<!")\bend\b(?!")')  # lower case only: `CASE ... END` is written in capitals
_WHERE_1 = re.compile(r"\bWHERE\s+1\b(?!\s*[-+*/%=<>!|.0-9])", re.IGNORECASE)  # a lone `WHERE 1`
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def is_postgres_url(url: str | None) -> bool:
    """Tell whether a database URL names PostgreSQL."""
    return bool(url) and str(url).split(":", 1)[0] in ("postgresql", "postgres")


def _placeholders(sql: str) -> str:
    """Turn `?` outside quotes into `%s` and every `%` into `%%`."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def translate(sql: str, *, many: bool = False) -> tuple[str, bool]:
    """Return (the statement in PostgreSQL's dialect, whether it returns the new rows' ids)."""
    sql = _FTS.sub("CAST(? AS TEXT) IS NOT NULL", sql)
    sql = _WHERE_1.sub("WHERE TRUE", sql)
    if "quiet_hours" in sql:
        sql = _END_COLUMN.sub('"end"', sql)
    returns_id = False
    insert = _INSERT.match(sql)
    if insert is not None:
        body = sql.rstrip().rstrip(";")
        tail = ""
        returning = _RETURNING.search(body)
        if returning is not None:
            body, tail = body[: returning.start()].rstrip(), " " + body[returning.start() :]
        if insert.group(1):
            body = body[: insert.start(1)] + body[insert.end(1) :] + " ON CONFLICT DO NOTHING"
        if not tail and not many and insert.group(2).lower() in ID_TABLES:
            tail, returns_id = " RETURNING id", True
        sql = body + tail
    return _placeholders(sql), returns_id


class PgCursor:
    """What a storage function reads from an executed statement, as from a sqlite3 cursor."""

    def __init__(self, cursor: ClientCursor[tuple[Any, ...]], returns_id: bool) -> None:
        self._cursor = cursor
        self.lastrowid: int | None = None
        self.rowcount = cursor.rowcount
        self.description = cursor.description
        self._rows: list[tuple[Any, ...]] | None = None
        if returns_id:
            ids = cursor.fetchall()
            self.lastrowid = int(ids[-1][0]) if ids else None
            self.description = None
            self._rows = []

    def fetchone(self) -> tuple[Any, ...] | None:
        """Return the next row, or None."""
        if self._rows is not None:
            return self._rows.pop(0) if self._rows else None
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Return the remaining rows."""
        if self._rows is not None:
            rows, self._rows = self._rows, []
            return rows
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


# psycopg's DB-API errors, raised as sqlite3's classes of the same name: callers catch one set
# (e.g. the poller's sqlite3.OperationalError) whichever backend runs. The original is __cause__.
_ERRORS: tuple[tuple[type[psycopg.Error], type[sqlite3.Error]], ...] = (
    (psycopg.IntegrityError, sqlite3.IntegrityError),
    (psycopg.OperationalError, sqlite3.OperationalError),
    (psycopg.ProgrammingError, sqlite3.ProgrammingError),
    (psycopg.DataError, sqlite3.DataError),
    (psycopg.NotSupportedError, sqlite3.NotSupportedError),
    (psycopg.InternalError, sqlite3.InternalError),
    (psycopg.InterfaceError, sqlite3.InterfaceError),
)


def as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    """Return the sqlite3 exception of the same DB-API class as a psycopg one."""
    for pg_class, sqlite_class in _ERRORS:
        if isinstance(exc, pg_class):
            error = sqlite_class(str(exc).strip())
            if isinstance(exc, psycopg.errors.UniqueViolation):
                # What SQLite names a unique-constraint failure, so one check serves both backends.
                error.sqlite_errorname = "SQLITE_CONSTRAINT_UNIQUE"
            return error
    return sqlite3.DatabaseError(str(exc).strip())


class PgDatabase:
    """One PostgreSQL connection behind the calls storage makes on a sqlite_utils Database.

    A connection found broken (the server restarted, a network cut) is replaced before the next
    statement outside a transaction; the statement that met the break raised, as it must.
    """

    dialect = "postgresql"

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]], url: str | None = None) -> None:
        self.connection = connection
        self._url = url
        self._depth = 0  # atomic() blocks open
        self.total_changes = 0  # rows inserted, updated or deleted through this object, as sqlite3 counts

    @property
    def conn(self) -> PgDatabase:
        """Stand in for the sqlite3 connection (`executemany`, `close`)."""
        return self

    def _live(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._depth == 0 and self._url is not None and (self.connection.broken or self.connection.closed):
            self.connection = _open(self._url)
        return self.connection

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement (written for SQLite or both) and return its cursor."""
        query, returns_id = translate(sql)
        try:
            cursor = ClientCursor(self._live())
            cursor.execute(query.encode(), tuple(parameters or ()))
            self._count(query, cursor)
            return PgCursor(cursor, returns_id)
        except psycopg.Error as exc:
            raise as_sqlite_error(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> PgCursor:
        """Run one statement once per row of parameters."""
        query, _ = translate(sql, many=True)
        try:
            cursor = ClientCursor(self._live())
            rows = list(rows)
            if rows:
                cursor.executemany(query.encode(), [tuple(r) for r in rows])
                self._count(query, cursor)
            return PgCursor(cursor, False)
        except psycopg.Error as exc:
            raise as_sqlite_error(exc) from exc

    def _count(self, query: str, cursor: ClientCursor[tuple[Any, ...]]) -> None:
        if _WRITE.match(query) and cursor.rowcount > 0:
            self.total_changes += cursor.rowcount

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """Run the block in one transaction; nested, in a savepoint."""
        try:
            transaction = self._live().transaction()
            transaction.__enter__()
        except psycopg.Error as exc:
            raise as_sqlite_error(exc) from exc
        self._depth += 1
        try:
            yield self
        except BaseException as exc:
            self._depth -= 1
            try:
                transaction.__exit__(type(exc), exc, exc.__traceback__)
            except psycopg.Error as failed:
                raise as_sqlite_error(failed) from failed
            raise
        self._depth -= 1
        try:
            transaction.__exit__(None, None, None)  # commit (or release the savepoint)
        except psycopg.Error as exc:
            raise as_sqlite_error(exc) from exc

    def table_names(self) -> list[str]:
        """Return the names of regwatch's tables in this database."""
        rows = (
            self._live()
            .execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
            .fetchall()
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def _open(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    connection: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(url, autocommit=True)
    connection.execute("SET TIME ZONE 'UTC'")
    return connection


# Connections of a worker's host-slot pool (storage/leases.py HostSlots): each take or release of
# a slot is one short statement, so two connections serve a worker's polls at once; a broken one
# is discarded when it is returned and the pool opens another.
SLOT_POOL_SIZE = 2


async def _autocommit(conn: AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)


@contextlib.asynccontextmanager
async def slot_pool(url: str, *, size: int = SLOT_POOL_SIZE) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """Open a small pool of async autocommit connections (the host slots' own), closed after the block.

    The storage functions keep their one connection on the database thread (`PgDatabase`): they
    run there one at a time, in transactions, and a pool would not serve them. Host slots are
    taken and released from the event loop by every fetch at once, one statement each, and must
    not wait behind a poll's transaction on that thread: they get these connections.
    """
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=size,
        open=False,
        configure=_autocommit,
        name="regwatch-host-slots",
        timeout=30.0,
    )
    try:
        await pool.open(wait=True, timeout=30.0)
    except psycopg_pool.PoolTimeout as exc:
        await pool.close()
        raise psycopg.OperationalError(f"cannot open the host slot connections: {exc}") from None
    try:
        yield pool
    finally:
        await pool.close()


def connect(url: str, *, migrate: bool = True) -> PgDatabase:
    """Open a PostgreSQL database by URL and bring its schema up to date."""
    connection = _open(url)
    if migrate:
        pg_schema.apply(connection)
    return PgDatabase(connection, url)
