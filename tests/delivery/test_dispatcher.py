"""The outbox dispatcher on a real SQLite outbox with real console sinks, driven by the injected clock."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import TextIO

from bot.delivery.console import ConsoleSink
from bot.delivery.dispatcher import Dispatcher, DrainResult
from bot.storage.outbox import PendingAlert
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, real_entries


class Outcomes(list[tuple[int, str, datetime]]):
    """The dispatcher's outcome hook: (alert id, outcome, when) in the order they happened."""

    def __call__(self, alert: PendingAlert, outcome: str, when: datetime) -> None:
        self.append((alert.id, outcome, when))


async def test_due_alerts_go_out_oldest_first_and_are_marked_sent_once(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe()
    ids = await box.enqueue(sub, 3)
    out = io.StringIO()
    outcomes = Outcomes()
    dispatcher = Dispatcher(box.adb, {"console": ConsoleSink(out)}, clock=clock, on_outcome=outcomes)

    assert await dispatcher.drain() == DrainResult(sent=3)
    printed = out.getvalue()
    titles = [e.title for e in real_entries()[:3]]
    positions = [printed.index(t) for t in titles]
    assert positions == sorted(positions), "alerts printed out of order"
    rows = await box.rows()
    assert [(r.id, r.status, r.attempts, r.sent_at) for r in rows] == [(i, "sent", 1, clock()) for i in ids]
    assert outcomes == [(i, "sent", clock()) for i in ids]

    clock.advance(hours=1)
    assert await dispatcher.drain() == DrainResult()  # nothing is sent twice
    assert out.getvalue() == printed


async def test_a_refused_write_is_retried_with_capped_exponential_backoff(
    box: Outbox, clock: Clock, broken_pipe: TextIO
) -> None:
    sub = await box.subscribe()
    [alert_id] = await box.enqueue(sub)
    outcomes = Outcomes()
    dispatcher = Dispatcher(
        box.adb, {"console": ConsoleSink(broken_pipe)}, clock=clock, max_retry_seconds=30, on_outcome=outcomes
    )
    delays = []
    for attempt in range(1, 6):
        assert await dispatcher.drain() == DrainResult(retrying=1)
        [row] = await box.rows()
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error is not None and "could not write to the terminal" in row.last_error
        delays.append((row.next_attempt_at - clock()).total_seconds())
        clock.now = row.next_attempt_at - timedelta(seconds=1)
        assert await dispatcher.drain() == DrainResult(), "retried before its time"
        clock.now = row.next_attempt_at
    assert delays == [5, 10, 20, 30, 30]  # 5 s doubling, capped at max_retry_seconds
    assert [o for _, o, _ in outcomes] == ["retry"] * 5

    out = io.StringIO()
    dispatcher.add_sink(ConsoleSink(out))  # the terminal works again
    assert await dispatcher.drain() == DrainResult(sent=1)
    [row] = await box.rows()
    assert (row.id, row.status, row.attempts, row.last_error, row.sent_at) == (
        alert_id,
        "sent",
        6,
        None,
        clock(),
    )
    assert real_entries()[0].title in out.getvalue()


async def test_a_crashing_sink_keeps_the_alert_pending_with_the_error(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe()
    await box.enqueue(sub, 2)
    closed = io.StringIO()
    closed.close()  # writing raises ValueError: not a DeliveryError, a bug in the sink's world
    dispatcher = Dispatcher(box.adb, {"console": ConsoleSink(closed)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(retrying=2)
    rows = await box.rows()
    assert [r.status for r in rows] == ["pending", "pending"]
    assert all(r.last_error and r.last_error.startswith("internal error: ValueError") for r in rows)
    assert all(r.next_attempt_at == clock() + timedelta(seconds=5) for r in rows)


async def test_alerts_for_a_kind_without_a_sink_wait_untouched(box: Outbox, clock: Clock) -> None:
    console = await box.subscribe()
    discord_sub = await box.subscribe(target="discord:1234567890")
    [for_discord] = await box.enqueue(discord_sub)
    [for_console] = await box.enqueue(console)
    out = io.StringIO()
    dispatcher = Dispatcher(box.adb, {"console": ConsoleSink(out)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(sent=1)
    rows = {r.id: r for r in await box.rows()}
    assert rows[for_console].status == "sent"
    waiting = rows[for_discord]
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 0, None)


async def test_run_delivers_when_woken_and_stops_when_told(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe()
    out = io.StringIO()
    sent = asyncio.Event()
    outcomes = Outcomes()

    def observe(alert: PendingAlert, outcome: str, when: datetime) -> None:
        outcomes(alert, outcome, when)
        sent.set()

    dispatcher = Dispatcher(box.adb, {"console": ConsoleSink(out)}, clock=clock, on_outcome=observe)
    # A long idle period: only wake() can make it deliver within the test's deadline.
    task = asyncio.create_task(dispatcher.run(idle_seconds=3600))
    try:
        [alert_id] = await box.enqueue(sub)
        dispatcher.wake()
        await asyncio.wait_for(sent.wait(), timeout=10)
        assert outcomes == [(alert_id, "sent", clock())]
        dispatcher.stop()
        await asyncio.wait_for(task, timeout=10)
    finally:
        task.cancel()
    assert await box.statuses() == ["sent"]
