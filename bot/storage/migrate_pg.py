"""Copy a SQLite database into an empty PostgreSQL one: every table, the same ids, verified by counts.

`regwatch db migrate-to-postgres URL` runs `migrate()`. Tables are copied parents first
(sources before items before outbox, ...) with COPY, in one PostgreSQL transaction, from one
SQLite read transaction (a consistent snapshot even while the service writes). Triggers are off
for the copy (the audit log, the subscriptions version and the hold trigger already did their work
on SQLite; their rows are copied as they are); foreign keys stay checked. Ids are kept, and every
id sequence is then moved past the largest id copied. The target must be empty: a second run
never mixes two databases.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlite_utils import Database

from bot.domain.errors import ConfigError, RegwatchError
from bot.storage.db import connect, connect_postgres, is_postgres_url

# Parents before children. A SQLite table missing here (and not skipped) is an error: it would
# otherwise be left behind silently.
ORDER = (
    "sources",
    "source_owners",
    "search_queries",
    "items",
    "subscriptions",
    "digest_state",
    "outbox",
    "alert_acks",
    "notices",
    "guild_settings",
    "quiet_hours",
    "mutes",
    "audit_log",
    "channel_settings",
    "meta",
)
# SQLite's own bookkeeping and the FTS5 index, which PostgreSQL has no use for; and leases and
# channels' recent send times, which belong to the processes running on SQLite (the service is
# stopped before switching over; a send time matters for a rate cap's window, seconds).
SKIPPED_PREFIXES = ("_sqlite_migrations", "_migrations", "items_fts", "sqlite_", "leases", "channel_sends")
BATCH = 2000


@dataclass(frozen=True)
class TableCount:
    """Rows of one table on each side after the copy."""

    table: str
    sqlite: int
    postgres: int

    @property
    def ok(self) -> bool:
        """Tell whether both sides hold the same number of rows."""
        return self.sqlite == self.postgres


def _tables(source: Database) -> list[str]:
    present = [t for t in source.table_names() if not t.startswith(SKIPPED_PREFIXES)]
    unknown = sorted(set(present) - set(ORDER))
    if unknown:
        raise RegwatchError(f"no PostgreSQL copy is defined for table(s) {', '.join(unknown)}")
    return [t for t in ORDER if t in present]


def _quoted(column: str) -> str:
    return f'"{column}"'


def migrate(sqlite_path: Path, url: str) -> list[TableCount]:
    """Copy the SQLite database at `sqlite_path` into the empty PostgreSQL database at `url`."""
    if not is_postgres_url(url):
        raise ConfigError(f"{url!r} is not a postgresql:// URL")
    if not sqlite_path.is_file():
        raise ConfigError(f"REGWATCH_DATABASE_PATH: no SQLite database at {sqlite_path}")
    source = connect(sqlite_path)  # brings an older file to the current schema first
    try:
        target: Any = connect_postgres(url, migrate=True)  # bot.storage.pg.PgDatabase
    except BaseException:
        source.conn.close()
        raise
    try:
        return _migrate(source, target)
    except (sqlite3.Error, psycopg.Error) as exc:
        raise RegwatchError(f"the copy failed and wrote nothing: {exc}") from None
    finally:
        source.conn.close()
        target.close()


def _migrate(source: Database, target: Any) -> list[TableCount]:
    tables = _tables(source)
    _refuse_non_empty(target, tables)
    source.execute("BEGIN")  # one snapshot of every table
    try:
        with target.atomic():
            for table in tables:
                target.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for table in tables:
                _copy(source, target, table)
            for table in tables:
                target.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            _reset_sequences(target, tables)
        return [TableCount(table, _count(source, table), _count(target, table)) for table in tables]
    finally:
        source.execute("COMMIT")


def _count(db: Any, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _refuse_non_empty(target: Any, tables: list[str]) -> None:
    for table in tables:
        query = f"SELECT COUNT(*) FROM {table}"
        if table == "meta":  # the schema itself writes the subscriptions version
            query += " WHERE key != 'subscriptions_version' OR value != 0"
        if int(target.execute(query).fetchone()[0]):
            raise ConfigError(f"the PostgreSQL database is not empty ({table} has rows); give an empty one")


def _copy(source: Database, target: Any, table: str) -> None:
    columns = [c.name for c in source[table].columns]
    pg_columns = {
        r[0]
        for r in target.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
    }
    missing = [c for c in columns if c not in pg_columns]
    if missing:
        raise RegwatchError(f"PostgreSQL table {table} lacks column(s) {', '.join(missing)}")
    if table == "meta":  # replaces the version row the schema wrote
        target.execute("DELETE FROM meta")
    # An addition's first alert may come later in id order: link stories once every alert is in.
    story = "story_of" in columns and table == "outbox"
    story_index = columns.index("story_of") if story else -1
    stories: list[tuple[int, int]] = []
    id_index = columns.index("id") if "id" in columns else -1
    cursor = source.execute(f"SELECT {', '.join(_quoted(c) for c in columns)} FROM [{table}]")
    with (
        target.connection.cursor() as pg,
        pg.copy(f"COPY {table} ({', '.join(_quoted(c) for c in columns)}) FROM STDIN") as copy,
    ):
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                values = tuple(row)
                if story and values[story_index] is not None:
                    stories.append((values[story_index], values[id_index]))
                    values = (*values[:story_index], None, *values[story_index + 1 :])
                copy.write_row(values)
    if stories:
        target.executemany("UPDATE outbox SET story_of = ? WHERE id = ?", stories)


def _reset_sequences(target: Any, tables: list[str]) -> None:
    for table in tables:
        if not _has_id(target, table):
            continue
        row = target.execute("SELECT pg_get_serial_sequence(?, 'id')", (table,)).fetchone()
        if row is not None and row[0] is not None:
            target.execute(
                f"SELECT setval(?, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)", (row[0],)
            )


def _has_id(target: Any, table: str) -> bool:
    return (
        target.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? AND column_name = 'id'",
            (table,),
        ).fetchone()
        is not None
    )


def render(counts: list[TableCount]) -> str:
    """Return the per-table count comparison as a plain table."""
    width = max([len("table"), *(len(c.table) for c in counts)])
    lines = [f"{'table':<{width}}  {'sqlite':>9}  {'postgres':>9}  check"]
    for c in counts:
        lines.append(f"{c.table:<{width}}  {c.sqlite:>9}  {c.postgres:>9}  {'ok' if c.ok else 'MISMATCH'}")
    return "\n".join(lines)
