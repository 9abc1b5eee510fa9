"""The Sink protocol and the one failure path.

mypy checks that the console and Discord sinks conform to `Sink` (bot/app.py hands both to the
dispatcher); here mypy is run on a small module to show that the check holds for both and catches
a sink missing a method. Every failed delivery is recorded and logged once, by delivery/failures.py.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path
from typing import TextIO

import discord
import pytest

from bot.delivery.console import ConsoleSink
from bot.delivery.discord_sink import DiscordSink
from bot.delivery.dispatcher import DrainResult
from bot.delivery.pacing import PacedDispatcher
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.fakediscord import FakeDiscord

CONFORMANCE = """
from collections.abc import Sequence

from bot.delivery.console import ConsoleSink
from bot.delivery.discord_sink import DiscordSink
from bot.delivery.sink import Sink
from bot.storage.outbox import PendingAlert


class PrintsOnly:
    kind = "printer"
    batches = False

    async def send(self, alert: PendingAlert) -> str | None:
        return None


def sinks(console: ConsoleSink, discord_sink: DiscordSink) -> list[Sink]:
    return [console, discord_sink]


def incomplete() -> Sink:
    return PrintsOnly()
"""


def test_mypy_checks_that_both_sinks_conform_and_catches_one_that_does_not(tmp_path: Path) -> None:
    module = tmp_path / "conformance.py"
    module.write_text(CONFORMANCE)
    # In a process of its own: mypy raises the interpreter's recursion limit for good, which would
    # change how deep a JSON document the parser tests see refused.
    cache = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", cache, module],
        capture_output=True,
        text=True,
        check=False,
    )
    out, err = done.stdout, done.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    # Only the incomplete sink is refused; ConsoleSink and DiscordSink are Sinks.
    line = CONFORMANCE.splitlines().index("    return PrintsOnly()") + 1
    assert len(errors) == 1 and f"conformance.py:{line}:" in errors[0], out + err
    assert 'got "PrintsOnly", expected "Sink"' in errors[0]


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the log lines the delivery code wrote about failed deliveries."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("bot.delivery") and r.levelno >= 30]


async def test_each_failed_message_is_logged_once_and_a_refused_one_forgets_its_nonce(
    box: Outbox,
    clock: Clock,
    discord_at_fake: FakeDiscord,
    client: discord.Client,
    broken_pipe: TextIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = discord_at_fake
    channel = fake.add_channel("alerts-2")
    await fake.wait_for(lambda: client.get_channel(channel.id), what="the new channel in the cache")
    discord_sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    console_sub = await box.subscribe(target="console")
    await box.enqueue(discord_sub, 3)  # one message of three alerts
    await box.enqueue(console_sub, 2)  # two printed alerts
    sinks = {"discord": DiscordSink(client, box.adb, clock=clock), "console": ConsoleSink(broken_pipe)}
    dispatcher = PacedDispatcher(box.adb, sinks, clock=clock)
    fake.inject("POST", r"^/channels/\d+/messages$", 503, times=None)

    with caplog.at_level(logging.DEBUG, logger="bot.delivery"):
        assert await dispatcher.drain() == DrainResult(retrying=5)
    lines = failure_lines(caplog)
    assert len(lines) == 3, lines  # the Discord message once, each printed alert once
    [discord_line] = [line for line in lines if "discord:" in line]
    assert discord_line.startswith("3 alerts (") and "Discord server error 503" in discord_line
    assert all("could not write to the terminal" in line for line in lines if "console" in line)
    pending = [a for a in await box.pending() if a.target != "console"]
    assert {a.message_nonce for a in pending} != {None}  # a 503 may have made it: the marker stays

    # A refusal (Discord answered that it made nothing): the marker goes, logged once.
    caplog.clear()
    fake.clear_faults()
    fake.inject("POST", r"^/channels/\d+/messages$", 400, times=None, body={"message": "bad", "code": 50035})
    clock.advance(hours=2)
    with caplog.at_level(logging.DEBUG, logger="bot.delivery"):
        result = await dispatcher.drain()
    # Refused for good as a batch, each alert is tried on its own (one of them may be the cause):
    # three failures, three lines.
    assert result.failed == 3
    lines = [line for line in failure_lines(caplog) if "discord:" in line]
    assert len(lines) == 3 and all("failed for good" in line for line in lines), lines
    rows = {r.id: r for r in await box.rows()}
    assert all(rows[a.id].status == "failed" for a in pending)
    nonces = await box.adb.call(
        lambda db: [r[0] for r in db.execute("SELECT message_nonce FROM outbox WHERE target != 'console'")]
    )
    assert nonces == [None, None, None]


async def test_a_sink_that_crashes_is_retried_and_logged_once_with_its_traceback(
    box: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    closed = io.StringIO()
    closed.close()  # writing raises ValueError: not a delivery error the sink knows, a crash
    sub = await box.subscribe(target="console")
    [alert_id] = await box.enqueue(sub)
    dispatcher = PacedDispatcher(box.adb, {"console": ConsoleSink(closed)}, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="bot.delivery"):
        assert await dispatcher.drain() == DrainResult(retrying=1)
    [line] = [r for r in caplog.records if r.name.startswith("bot.delivery") and r.levelno >= 30]
    assert line.getMessage() == f"alert {alert_id} to console crashed the sink; retrying"
    assert line.exc_info is not None and line.exc_info[0] is ValueError
    [row] = await box.rows()
    assert row.status == "pending" and row.attempts == 1 and "internal error" in (row.last_error or "")
