"""The PostgreSQL backend: SQL translation, settings, schema parity with SQLite, migration lock, triggers."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.domain.errors import DuplicateSubscription
from bot.settings import Settings
from bot.storage import items, outbox, pg_schema, sources, subscriptions
from bot.storage.db import connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.pg import translate
from bot.storage.sources import SourceConfig
from tests.pgserver import PgServer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_placeholders_become_psycopg_ones_outside_quotes_and_percent_signs_are_doubled():
    sql, returns_id = translate("SELECT '?', \"a?\" FROM t WHERE target LIKE 'discord:%' AND id = ?")
    assert sql == "SELECT '?', \"a?\" FROM t WHERE target LIKE 'discord:%%' AND id = %s"
    assert not returns_id


def test_insert_or_ignore_becomes_on_conflict_and_id_tables_return_the_id():
    sql, returns_id = translate(
        "INSERT OR IGNORE INTO outbox (a, b) SELECT ?, ? FROM sources s WHERE s.id = ?"
    )
    assert (
        sql == "INSERT INTO outbox (a, b) SELECT %s, %s FROM sources s WHERE s.id = %s"
        " ON CONFLICT DO NOTHING RETURNING id"
    )
    assert returns_id
    sql, returns_id = translate("INSERT OR IGNORE INTO guild_settings (guild_id) VALUES (?)")
    assert sql == "INSERT INTO guild_settings (guild_id) VALUES (%s) ON CONFLICT DO NOTHING"
    assert not returns_id
    # executemany never asks for ids; a statement with its own RETURNING keeps it.
    assert translate("INSERT INTO items (a) VALUES (?)", many=True) == (
        "INSERT INTO items (a) VALUES (%s)",
        False,
    )
    assert translate("INSERT INTO mutes (a) VALUES (?) RETURNING id") == (
        "INSERT INTO mutes (a) VALUES (%s) RETURNING id",
        False,
    )


def test_a_lone_where_1_becomes_true():
    assert translate("SELECT a FROM t WHERE 1 ORDER BY a")[0] == "SELECT a FROM t WHERE TRUE ORDER BY a"
    assert translate("SELECT a FROM t WHERE 1 AND b = ?")[0] == "SELECT a FROM t WHERE TRUE AND b = %s"
    assert translate("SELECT a FROM t WHERE 1 = b")[0] == "SELECT a FROM t WHERE 1 = b"


def test_quiet_hours_end_column_is_quoted_and_case_end_is_not():
    sql, _ = translate(
        "INSERT INTO quiet_hours (guild_id, target, start, end) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(guild_id, target) DO UPDATE SET end = excluded.end"
    )
    assert sql.endswith('(guild_id, target, start, "end") VALUES (%s, %s, %s, %s)'
                        ' ON CONFLICT(guild_id, target) DO UPDATE SET "end" = excluded."end"')  # fmt: skip
    assert (
        translate("SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t")[0]
        == "SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t"
    )


def test_the_fts_preselect_becomes_an_exact_scan_keeping_its_parameter():
    sql, _ = translate(
        "SELECT 1 WHERE (i.non_ascii = 1 OR i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?))"
    )
    assert sql == "SELECT 1 WHERE (i.non_ascii = 1 OR CAST(%s AS TEXT) IS NOT NULL)"


def test_database_url_selects_postgres_and_unset_keeps_sqlite(tmp_path: Path):
    assert Settings(database_path=tmp_path / "x.db").database_location == tmp_path / "x.db"
    assert Settings(database_url="").database_location == Path("regwatch.db")
    url = "postgresql://u:secret@db.example/regwatch"
    settings = Settings(database_url=url)
    assert settings.database_location == url
    assert "secret" not in repr(settings)
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url="mysql://db.example/regwatch")


def _sqlite_columns(tmp_path: Path) -> dict[str, set[str]]:
    db = connect(tmp_path / "parity.db")
    tables = [t for t in db.table_names() if not t.startswith(("items_fts", "_", "sqlite_"))]
    found = {t: {c.name for c in db[t].columns} for t in tables}
    db.conn.close()
    return found


def test_the_postgres_schema_has_every_sqlite_table_and_column(pg_url: str, tmp_path: Path):
    import psycopg

    expected = _sqlite_columns(tmp_path)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    actual: dict[str, set[str]] = {}
    for table, column in rows:
        actual.setdefault(table, set()).add(column)
    missing = {t: cols - actual.get(t, set()) for t, cols in expected.items() if cols - actual.get(t, set())}
    assert not missing, f"add a PostgreSQL migration (bot/storage/pg_schema.py) for {missing}"


def test_processes_starting_together_migrate_once(pg_server: PgServer):
    url = pg_server.fresh_database(migrated=False)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        try:
            start.wait(timeout=30)
            connect(url).conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    db = connect(url)
    rows = db.execute("SELECT name FROM regwatch_pg_migrations").fetchall()
    assert [r[0] for r in rows] == [name for name, _ in pg_schema.PG_MIGRATIONS]
    assert db.execute("SELECT COUNT(*) FROM meta WHERE key = 'subscriptions_version'").fetchone()[0] == 1
    db.conn.close()
    pg_server.drop_database(url)


def test_a_failed_nested_block_rolls_back_alone(db):
    with db.atomic():
        subscriptions.add(db, "outer", "console", NOW, name="outer")
        with pytest.raises(RuntimeError), db.atomic():
            subscriptions.add(db, "inner", "console", NOW, name="inner")
            raise RuntimeError("undo the inner block")
    assert [s.name for s in subscriptions.list_subscriptions(db)] == ["outer"]


def test_alert_outcomes_and_subscription_changes_reach_the_audit_log(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "a", "console", NOW, name="a")
    new = [
        NewItem(
            "guid:1", "1", "https://a.example/1", "https://a.example/1", "https://a.example/1", "T", "x", NOW
        )
    ]
    items.store_poll(
        db, src.id, NOW, NOW, new, [NewAlert(0, sub.id, "console", ("a",))],
        etag=None, last_modified=None, body_hash=None,
    )  # fmt: skip
    (alert_id,) = db.execute("SELECT id FROM outbox").fetchone()
    outbox.mark_sent(db, alert_id, datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))
    outbox.mark_sent(db, alert_id, datetime(2026, 3, 1, 12, 0, 9, tzinfo=UTC))  # unchanged: logged once only
    subscriptions.remove(db, sub.id)
    events = db.execute("SELECT event, at, title, detail FROM audit_log ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["subscription.added", "alert.sent", "subscription.removed"]
    assert events[1][1:] == ("2026-03-01T12:00:05+00:00", "T", 'matched: ["a"]')
    assert events[2][1][:2] == "20" and events[2][1].endswith("+00:00")


def test_errors_arrive_as_sqlite3_classes_and_a_broken_connection_is_replaced(pg_url: str):
    import psycopg

    db = connect(pg_url)
    subscriptions.add(db, "a", "console", NOW, name="a")
    with pytest.raises(DuplicateSubscription):
        subscriptions.add(db, "b", "console", NOW, name="a")  # the name is taken: typed on both backends
    with pytest.raises(sqlite3.IntegrityError) as raised:
        db.execute("INSERT INTO meta (key, value) VALUES ('subscriptions_version', 0)")
    assert isinstance(raised.value.__cause__, psycopg.errors.UniqueViolation)

    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(sqlite3.OperationalError):
        db.execute("SELECT 1")  # the statement that meets the cut fails ...
    assert [s.name for s in subscriptions.list_subscriptions(db)] == ["a"]  # ... the next one reconnects
    assert db.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
    db.conn.close()


def test_without_the_binaries_the_reason_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from tests import pgserver

    monkeypatch.setattr(pgserver, "PG_BIN_DIRS", (str(tmp_path),))
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = pgserver.available()
    assert reason is not None and "`postgresql` package" in reason
