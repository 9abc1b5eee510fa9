"""Polls that store nothing are recorded together: one transaction for many sources."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.pipeline.outcomes import OutcomeWriter
from bot.storage import sources
from bot.storage.db import AsyncDatabase, connect
from bot.storage.sources import PollOutcome, SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_concurrent_outcomes_share_transactions(tmp_path, monkeypatch):
    db = connect(tmp_path / "regwatch.db")
    ids = [sources.add(db, SourceConfig(f"s{n}", f"https://s{n}.example/feed"), NOW).id for n in range(60)]
    adb = AsyncDatabase(db)
    writes: list[int] = []
    real = sources.record_outcomes

    def counted(database, outcomes):
        writes.append(len(outcomes))
        real(database, outcomes)

    monkeypatch.setattr(sources, "record_outcomes", counted)
    writer = OutcomeWriter(adb)
    later = NOW + timedelta(minutes=15)
    await asyncio.gather(
        *(
            writer.record(
                PollOutcome(sid, NOW, later, etag=f'"{sid}"')
                if sid % 3
                else PollOutcome(sid, NOW, later, error="HTTP 503")
            )
            for sid in ids
        )
    )
    assert sum(writes) == 60 and len(writes) < 60  # all recorded, in shared transactions
    stored = {s.id: s for s in await adb.call(sources.list_sources)}
    for sid in ids:
        if sid % 3:
            assert stored[sid].etag == f'"{sid}"' and stored[sid].failures == 0
        else:
            assert stored[sid].failures == 1 and stored[sid].last_error == "HTTP 503"
        assert stored[sid].next_check_at == later
    await adb.close()


async def test_a_round_of_unchanged_and_failed_polls_is_one_transaction(tmp_path, feed_server, monkeypatch):
    from bot.app import build_services
    from bot.pipeline import outcomes
    from tests.helpers import local_settings, sources_toml, with_items

    # The hold never ends by time here: the round's last plan releases it, however slow the machine.
    monkeypatch.setattr(outcomes, "MAX_HOLD_SECONDS", 600.0)
    urls = [
        (f"F{n}", feed_server.set(f"/f{n}.xml", with_items("spec_rss2sample_nasa_liftoff.xml")))
        for n in range(12)
    ]
    settings = local_settings(tmp_path, sources_toml(*urls), "", poll_concurrency=4)
    writes: list[int] = []
    real = sources.record_outcomes

    def counted(database, batch):
        writes.append(len(batch))
        real(database, batch)

    monkeypatch.setattr(sources, "record_outcomes", counted)
    async with build_services(settings) as services:
        await services.scheduler.poll_all()  # first polls store items: not outcomes
        assert writes == []
        feed_server.set("/f0.xml", b"gone", status=500, content_type="text/plain")
        results = await services.scheduler.poll_all()  # 11 answer 304, one fails
        assert sorted(r.status for r in results) == ["failed"] + ["unchanged"] * 11
        assert writes == [12]
        [failing] = [s for s in await services.adb.call(sources.list_sources) if s.failures]
        assert failing.url.endswith("/f0.xml") and "500" in (failing.last_error or "")


async def test_a_round_of_stored_polls_is_written_in_few_transactions(tmp_path, feed_server, monkeypatch):
    from bot.app import build_services
    from bot.pipeline import outcomes
    from tests.helpers import local_settings, sources_toml, with_items

    # Neither hold ends by time here: the round's last plan releases them, however slow the machine.
    monkeypatch.setattr(outcomes, "MAX_HOLD_SECONDS", 600.0)
    monkeypatch.setattr(outcomes, "STORE_WAIT_SECONDS", 600.0)
    urls = [
        (f"F{n}", feed_server.set(f"/f{n}.xml", with_items("spec_rss2sample_nasa_liftoff.xml")))
        for n in range(12)
    ]
    settings = local_settings(tmp_path, sources_toml(*urls), "", poll_concurrency=4)
    batches: list[int] = []
    real = outcomes._store_all

    def counted(database, store, works, prepare=None):
        batches.append(len(works))
        return real(database, store, works, prepare)

    monkeypatch.setattr(outcomes, "_store_all", counted)
    async with build_services(settings) as services:
        results = await services.scheduler.poll_all()  # first polls: each stores its items
        assert [r.status for r in results] == ["primed"] * 12
        assert batches == [12]  # one transaction for the round
        stored = await services.adb.call(lambda db: db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        assert stored == sum(r.new_items for r in results) > 0


async def test_held_stores_go_out_once_enough_items_wait(tmp_path, monkeypatch):
    from bot.pipeline import outcomes
    from bot.pipeline.outcomes import Round, StoreQueue

    adb = AsyncDatabase(connect(tmp_path / "regwatch.db"))
    written: list[list[int]] = []
    real = outcomes._store_all

    def counted(database, fn, works, prepare=None):
        written.append(list(works))
        return real(database, fn, works, prepare)

    monkeypatch.setattr(outcomes, "_store_all", counted)
    monkeypatch.setattr(outcomes, "STORE_WAIT_SECONDS", 600.0)
    queue = StoreQueue(adb, lambda db, work: work * 10, size=lambda work: work, batch_items=5)
    round_ = Round(10, queue)  # a round that never finishes planning here
    try:
        first = asyncio.create_task(queue.store(2))
        await asyncio.sleep(0)
        assert not first.done() and written == []  # held: 2 items wait, fewer than 5
        assert await queue.store(3) == 30  # 5 items wait: both go out together
        assert await first == 20
        assert written == [[2, 3]]
        round_.close()
        assert await queue.store(1) == 10  # no hold: at once
        assert written == [[2, 3], [1]]
    finally:
        round_.close()
        await adb.close()


async def test_a_held_store_waits_a_bounded_time(tmp_path, monkeypatch):
    from bot.pipeline import outcomes
    from bot.pipeline.outcomes import Round, StoreQueue

    monkeypatch.setattr(outcomes, "STORE_WAIT_SECONDS", 0.01)
    adb = AsyncDatabase(connect(tmp_path / "regwatch.db"))
    queue = StoreQueue(adb, lambda db, work: work, batch_items=1000)
    round_ = Round(10, queue)  # never planned, never closed by time (stores bound their own wait)
    try:
        assert await asyncio.wait_for(queue.store(7), timeout=60) == 7
    finally:
        round_.close()
        await adb.close()
