"""Real parts for focused delivery tests: a fresh SQLite outbox fed with items of a real captured feed.

Alerts are enqueued through the same transaction the poller uses (`items.store_poll`), so every
row a test reads is a row the service would have written. Item titles, links and texts come from
`news_guardian_us_2018.rss` (tests/fixtures/feeds/SOURCES.md); when a test needs more alerts than
the capture has items, later copies get a `copy=N` query parameter so each link stays distinct.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from bot.domain.delivery_schedule import parse_schedule
from bot.domain.identity import canonical_link, link_key
from bot.domain.models import Entry
from bot.sources.parse import parse_feed
from bot.storage import delivery_settings, items, outbox, sources, subscriptions
from bot.storage.db import AsyncDatabase, connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.outbox import PendingAlert
from bot.storage.sources import SourceConfig
from tests.delivery.harness import Clock
from tests.helpers import fixture_bytes

GUARDIAN = "news_guardian_us_2018.rss"
T = TypeVar("T")


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """Return a UTC time tomorrow: near the real date, never 'now' by accident."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@cache
def real_entries(fixture: str = GUARDIAN) -> tuple[Entry, ...]:
    """Return the entries of a captured feed, parsed by regwatch's own parser."""
    return tuple(parse_feed(fixture_bytes(fixture)).entries)


@dataclass(frozen=True)
class Row:
    """One outbox row as stored."""

    id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    external_id: str | None
    last_error: str | None
    sent_at: datetime | None


@dataclass
class Outbox:
    """A migrated SQLite file with one source, and ways to subscribe and enqueue alerts."""

    adb: AsyncDatabase
    clock: Clock
    source_id: int
    used: int = 0  # real entries consumed so far (each alert gets a fresh item)

    async def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a storage function on the database thread."""
        return await self.adb.call(fn, *args, **kw)

    async def subscribe(
        self,
        query: str = "trump",
        target: str = "console",
        *,
        guild_id: int | None = None,
        mention_role_id: int | None = None,
        origin_channel_id: int | None = None,
        mode: str = "instant",
        at: str | None = None,
        day: str | None = None,
    ) -> int:
        """Store a subscription (and its schedule when not instant); return its id."""
        sub = await self.call(
            subscriptions.add,
            query,
            target,
            self.clock(),
            guild_id=guild_id,
            mention_role_id=mention_role_id,
            origin_channel_id=origin_channel_id,
            origin="discord" if guild_id else "cli",
        )
        if mode != "instant":
            await self.call(
                delivery_settings.set_schedule, sub.id, parse_schedule(mode, at, day), self.clock()
            )
        return int(sub.id)

    def next_items(self, count: int, *, action: str | None = None, text_repeat: int = 1) -> list[NewItem]:
        """Return `count` items made from the capture's entries, each with its own link."""
        entries = real_entries()
        made = []
        for _ in range(count):
            n = self.used
            self.used += 1
            entry = entries[n % len(entries)]
            copy = n // len(entries)
            link = entry.link if not copy else f"{entry.link}?copy={copy}"
            made.append(
                NewItem(
                    identity=f"{entry.guid or entry.link}#{n}",
                    guid=entry.guid,
                    link=link,
                    canonical_link=canonical_link(link),
                    link_key=link_key(link),
                    title=entry.title,
                    text=" ".join([entry.text] * text_repeat),
                    published=entry.published,
                    action=action,
                )
            )
        return made

    async def enqueue(
        self,
        sub_ids: int | Sequence[int],
        count: int = 1,
        *,
        action: str | None = None,
        text_repeat: int = 1,
        terms: tuple[str, ...] | None = None,
        source_id: int | None = None,
    ) -> list[int]:
        """Store `count` new items with an alert for each subscription (to its target); return the ids.

        The matched terms are `terms`, else each title's first word; the items come from
        `source_id` (default: the box's source).
        """
        ids = [sub_ids] if isinstance(sub_ids, int) else list(sub_ids)
        subs = [await self.call(subscriptions.get, i) for i in ids]
        new = self.next_items(count, action=action, text_repeat=text_repeat)
        alerts = [
            NewAlert(n, sub.id, sub.target, terms or (it.title.split()[0],))
            for n, it in enumerate(new)
            for sub in subs
            if sub is not None
        ]
        before = await self.call(
            lambda db: db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        )
        now = self.clock()
        await self.call(
            items.store_poll,
            source_id or self.source_id,
            now,
            now,
            new,
            alerts,
            etag=None,
            last_modified=None,
            body_hash=None,
        )
        return await self.call(
            lambda db: [r[0] for r in db.execute("SELECT id FROM outbox WHERE id > ? ORDER BY id", (before,))]
        )

    async def rows(self) -> list[Row]:
        """Return every outbox row, oldest first."""
        raw = await self.call(
            lambda db: db.execute(
                "SELECT id, status, attempts, next_attempt_at, external_id, last_error, sent_at"
                " FROM outbox ORDER BY id"
            ).fetchall()
        )
        return [
            Row(
                r[0],
                r[1],
                r[2],
                datetime.fromisoformat(r[3]),
                r[4],
                r[5],
                datetime.fromisoformat(r[6]) if r[6] else None,
            )
            for r in raw
        ]

    async def statuses(self) -> list[str]:
        """Return the status of every outbox row, oldest first."""
        return [r.status for r in await self.rows()]

    async def pending(self) -> list[PendingAlert]:
        """Return every pending alert whatever its next attempt time."""
        return await self.call(outbox.due, self.clock() + timedelta(days=3650), 10_000)


@contextlib.asynccontextmanager
async def outbox_at(tmp_path: Path, clock: Clock) -> AsyncIterator[Outbox]:
    """Open a fresh database in tmp_path with one source; close it afterwards."""
    db = connect(tmp_path / "regwatch.db")
    source = sources.add(db, SourceConfig("Guardian US", "https://www.theguardian.com/us-news/rss"), clock())
    adb = AsyncDatabase(db)
    try:
        yield Outbox(adb, clock, source.id)
    finally:
        await adb.close()


async def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
    what: str = "a condition",
) -> Any:
    """Return the predicate's first truthy value (awaited when it is a coroutine), or fail after timeout."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if asyncio.iscoroutine(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(0.005)  # a polling step with a deadline, not a wait for time to pass
    except TimeoutError:
        raise AssertionError(f"no {what} within {timeout}s") from None
