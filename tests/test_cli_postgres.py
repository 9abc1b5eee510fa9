"""The `regwatch` command on PostgreSQL (REGWATCH_DATABASE_URL): the flows of SQLite, and no file written."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items
from tests.test_cli import NASA, regwatch, sources_file


def sqlite_files(folder: Path) -> list[Path]:
    """Return the SQLite database files (and companions) in a folder."""
    return list(folder.glob("regwatch.db*"))


async def test_run_once_first_poll_then_alert_and_no_sqlite_file(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    feed_server.set("/cisa.xml", with_items(NASA))
    src = sources_file(tmp_path, feed_server.url("/cisa.xml"))
    extra = {"REGWATCH_SOURCES_FILE": src, "REGWATCH_DATABASE_URL": pg_url}
    code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 0, err
    assert "ALERT" not in out
    assert "polled 1 sources (0 failed)" in out and "recorded 4 new items" in out and "First poll" in out

    new = rss_item("CISA emergency directive orders removal of Kaspersky", "https://cisa.example/ed")
    feed_server.set("/cisa.xml", with_items(NASA, new))
    code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 0, err
    assert out.count("ALERT [") == 1 and "https://cisa.example/ed" in out
    assert "delivered 1 alerts" in out
    code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 0, err
    assert "ALERT" not in out  # sent once
    assert not sqlite_files(tmp_path)  # no SQLite file beside the PostgreSQL database
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall() == [("sent", 1)]


async def test_killed_between_enqueue_and_send_delivers_exactly_once(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    feed_server.set("/f.xml", with_items(NASA))
    extra = {
        "REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml")),
        "REGWATCH_DATABASE_URL": pg_url,
    }
    await regwatch(tmp_path, "run", "--once", **extra)
    feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky banned", "https://x.example/k")))
    code, out, _ = await regwatch(tmp_path, "run", "--once", REGWATCH_FAILPOINTS="after_enqueue", **extra)
    assert code == -9 and "ALERT" not in out  # SIGKILL after the outbox row was committed
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT status FROM outbox").fetchall() == [("pending",)]
    code, out, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 0, err
    assert out.count("Kaspersky banned") == 1
    code, out, _ = await regwatch(tmp_path, "run", "--once", **extra)
    assert "Kaspersky banned" not in out


async def test_the_management_commands_work_on_postgres(tmp_path: Path, feed_server: FeedServer, pg_url: str):
    feed_server.set(
        "/f.xml", with_items(NASA, rss_item("Huawei added to the Entity List", "https://x.example/h"))
    )
    feed_server.set("/other.xml", with_items(NASA))
    extra = {
        "REGWATCH_DATABASE_URL": pg_url,
        "REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml")),
    }
    code, out, err = await regwatch(tmp_path, "subs", "add", "huawei OR nasa", "--target", "console", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "subs", "list", **extra)
    assert code == 0 and "huawei OR nasa" in out, err
    code, out, err = await regwatch(tmp_path, "poll", "--dry-run", **extra)
    assert code == 0 and "nothing stored" in out, err
    code, out, err = await regwatch(tmp_path, "poll", "--source", "1", **extra)
    assert code == 0 and "recorded 5 new items" in out, err
    code, out, err = await regwatch(tmp_path, "sources", "add", feed_server.url("/other.xml"), **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "sources", "list", **extra)
    assert code == 0 and feed_server.url("/other.xml") in out, err
    code, out, err = await regwatch(tmp_path, "subs", "preview", "huawei", **extra)
    assert code == 0 and "Huawei added to the Entity List" in out, err
    code, out, err = await regwatch(tmp_path, "why", "https://x.example/h", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "alerts", "export", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "settings", "quiet-hours", "22:00", "07:00", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "settings", "show", **extra)
    assert code == 0 and "22:00" in out, err
    code, out, err = await regwatch(tmp_path, "digest", "run", **extra)
    assert code == 0, err
    code, out, err = await regwatch(tmp_path, "doctor", **extra)
    assert code == 0 and "All checks passed." in out, out + err
    assert not sqlite_files(tmp_path)


async def test_the_image_runs_on_postgres_without_a_volume_and_backup_points_to_pg_dump(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    feed_server.set("/f.xml", with_items(NASA))
    extra = {
        "REGWATCH_DATABASE_URL": pg_url,
        "REGWATCH_SOURCES_FILE": sources_file(tmp_path, feed_server.url("/f.xml")),
        "REGWATCH_IN_CONTAINER": "1",  # the image refuses a SQLite file outside a volume; no file here
    }
    code, _, err = await regwatch(tmp_path, "run", "--once", **extra)
    assert code == 0, err
    assert "not on a volume" not in err
    code, _, err = await regwatch(tmp_path, "db", "backup", str(tmp_path / "copy.db"), **extra)
    assert code == 2 and "pg_dump" in err
    assert not sqlite_files(tmp_path)
