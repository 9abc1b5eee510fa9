"""Copy the live database with SQLite's online backup API, into a file that stands on its own."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from bot.domain.errors import ConfigError, RegwatchError
from bot.failpoints import failpoint
from bot.storage.db import create_private
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


def _is_live(database: Path, target: Path) -> bool:
    """Tell whether `target` is the live database or one of its companion files (any spelling)."""
    live = database.resolve()
    companions = {live, *(live.with_name(live.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}
    if target.resolve() in companions:
        return True
    try:
        return target.exists() and os.path.samefile(target, database)
    except OSError:
        return False


def _clean_stale_partials(target: Path) -> None:
    """Remove partial copies left by backups to `target` that were killed (their process is gone)."""
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another backup to the same file is running
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def backup(database: Path, target: Path, *, force: bool = False) -> BackupReport:
    """Copy `database` to `target` while the service may write to it; never replace a file unless forced.

    The copy is readable by its owner only (0600), like the database. The live database itself
    (or its -wal, -shm, -journal file) is never a target, even with `force`.
    """
    if not database.is_file():
        raise ConfigError(f"REGWATCH_DATABASE_PATH: no database at {database}")
    if _is_live(database, target):
        raise ConfigError(f"{target} is the live database; give another path (--force does not change this)")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already; pass --force to replace it")
    if target.is_dir():
        raise ConfigError(f"{target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: {target.parent} is not a directory")
    # Write beside the target, then rename: a failed or interrupted backup never leaves half a file.
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _clean_stale_partials(target)
    try:
        create_private(partial)
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
        failpoint("backup_before_rename")
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
