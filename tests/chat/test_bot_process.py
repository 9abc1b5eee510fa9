"""`regwatch run` as a separate process with a Discord token, against the fake Discord.

These run the real command the way an operator does: settings from the environment, the
database on disk, the bot in the same process and event loop as the scheduler, and a process
killed at the worst moment.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
FEED = "/feed.xml"
MESSAGES = r"^/channels/\d+/messages$"
KASPERSKY_LINK = "https://www.bis.gov/press/kaspersky-final-determination"
PROCESS_TIMEOUT = 30.0  # a cold interpreter importing discord.py on a loaded CI box


def kaspersky_item() -> str:
    """Return a fresh RSS item about Kaspersky."""
    return rss_item(
        "Commerce bans Kaspersky Lab software from US networks",
        KASPERSKY_LINK,
        guid=KASPERSKY_LINK,
        description="The Commerce Department prohibits the sale of Kaspersky Lab antivirus software.",
    )


class Deployment:
    """One regwatch installation: settings in the environment, its database and files in tmp_path."""

    def __init__(self, fake: FakeDiscord, feeds: FeedServer, tmp_path: Path) -> None:
        self.fake = fake
        self.feeds = feeds
        self.dir = tmp_path
        self.db = tmp_path / "regwatch.db"
        feeds.set(FEED, with_items(NASA))
        (tmp_path / "sources.toml").write_text(
            f'[[source]]\nname = "Local news"\nurl = "{feeds.url(FEED)}"\n'
        )
        (tmp_path / "subscriptions.toml").write_text("")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REGWATCH_")}
        self.env.update(
            REGWATCH_DISCORD_TOKEN=fake.token,
            REGWATCH_DISCORD_API_BASE=fake.api_base,
            REGWATCH_DISCORD_GATEWAY_URL=fake.gateway_url,
            REGWATCH_DATABASE_PATH=str(self.db),
            REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml"),
            REGWATCH_SUBSCRIPTIONS_FILE=str(tmp_path / "subscriptions.toml"),
            REGWATCH_ALLOW_PRIVATE_NETWORKS="true",
            REGWATCH_POLL_INTERVAL_SECONDS="5",
            REGWATCH_LOG_LEVEL="INFO",
        )
        self.runs = 0

    async def start(self, *args: str, **env: str) -> tuple[asyncio.subprocess.Process, Path]:
        """Start `python -m bot ARGS` (cwd tmp_path, so no stray .env is read); output goes to a log."""
        self.runs += 1
        log = self.dir / f"run{self.runs}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *args,
                cwd=self.dir, env={**self.env, **env}, stdout=output, stderr=output,
            )  # fmt: skip
        return process, log

    async def run(self, *args: str, **env: str) -> tuple[int, str]:
        """Run `python -m bot ARGS` to its end; return the exit code and its output."""
        process, log = await self.start(*args, **env)
        try:
            code = await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"`regwatch {' '.join(args)}` hung:\n{log.read_text()}") from None
        return code, log.read_text()

    def outbox(self) -> list[tuple[str, str | None]]:
        """Return (status, external_id) of every outbox row."""
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT status, external_id FROM outbox ORDER BY id").fetchall()


@pytest.fixture
async def deployment(
    fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """Yield a deployment pointed at the fake Discord and the local feed server."""
    yield Deployment(fake_discord, feed_server, tmp_path)


async def test_killed_after_discord_accepted_then_restarted_posts_once(deployment: Deployment) -> None:
    fake, channel = deployment.fake, deployment.fake.channel
    code, out = await deployment.run("subs", "add", "vendor:Kaspersky", "--target", f"discord:{channel.id}")
    assert code == 0, out
    code, out = await deployment.run("run", "--once")
    assert code == 0 and "First poll of 1 sources" in out, out

    deployment.feeds.set(FEED, with_items(NASA, kaspersky_item()))
    # The failpoint kills the process after Discord accepted the post, before the outbox row is marked.
    code, out = await deployment.run("run", "--once", REGWATCH_FAILPOINTS="after_send")
    assert code == -signal.SIGKILL, out
    [message] = fake.messages(channel.id)
    assert message["embeds"][0]["url"] == KASPERSKY_LINK
    assert deployment.outbox() == [("pending", None)]

    code, out = await deployment.run("run", "--once")
    assert code == 0 and "delivered 1 alerts" in out, out
    assert [m["id"] for m in fake.messages(channel.id)] == [message["id"]]
    first, second = fake.requests("POST", MESSAGES)
    assert first.json["nonce"] == second.json["nonce"] and second.json["enforce_nonce"] is True
    assert second.response["id"] == message["id"]
    assert deployment.outbox() == [("sent", message["id"])]

    code, out = await deployment.run("run", "--once")
    assert code == 0 and len(fake.messages(channel.id)) == 1


async def test_run_answers_commands_and_posts_alerts_then_stops_on_sigterm(deployment: Deployment) -> None:
    """The long-running service: slash commands and alerts in one process; prints the latency."""
    fake = deployment.fake
    process, log = await deployment.start("run")
    try:
        await fake.wait_ready(timeout=PROCESS_TIMEOUT)
        await fake.wait_for(lambda: fake.commands.find("watch", fake.guild.id), timeout=PROCESS_TIMEOUT)
        result = await fake.invoke("watch vendor", options={"name": "Kaspersky"}, timeout=PROCESS_TIMEOUT)
        assert re.search(r"\(subscription \d+\)", result.content) and result.ephemeral, result.content
        # The first poll (at start-up) primes the source; publish only after it fetched.
        await fake.wait_for(lambda: deployment.feeds.hits(FEED) >= 1, timeout=PROCESS_TIMEOUT)
        deployment.feeds.set(FEED, with_items(NASA, kaspersky_item()))
        published = time.monotonic()
        [message] = await fake.wait_for_messages(fake.channel.id, timeout=PROCESS_TIMEOUT)
        latency = time.monotonic() - published
        assert message["embeds"][0]["url"] == KASPERSKY_LINK
        assert (await fake.invoke("watch list")).content.count("vendor") == 1
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT) == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    print(
        f"\nend-to-end latency of `regwatch run` (separate process, poll interval 5 s):"
        f" feed published → alert on the fake Discord in {latency:.2f} s"
    )
    assert deployment.outbox() == [("sent", message["id"])]
    assert "stopped cleanly" in log.read_text()


async def test_debug_logs_never_show_the_bot_or_an_interaction_token(deployment: Deployment) -> None:
    """At DEBUG discord.py logs every request URL, interaction callbacks included: all masked."""
    fake = deployment.fake
    process, log = await deployment.start("run", REGWATCH_LOG_LEVEL="DEBUG", REGWATCH_LOG_FORMAT="json")
    try:
        await fake.wait_ready(timeout=PROCESS_TIMEOUT)
        await fake.wait_for(lambda: fake.commands.find("watch", fake.guild.id), timeout=PROCESS_TIMEOUT)
        record = fake.send_command("watch list")
        await fake.wait_interaction(record.id, timeout=PROCESS_TIMEOUT)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT) == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = log.read_text()
    assert f"/interactions/{record.id}/***/callback" in text  # the URL was logged, its token masked
    assert fake.token not in text and record.token not in text


async def test_commands_with_a_token_never_open_a_gateway_session(deployment: Deployment) -> None:
    """`run --once`, `digest run` and the other commands use REST or the database, never the gateway."""
    fake, channel = deployment.fake, deployment.fake.channel
    code, out = await deployment.run("subs", "add", "vendor:Kaspersky")
    assert code == 2 and "--target is required when a Discord token is set" in out, out
    code, out = await deployment.run("subs", "add", "vendor:Kaspersky", "--target", f"discord:{channel.id}")
    assert code == 0, out
    code, out = await deployment.run("run", "--once")
    assert code == 0 and "First poll of 1 sources" in out, out
    deployment.feeds.set(FEED, with_items(NASA, kaspersky_item()))
    code, out = await deployment.run("run", "--once")
    assert code == 0 and "delivered 1 alerts" in out, out
    [message] = fake.messages(channel.id)
    assert message["embeds"][0]["url"] == KASPERSKY_LINK
    for args in (("digest", "run"), ("subs", "list"), ("sources", "list"), ("doctor",)):
        code, out = await deployment.run(*args)
        assert code in (0, 1), out
    assert fake.gateway.identifies == [] and fake.gateway.connections == []
    assert fake.requests("GET", r"^/gateway") == []
