"""`regwatch run` as an operator deploys it: health, metrics, JSON logs, secrets, signals, backups.

Every test runs the real command in a subprocess against a local feed server and a database on disk.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

import bot
from bot.storage.migrations import latest_version
from tests.helpers import refused_port, rss_item, source_toml, with_items
from tests.security.hostile import deeply_nested_page
from tests.test_cli import NASA, SUBS, env_for, regwatch, sources_file

ROOT = Path(__file__).resolve().parent.parent
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-token-value.abcdefghijklmnop"
WAIT_STEPS = 600  # polling waits of 50 ms: 30 s for a cold interpreter on a loaded CI box


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait in short steps until the condition holds."""
    for _ in range(WAIT_STEPS):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


def health_check_command() -> list[str]:
    """Return the Dockerfile's HEALTHCHECK command (compose.yaml repeats it)."""
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if 'CMD ["python"' in line)
    command = json.loads(line.split("CMD", 1)[1])
    assert command[-1] in (ROOT / "compose.yaml").read_text()
    return list(command)


async def image_health_check(port: int) -> int:
    """Run the image's health check command against a port; return its exit code."""
    command = health_check_command()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env={"REGWATCH_HEALTH_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_the_image_health_check_fails_when_nothing_answers():
    assert health_check_command()[:2] == ["python", "-c"]
    with refused_port() as port:
        assert await image_health_check(port) != 0


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """A `regwatch run` subprocess with its health port."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, session: aiohttp.ClientSession) -> None:
        self.proc = proc
        self.port = port
        self.session = session

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(f"http://127.0.0.1:{self.port}{path}") as resp:
            return resp.status, await resp.text()

    async def wait_live(self) -> bool:
        """Wait until /healthz answers (True) or the process ended (False)."""
        for _ in range(WAIT_STEPS):
            try:
                status, _ = await self.get("/healthz")
                if status == 200:
                    return True
            except aiohttp.ClientError:
                pass
            if self.proc.returncode is not None:
                return False
            await asyncio.sleep(0.05)
        raise AssertionError("the health endpoint never answered")

    async def wait_ready(self) -> dict[str, object]:
        for _ in range(WAIT_STEPS):
            try:
                status, body = await self.get("/readyz")
                if status == 200:
                    return dict(json.loads(body))
            except aiohttp.ClientError:
                pass
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError("the service never became ready")

    async def metrics(self) -> Samples:
        status, text = await self.get("/metrics")
        assert status == 200
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def wait_metrics(self, done: Callable[[Samples], bool]) -> Samples:
        """Scrape /metrics until `done` holds; return the samples."""
        for _ in range(WAIT_STEPS):
            samples = await self.metrics()
            if done(samples):
                return samples
            await asyncio.sleep(0.05)
        raise AssertionError(f"metrics never got there: {samples}")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value (0 when absent), by metric name and labels."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@asynccontextmanager
async def service(tmp_path: Path, **extra: str) -> AsyncIterator[Service]:
    """Start `regwatch run` with a health port and wait until /healthz answers; kill it at the end.

    The port is one the OS reported free; should another process take it before the service
    binds it, the service exits 2 naming the port, and it is started again on another one.
    """
    (tmp_path / "subs.toml").write_text(SUBS)
    async with aiohttp.ClientSession() as session:
        for _attempt in range(5):
            port = free_port()
            env = env_for(
                tmp_path,
                REGWATCH_HEALTH_PORT=str(port),
                REGWATCH_POLL_INTERVAL_SECONDS="5",
                **{"REGWATCH_LOG_LEVEL": "INFO", **extra},
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            svc = Service(proc, port, session)
            try:
                if await svc.wait_live():
                    yield svc
                    return
                _, err = await proc.communicate()
                if b"REGWATCH_HEALTH_PORT: cannot listen" not in err:
                    raise AssertionError(f"the service exited {proc.returncode}:\n{err.decode()}")
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.communicate()
        raise AssertionError("five ports in a row were taken before the service could bind them")


def kaspersky(link: str) -> str:
    return rss_item(f"Commerce bans Kaspersky Lab software ({link})", link, guid=link)


async def test_health_metrics_and_sigterm_mid_poll_leave_an_intact_outbox(tmp_path, feed_server):
    # Prime two sources, then give both a matching item; b answers too slowly to finish in the grace.
    feed_server.set("/a.xml", with_items(NASA))
    feed_server.set("/b.xml", with_items(NASA))
    a, b, c = (feed_server.url(p) for p in ("/a.xml", "/b.xml", "/c.xml"))
    primed = sources_file(tmp_path, a, b)
    # (every 5 s: the service started next finds them due at once or within seconds)
    code, _, err = await regwatch(
        tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=primed, REGWATCH_POLL_INTERVAL_SECONDS="5"
    )
    assert code == 0, err
    feed_server.set("/a.xml", with_items(NASA, kaspersky("https://x.example/a")))
    feed_server.set("/b.xml", with_items(NASA, kaspersky("https://x.example/b")), delay=30)
    feed_server.set("/c.xml", with_items(NASA))  # a new source: its first poll primes it

    async with service(
        tmp_path,
        REGWATCH_SOURCES_FILE=sources_file(tmp_path, a, b, c),
        REGWATCH_SHUTDOWN_GRACE_SECONDS="1",
        REGWATCH_HTTP_TIMEOUT_SECONDS="60",
    ) as svc:
        ready = await svc.wait_ready()
        assert ready == {"status": "ready", "checks": {"scheduler": True, "database": True}}
        assert await svc.get("/healthz") == (200, '{"status": "ok"}')
        assert await image_health_check(svc.port) == 0
        samples = await svc.wait_metrics(
            lambda s: (
                value(s, "regwatch_polls_total", outcome="primed") >= 1
                and value(s, "regwatch_polls_total", outcome="new") >= 1
                and value(s, "regwatch_deliveries_total", outcome="sent") >= 1
                # (the gauges are read from the database at scrape time, the counters live; a scrape
                # can read the outbox just before the delivery that the counters already show)
                and value(s, "regwatch_outbox_alerts", status="sent") >= 1
            )
        )
        assert value(samples, "regwatch_items_seen_total") >= 9  # a: 5 entries, c: 4
        assert value(samples, "regwatch_items_new_total") >= 5  # a: 1 new, c: 4 recorded
        assert value(samples, "regwatch_alerts_enqueued_total") == 1
        assert value(samples, "regwatch_fetch_duration_seconds_count") >= 2
        assert value(samples, "regwatch_delivery_latency_seconds_count") == 1
        assert value(samples, "regwatch_outbox_alerts", status="sent") == 1
        assert value(samples, "regwatch_outbox_alerts", status="pending") == 0
        assert value(samples, "regwatch_sources", state="ok") == 3
        assert value(samples, "regwatch_sources", state="failing") == 0
        assert value(samples, "regwatch_discord_rate_limits_total") == 0
        assert value(samples, "regwatch_build_info", version=bot.__version__) == 1

        # Stop while b's poll is in flight (the server holds its answer for 30 s).
        await wait_until(lambda: feed_server.hits("/b.xml") == 2)
        svc.proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(svc.proc.communicate(), timeout=60)

    assert svc.proc.returncode == 0, err.decode()
    assert "stopped cleanly" in err.decode()
    assert out.decode().count("ALERT [") == 1 and "https://x.example/a" in out.decode()
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        assert db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall() == [("sent", 1)]
        # The interrupted poll stored nothing: b has exactly what its first poll recorded.
        rows = db.execute(
            "SELECT s.url, s.item_count, COUNT(i.id), s.primed FROM sources s"
            " LEFT JOIN items i ON i.source_id = s.id GROUP BY s.id ORDER BY s.url"
        ).fetchall()
        assert rows == [(a, 5, 5, 1), (b, 4, 4, 1), (c, 4, 4, 1)]
        assert db.execute("SELECT COUNT(*) FROM items WHERE link = 'https://x.example/b'").fetchone() == (0,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_second_signal_exits_at_once(tmp_path, feed_server):
    feed_server.set("/slow.xml", with_items(NASA), delay=60)
    async with service(
        tmp_path,
        REGWATCH_SOURCES_FILE=sources_file(tmp_path, feed_server.url("/slow.xml")),
        REGWATCH_SHUTDOWN_GRACE_SECONDS="600",
        REGWATCH_HTTP_TIMEOUT_SECONDS="120",
    ) as svc:
        await svc.wait_ready()
        await wait_until(lambda: feed_server.hits("/slow.xml") == 1)
        svc.proc.send_signal(signal.SIGTERM)
        assert svc.proc.stderr is not None
        lines: list[str] = []
        while not any("stopping:" in line for line in lines):
            lines.append((await asyncio.wait_for(svc.proc.stderr.readline(), timeout=30)).decode())
        # The first signal waits up to 600 s for the slow poll; the second one does not wait.
        svc.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(svc.proc.communicate(), timeout=30)
    assert svc.proc.returncode == 1
    assert "second signal: exiting at once" in err.decode()
    assert "Traceback" not in err.decode()
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        assert db.execute("SELECT COUNT(*) FROM items").fetchone() == (0,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_json_logs_are_one_object_per_line_with_the_source_id(tmp_path, feed_server):
    feed_server.set("/ok.xml", with_items(NASA))
    feed_server.set("/gone.xml", b"nope", status=404, content_type="text/plain")
    src = sources_file(tmp_path, feed_server.url("/ok.xml"), feed_server.url("/gone.xml"))
    json_logs = {"REGWATCH_LOG_FORMAT": "json", "REGWATCH_LOG_LEVEL": "INFO"}
    code, out, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src, **json_logs)
    assert code == 0, err
    assert "polled 2 sources (1 failed)" in out
    records = [json.loads(line) for line in err.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    tagged = [(r["source_id"], r["level"], r["message"]) for r in records if "source_id" in r]
    assert any(s == 1 and level == "info" and "4 new items" in m for s, level, m in tagged), tagged
    assert any(s == 2 and level == "warning" and "HTTP 404" in m for s, level, m in tagged), tagged


async def test_the_token_never_appears_in_output_when_discord_is_unreachable(tmp_path):
    sources_file(tmp_path)
    for fmt in ("text", "json"):
        with refused_port() as port:
            code, out, err = await regwatch(
                tmp_path,
                "run",
                "--once",
                REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml"),
                REGWATCH_DISCORD_TOKEN=SECRET,
                REGWATCH_DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
                REGWATCH_LOG_LEVEL="DEBUG",
                REGWATCH_LOG_FORMAT=fmt,
            )
        assert code == 1, err
        assert SECRET not in out + err and "secret-token-value" not in out + err
        assert "Traceback" not in err
        assert err.splitlines()[-1].startswith(
            f"regwatch: could not reach Discord at http://127.0.0.1:{port}/api/v10"
        )


async def test_an_invalid_token_exits_2_with_one_plain_line(tmp_path):
    seen: list[str] = []

    async def users_me(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", users_me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        sources_file(tmp_path)
        code, out, err = await regwatch(
            tmp_path,
            "run",
            REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml"),
            REGWATCH_DISCORD_TOKEN=SECRET,
            REGWATCH_DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        )
    finally:
        await runner.cleanup()
    assert seen == [f"Bot {SECRET}"]  # the token did reach (this stand-in for) Discord
    assert code == 2
    assert err.splitlines() == [
        "regwatch: REGWATCH_DISCORD_TOKEN: Discord rejected the token (401 Unauthorized)"
    ]
    assert SECRET not in out


async def test_an_unreadable_database_exits_2_with_one_plain_line(tmp_path):
    (tmp_path / "regwatch.db").write_bytes(b"this is not a database, just text " * 100)
    sources_file(tmp_path)
    code, _, err = await regwatch(
        tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml")
    )
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("regwatch: REGWATCH_DATABASE_PATH: cannot open") and "not a database" in line


async def test_db_backup_copies_a_live_database_and_never_overwrites_by_accident(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA, kaspersky("https://x.example/k")))
    src = sources_file(tmp_path, feed_server.url("/f.xml"))
    code, _, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    target = tmp_path / "backups" / "regwatch-1.db"

    code, _, err = await regwatch(tmp_path, "db", "backup", str(target))
    assert code == 2 and "is not a directory" in err
    target.parent.mkdir()
    code, out, err = await regwatch(tmp_path, "db", "backup", str(target))
    assert code == 0, err
    assert out.startswith(f"backed up {tmp_path / 'regwatch.db'} to {target}:")
    version = latest_version()
    assert f"schema version {version}, 1 sources, 5 items, 0 alerts; integrity check ok." in out
    # A self-contained file: it opens on its own (no -wal beside it) with every row.
    assert files_in(target.parent) == ["regwatch-1.db"]
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT COUNT(*) FROM items").fetchone() == (5,)
        assert copy.execute("SELECT url FROM sources").fetchall() == [(feed_server.url("/f.xml"),)]

    code, _, err = await regwatch(tmp_path, "db", "backup", str(target))
    assert code == 2 and err.strip() == f"regwatch: {target} exists already; pass --force to replace it"
    code, out, err = await regwatch(tmp_path, "db", "backup", str(target), "--force")
    assert code == 0, err
    assert files_in(target.parent) == ["regwatch-1.db"]  # no partial file left behind

    code, _, err = await regwatch(
        tmp_path, "db", "backup", str(tmp_path / "x.db"), REGWATCH_DATABASE_PATH=str(tmp_path / "none.db")
    )
    assert code == 2 and "no database at" in err


async def test_database_and_backups_are_private_and_the_live_database_is_never_a_target(
    tmp_path, feed_server
):
    feed_server.set("/f.xml", with_items(NASA))
    src = sources_file(tmp_path, feed_server.url("/f.xml"))
    code, _, err = await regwatch(tmp_path, "run", "--once", REGWATCH_SOURCES_FILE=src)
    assert code == 0, err
    live = tmp_path / "regwatch.db"
    assert stat.S_IMODE(live.stat().st_mode) == 0o600
    for companion in tmp_path.glob("regwatch.db-*"):
        assert stat.S_IMODE(companion.stat().st_mode) & 0o077 == 0, companion

    # Never onto the live database, however it is spelled, --force or not.
    (tmp_path / "link.db").symlink_to(live)
    for spelling in (str(live), str(tmp_path / "." / "regwatch.db"), str(tmp_path / "link.db")):
        for force in ((), ("--force",)):
            code, _, err = await regwatch(tmp_path, "db", "backup", spelling, *force)
            assert code == 2 and "is the live database" in err, (spelling, force, err)
    code, _, err = await regwatch(tmp_path, "db", "backup", str(tmp_path / "regwatch.db-wal"), "--force")
    assert code == 2 and "is the live database" in err
    with sqlite3.connect(live) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)

    # A backup killed before its rename leaves a partial file; the next backup removes it.
    backups = tmp_path / "backups"
    backups.mkdir()
    target = backups / "copy.db"
    code, _, _ = await regwatch(
        tmp_path, "db", "backup", str(target), REGWATCH_FAILPOINTS="backup_before_rename"
    )
    assert code == -signal.SIGKILL
    [partial] = files_in(backups)
    assert partial.startswith(".copy.db.partial-")
    code, _, err = await regwatch(tmp_path, "db", "backup", str(target))
    assert code == 0, err
    assert files_in(backups) == ["copy.db"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def running(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


async def test_sigterm_during_a_hostile_parse_exits_at_once_and_leaves_no_worker(tmp_path, feed_server):
    # A page watch on markup nested 100,000 deep parses for minutes; neither the parse deadline
    # nor the shutdown grace would end it soon: SIGTERM must stop the worker itself.
    url = feed_server.set("/nested.html", deeply_nested_page(), content_type="text/html; charset=utf-8")
    sources = tmp_path / "hostile.toml"
    sources.write_text(source_toml("Nested page", url, "html", {"selector": "div"}))
    async with service(
        tmp_path,
        REGWATCH_SOURCES_FILE=str(sources),
        REGWATCH_SHUTDOWN_GRACE_SECONDS="600",
        REGWATCH_PARSE_TIMEOUT_SECONDS="600",
        REGWATCH_LOG_LEVEL="DEBUG",
    ) as svc:
        await svc.wait_ready()
        assert svc.proc.stderr is not None
        sent = None
        while sent is None:
            line = (await asyncio.wait_for(svc.proc.stderr.readline(), timeout=60)).decode()
            assert line, "the service ended before parsing"
            sent = re.search(r"parse worker (\d+): 1 documents sent", line)
        worker = int(sent.group(1))
        assert running(worker)  # the hostile parse is in progress
        started = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(svc.proc.communicate(), timeout=60)
        took = time.monotonic() - started
    assert svc.proc.returncode == 0, err.decode()
    assert "stopped cleanly" in err.decode() and "Traceback" not in err.decode()
    print(f"SIGTERM during a hostile parse: exited in {took:.2f} s")
    assert not running(worker)
    with sqlite3.connect(tmp_path / "regwatch.db") as db:
        # The abandoned poll recorded nothing: the source stays due for the next start.
        assert db.execute("SELECT failures, primed FROM sources").fetchall() == [(0, 0)]
