"""Copy the live database with SQLite's online backup API, into a file that stands on its own."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from bot.domain.errors import ConfigError, RegwatchError
from bot.storage.migrations import schema_version


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote."""

    path: Path
    size: int
    schema_version: int
    sources: int
    items: int
    alerts: int


def backup(database: Path, target: Path, *, force: bool = False) -> BackupReport:
    """Copy `database` to `target` while the service may write to it; never replace a file unless forced."""
    if not database.is_file():
        raise ConfigError(f"REGWATCH_DATABASE_PATH: no database at {database}")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already; pass --force to replace it")
    if target.is_dir():
        raise ConfigError(f"{target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: {target.parent} is not a directory")
    # Write beside the target, then rename: a failed or interrupted backup never leaves half a file.
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        source = sqlite3.connect(database, timeout=30)
        dest = sqlite3.connect(partial)
        try:
            # One step: a consistent snapshot (in WAL mode the service keeps writing meanwhile).
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            if dest.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise RegwatchError(f"the copy of {database} failed its integrity check")
            report = _describe(dest)
        finally:
            dest.close()
            source.close()
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise RegwatchError(f"backup of {database} failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupReport(target, target.stat().st_size, *report)


def _describe(conn: sqlite3.Connection) -> tuple[int, int, int, int]:
    db = Database(conn)
    tables = set(db.table_names())

    def count(table: str) -> int:
        return int(conn.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0]) if table in tables else 0

    return schema_version(db), count("sources"), count("items"), count("outbox")
