"""`regwatch db migrate-to-postgres URL`: every table copied with its ids, checked by counts."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bot.domain.delivery_schedule import parse_quiet_hours, parse_schedule
from bot.storage import delivery_settings, items, outbox, searches, sources, subscriptions, triage
from bot.storage.db import connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.migrate_pg import ORDER, TableCount, render
from bot.storage.sources import SourceConfig
from tests.pgserver import PgServer
from tests.test_cli import env_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GUILD = 1_234_567_890_123_456_789  # a Discord id: 64 bits


def _item(n: int, title: str) -> NewItem:
    link = f"https://a.example/{n}"
    return NewItem(f"guid:{n}", str(n), link, link, link, title, f"Text of {title}", NOW)


def _fill(path: Path) -> None:
    """Write a database that has rows in every table, the way the service writes them."""
    db = connect(path)
    shared = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sources.add_for_guild(db, SourceConfig("Mine", "https://b.example/feed"), NOW, GUILD)
    searches.mark_searched(db, shared.id, ["kaspersky"], NOW)
    sub = subscriptions.add(db, "kaspersky", f"discord:{GUILD + 1}", NOW, guild_id=GUILD, name="k")
    digest = subscriptions.add(db, "huawei", "console", NOW, name="h")
    gone = subscriptions.add(db, "zte", "console", NOW, name="z")
    subscriptions.remove(db, gone.id)  # an audit row about a subscription that no longer exists
    delivery_settings.set_schedule(db, digest.id, parse_schedule("daily", "09:00"), NOW)
    delivery_settings.set_quiet_hours(db, GUILD, f"discord:{GUILD + 1}", parse_quiet_hours("22:00", "07:00"))
    target = f"discord:{GUILD + 1}"
    polls = [
        ([_item(1, "US sanctions 12 Kaspersky Lab leaders")], [NewAlert(0, sub.id, target, ("kaspersky",))]),
        (
            [_item(2, "US Treasury sanctions 12 Kaspersky Lab executives")],
            [NewAlert(0, sub.id, target, ("kaspersky",))],
        ),
        ([_item(3, "Huawei fined")], [NewAlert(0, digest.id, "console", ("huawei",))]),
    ]
    for new, alerts in polls:
        items.store_poll(
            db, shared.id, NOW, NOW, new, alerts,
            etag="e", last_modified=None, body_hash="h", story_window=timedelta(hours=48),
        )  # fmt: skip
    first = db.execute("SELECT id FROM outbox ORDER BY id").fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM outbox WHERE story_of = ?", (first,)).fetchone()[0] == 1
    outbox.mark_sent(db, first, NOW, "m1")
    triage.acknowledge(db, [first], 42, "alice", NOW, GUILD)
    triage.add_mute(
        db, GUILD, f"discord:{GUILD + 1}", "vendor", "Huawei", NOW + timedelta(days=1), "discord:42", NOW
    )
    triage.set_embed_style(db, GUILD, f"discord:{GUILD + 1}", "compact", "discord:42", NOW)
    db.execute(
        "INSERT INTO notices (source_id, target, text, created_at) VALUES (?, ?, ?, ?)",
        (shared.id, "console", "A failed", "2026-03-01T12:00:00+00:00"),
    )
    db.conn.close()


async def _regwatch(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env_for(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def _dump(location: str, table: str, columns: list[str]) -> list[str]:
    """Return a table's rows as sorted text (NULLs sort differently in the two engines)."""
    db = connect(location)
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = db.execute(f"SELECT {quoted} FROM {table}").fetchall()
    db.conn.close()
    return sorted(repr(tuple(r)) for r in rows)


def _columns(path: Path, table: str) -> list[str]:
    db = connect(path)
    names = sorted(c.name for c in db[table].columns)
    db.conn.close()
    return names


async def test_every_table_is_copied_with_its_ids_and_sequences_move_past_them(
    tmp_path: Path, pg_server: PgServer
):
    path = tmp_path / "regwatch.db"
    _fill(path)
    url = pg_server.fresh_database(migrated=False)

    code, out, err = await _regwatch(tmp_path, "db", "migrate-to-postgres", url)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["table", "sqlite", "postgres", "check"]
    copied = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert list(copied) == list(ORDER)  # every table, parents first
    assert all(c[0] == c[1] and c[2] == "ok" for c in copied.values())
    assert int(copied["outbox"][0]) == 3 and int(copied["audit_log"][0]) >= 6
    for table in ORDER:
        columns = _columns(path, table)
        assert _dump(url, table, columns) == _dump(str(path), table, columns), table

    # The copy is a working database: new rows get fresh ids, triggers run again.
    db = connect(url)
    before = subscriptions.version(db)
    added = subscriptions.add(db, "sanctions", "console", NOW, name="new")
    assert added.id == max(s.id for s in subscriptions.list_subscriptions(db))
    assert subscriptions.version(db) > before
    store = [_item(9, "Another one")]
    src = sources.list_sources(db)[0]
    assert items.store_poll(
        db, src.id, NOW, NOW, store, [], etag=None, last_modified=None, body_hash=None
    )[0] == 1  # fmt: skip
    db.conn.close()

    # A second run never mixes two databases.
    code, out, err = await _regwatch(tmp_path, "db", "migrate-to-postgres", url)
    assert code == 2 and "not empty" in err
    pg_server.drop_database(url)


async def test_a_bad_target_is_a_configuration_error(tmp_path: Path, pg_server: PgServer):
    _fill(tmp_path / "regwatch.db")
    code, _, err = await _regwatch(tmp_path, "db", "migrate-to-postgres", "mysql://x/y")
    assert code == 2 and "postgresql://" in err
    missing = pg_server.url("no_such_database")
    code, _, err = await _regwatch(tmp_path, "db", "migrate-to-postgres", missing)
    assert code == 2 and "cannot open the PostgreSQL database" in err
    with psycopg.connect(pg_server.url("postgres")) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'no_such_database'").fetchone() is None


def test_the_report_marks_a_mismatch():
    text = render([TableCount("items", 3, 3), TableCount("outbox", 2, 1)])
    assert text.splitlines()[1].split() == ["items", "3", "3", "ok"]
    assert text.splitlines()[2].split() == ["outbox", "2", "1", "MISMATCH"]
    assert not TableCount("outbox", 2, 1).ok
