"""The `regwatch` command as a user runs it: real subprocesses, a local feed server, a real database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from tests.helpers import FIXTURES, refused_port, rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SUBS = """
[[subscription]]
name = "kaspersky-actions"
query = 'vendor:Kaspersky'
[[subscription]]
name = "dhs-directives"
query = '"binding operational directive" OR "emergency directive" OR "DHS directive"'
"""


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGWATCH_")}
    env.update(
        REGWATCH_DATABASE_PATH=str(tmp_path / "regwatch.db"),
        REGWATCH_SUBSCRIPTIONS_FILE=str(tmp_path / "subs.toml"),
        REGWATCH_ALLOW_PRIVATE_NETWORKS="true",
        REGWATCH_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


async def regwatch(tmp_path: Path, *args: str, **extra: str) -> tuple[int, str, str]:
    (tmp_path / "subs.toml").write_text(SUBS)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=tmp_path, env=env_for(tmp_path, **extra),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


def sources_file(tmp_path: Path, *urls: str) -> str:
    path = tmp_path / "sources.toml"
    path.write_text("".join(f'[[source]]\nname = "src{n}"\nurl = "{u}"\n' for n, u in enumerate(urls)))
    return str(path)


async def test_match_prints_jsonl_exactly_as_the_contract(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(
        with_items(
            NASA,
            rss_item(
                "DHS directive: remove Kaspersky Lab products",
                "https://www.dhs.gov/news/kaspersky",
                description="<p>Agencies must remove <b>Лаборатория Касперского</b> software.</p>",
            ),
        )
    )
    code, out, err = await regwatch(
        tmp_path, "match", "--subscriptions", str(tmp_path / "subs.toml"), str(feed)
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["subscription"] for r in rows] == ["kaspersky-actions", "dhs-directives"]
    for row in rows:
        assert list(row) == ["subscription", "title", "link", "published", "source", "terms", "action"]
        assert row["title"] == "DHS directive: remove Kaspersky Lab products"
        assert row["link"] == "https://www.dhs.gov/news/kaspersky"
        assert row["source"] == "Liftoff News"
        assert row["published"].endswith("+00:00")
    assert rows[0]["terms"] == ["Kaspersky Lab", "Лаборатория Касперского"]
    assert [t.casefold() for t in rows[1]["terms"]] == ["dhs directive"]


async def test_match_on_a_file_imports_no_network_or_discord_library(tmp_path):
    # `regwatch match` on files needs no HTTP client, Discord or scheduler: importing them
    # was a sixth of the command's time at 100,000 subscriptions.
    (tmp_path / "subs.toml").write_text(SUBS)
    code = (
        "import sys; from bot.cli import main; code = main(sys.argv[1:]);"
        " print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'discord', 'apscheduler'}));"
        " raise SystemExit(code)"
    )
    feed = tmp_path / "feed.xml"
    feed.write_bytes(with_items(NASA, rss_item("FCC bans Kaspersky Lab", "https://www.fcc.gov/news/k")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "match", "--subscriptions", str(tmp_path / "subs.toml"), str(feed),
        cwd=tmp_path, env=env_for(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    *rows, imported = out.decode().splitlines()
    assert [json.loads(row)["subscription"] for row in rows] == ["kaspersky-actions"]
    assert imported == "[]"


async def test_match_table_and_not_a_feed(tmp_path):
    subs = str(tmp_path / "subs.toml")
    code, out, err = await regwatch(
        tmp_path, "match", "--subscriptions", subs, "--format", "table",
        str(FIXTURES / "news_guardian_us_2018.rss"), str(FIXTURES / "edge_not_a_feed.html"),
    )  # fmt: skip
    assert code == 1
    assert "not a feed" in err and "edge_not_a_feed.html" in err
    assert out.strip().endswith("matches") and out.splitlines()[0].startswith("subscription")


async def test_run_once_first_poll_then_alert(tmp_path, feed_server):
    feed_server.set("/cisa.xml", with_items(NASA))
    src = sources_file(tmp_path, feed_server.url("/cisa.xml"))
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    assert "ALERT" not in out
    assert "polled 1 sources (0 failed)" in out and "recorded 4 new items" in out and "First poll" in out

    feed_server.set(
        "/cisa.xml",
        with_items(
            NASA, rss_item("CISA emergency directive orders removal of Kaspersky", "https://cisa.example/ed")
        ),
    )
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    assert out.count("ALERT [") == 1
    assert "CISA emergency directive orders removal of Kaspersky" in out
    assert "https://cisa.example/ed" in out
    assert "delivered 1 alerts" in out


async def test_killed_between_enqueue_and_send_delivers_exactly_once(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    src = sources_file(tmp_path, feed_server.url("/f.xml"))
    await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    feed_server.set("/f.xml", with_items(NASA, rss_item("Kaspersky banned", "https://x.example/k")))

    code, out, _ = await regwatch(
        tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src, REGWATCH_FAILPOINTS="after_enqueue"
    )
    assert code == -9 and "ALERT" not in out  # SIGKILL after the outbox row was committed
    with sqlite3.connect(tmp_path / "regwatch.db") as conn:
        assert conn.execute("SELECT status FROM outbox").fetchall() == [("pending",)]

    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    assert out.count("Kaspersky banned") == 1
    code, out, _ = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert "Kaspersky banned" not in out
    with sqlite3.connect(tmp_path / "regwatch.db") as conn:
        assert conn.execute("SELECT status, attempts FROM outbox").fetchall() == [("sent", 1)]


async def test_bad_setting_exits_2_naming_the_variable(tmp_path):
    code, _, err = await regwatch(tmp_path, "run", "--once", REGWATCH_POLL_INTERVAL_SECONDS="1")
    assert code == 2
    assert err.strip().splitlines() == [
        "regwatch: REGWATCH_POLL_INTERVAL_SECONDS: Input should be greater than or equal to 5 (got '1')"
    ]


async def test_subs_add_list_remove_and_invalid_query(tmp_path):
    code, out, err = await regwatch(tmp_path, "subs", "add", "(kaspersky OR huawei", "--target", "console")
    assert code == 2 and "position" in err and "^" in err
    code, out, err = await regwatch(
        tmp_path,
        "subs",
        "add",
        "vendor:Kaspersky AND ban*",
        "--target",
        "discord:123456789012345678",
        "--name",
        "kl",
    )
    assert code == 0, err
    sub_id = out.split()[1]
    code, out, _ = await regwatch(tmp_path, "subs", "list")
    assert "kl" in out and "discord:123456789012345678" in out
    code, out, _ = await regwatch(tmp_path, "subs", "add", "x", "--target", "slack:1")
    assert code == 2
    code, out, _ = await regwatch(tmp_path, "subs", "remove", sub_id)
    assert code == 0
    code, _, err = await regwatch(tmp_path, "subs", "remove", sub_id)
    assert code == 2 and "no subscription" in err


async def test_sources_add_checks_the_feed_first(tmp_path, feed_server):
    feed_server.set(
        "/page", b"<html><head><title>x</title></head><body>hi</body></html>", content_type="text/html"
    )
    feed_server.set("/feed.xml", with_items(NASA))
    code, _, err = await regwatch(tmp_path, "sources", "add", feed_server.url("/page"))
    assert code == 1 and "not a feed" in err
    code, out, err = await regwatch(tmp_path, "sources", "add", feed_server.url("/feed.xml"))
    assert code == 0, err and "4 items" in out
    code, out, _ = await regwatch(tmp_path, "sources", "list")
    assert "Liftoff News" in out and "/feed.xml" in out
    code, out, _ = await regwatch(tmp_path, "sources", "check", "1")
    assert code == 0 and "ok" in out


async def test_private_addresses_refused_by_default(tmp_path, feed_server):
    feed_server.set("/feed.xml", with_items(NASA))
    code, _, err = await regwatch(
        tmp_path, "sources", "add", feed_server.url("/feed.xml"), REGWATCH_ALLOW_PRIVATE_NETWORKS="false"
    )
    assert code != 0 and "127.0.0.1" in err


def test_console_command_is_installed():
    assert shutil.which("regwatch", path=str(Path(sys.executable).parent))


async def test_poll_dry_run_and_poll(tmp_path, feed_server):
    feed_server.set(
        "/f.xml", with_items(NASA, rss_item("Huawei added to the Entity List", "https://x.example/h"))
    )
    src = sources_file(tmp_path, feed_server.url("/f.xml"))
    (tmp_path / "subs.toml").write_text(SUBS)
    extra = {"REGWATCH_SOURCES_FILE": src}
    code, out, err = await regwatch(tmp_path, "poll", "--dry-run", **extra)
    assert code == 0, err
    assert "nothing stored" in out
    code, out, _ = await regwatch(tmp_path, "sources", "list", **extra)
    assert " new " in out  # never polled: the dry run stored nothing
    code, out, err = await regwatch(tmp_path, "poll", "--source", "1", **extra)
    assert code == 0, err and "recorded 5 new items" in out
    code, out, _ = await regwatch(tmp_path, "poll", "--source", "99", **extra)
    assert code == 2


async def test_doctor_reports_and_fails_on_a_broken_source(tmp_path, feed_server):
    feed_server.set("/ok.xml", with_items(NASA))
    feed_server.set("/gone.xml", b"nope", status=404, content_type="text/plain")
    src = sources_file(tmp_path, feed_server.url("/ok.xml"), feed_server.url("/gone.xml"))
    code, out, err = await regwatch(tmp_path, "doctor", REGWATCH_SOURCES_FILE=src, REGWATCH_DISCORD_TOKEN="")
    assert code == 1, err
    assert "REGWATCH_DATABASE_PATH" in out and "schema version" in out and "console mode" in out
    assert "HTTP 404" in out and "1 problem(s) found" in out
    lines = [line for line in out.splitlines() if "ok.xml" in line or line.startswith("1 ")]
    assert any(" ok " in f" {line} " for line in lines)


async def test_doctor_masks_the_token_and_reports_an_unreachable_discord(tmp_path):
    sources_file(tmp_path)
    with refused_port() as port:
        code, out, _ = await regwatch(
            tmp_path,
            "doctor",
            REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml"),
            REGWATCH_DISCORD_TOKEN="secret-token-value",
            REGWATCH_DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        )
    assert code == 1
    assert "secret-token-value" not in out and "set (hidden)" in out
    assert "could not reach" in out


async def test_match_reads_structured_sources_too(tmp_path):
    (tmp_path / "subs.toml").write_text(SUBS)
    subs = tmp_path / "citrix.toml"
    subs.write_text('[[subscription]]\nname = "citrix"\nquery = \'citrix AND "session recording"\'\n')
    code, out, err = await regwatch(
        tmp_path, "match", "--subscriptions", str(subs), str(FIXTURES / "cisa_kev_2025-08-25_truncated.json")
    )
    assert code == 0, err
    titles = sorted(json.loads(line)["title"] for line in out.splitlines())
    assert titles and all(t.startswith("CVE-") for t in titles)
    assert any("CVE-2024-8068" in t for t in titles)


async def test_sources_check_prints_a_table_for_every_enabled_source(tmp_path, feed_server):
    feed_server.set("/ok.xml", with_items(NASA))
    feed_server.set("/moved", b"<html><body>moved</body></html>", content_type="text/html")
    src = sources_file(tmp_path, feed_server.url("/ok.xml"), feed_server.url("/moved"))
    code, out, err = await regwatch(tmp_path, "sources", "check", REGWATCH_SOURCES_FILE=src)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "kind", "status", "format", "items", "latency", "problem"]
    ok = next(line for line in lines if "src0" in line).split()
    assert ok[2:6] == ["feed", "ok", "rss", "4"] and ok[6].isdigit() and ok[7] == "ms"
    failed = next(line for line in lines if "src1" in line)
    assert "FAIL" in failed and "not a feed" in failed
    assert lines[-1] == "2 sources checked, 1 failed."
