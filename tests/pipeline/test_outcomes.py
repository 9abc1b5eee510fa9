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
