"""Enqueue a poll's alerts: the one place outbox rows are made."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso
from bot.domain.story import StoryIndex, StoryKey, StoryLink, link_batch, story_key
from bot.storage.db import transaction
from bot.storage.delivery_settings import scope
from bot.storage.outbox.read import rows
from bot.storage.outbox.status import Status
from bot.storage.outbox.stories import known_stories, lock_targets, still_first_of

_CHUNK = 500  # rows per statement, under SQLite's limit on parameters


@dataclass(frozen=True, slots=True)
class ToEnqueue:
    """An alert to enqueue for a stored item."""

    item_id: int
    subscription_id: int
    target: str
    link_key: str  # the canonical link, else the item: one alert per target and key
    terms: tuple[str, ...]
    title: str  # the item's headline and classified action, for the story rule
    action: str | None = None
    explanation: dict[str, Any] = field(default_factory=dict)  # see bot.domain.explain


@dataclass(frozen=True, slots=True)
class _Subscription:
    guild_id: int | None
    delivery_mode: str


def enqueue(
    db: Database,
    source_id: int,
    now: datetime,
    alerts: Sequence[ToEnqueue],
    *,
    story_window: timedelta | None = None,
) -> int:
    """Enqueue alerts of one source's items, inside the poll's transaction; return how many.

    Rules, in this order:
    1. Only a subscription that may see the source gets an alert: every one for a shared source,
       those of the servers that added it for a private one (bot/storage/sources.py). A
       subscription removed meanwhile gets none.
    2. One alert per target and link key: a key the target has (or had) an alert for is skipped,
       and so is the second alert of the batch with the same key.
    3. With a story window, an alert reporting the same story as an earlier alert to the same
       target within the window adds to it (`story_of`, bot/domain/story.py).
    4. The alert is HELD when its subscription has a digest schedule or its target has quiet
       hours (its own or its server's '*'), for the planner to decide; else PENDING.
    """
    if not alerts:
        return 0
    with transaction(db):
        if story_window:
            lock_targets(db, {a.target for a in alerts})  # several processes: one target at a time
        subs = _subscriptions(db, {a.subscription_id for a in alerts})
        sees = _audience(db, source_id)
        taken = _taken(db, alerts)
        chosen: list[tuple[ToEnqueue, _Subscription]] = []
        for alert in alerts:
            sub = subs.get(alert.subscription_id)
            if sub is None or not sees(sub.guild_id) or (alert.target, alert.link_key) in taken:
                continue
            taken.add((alert.target, alert.link_key))
            chosen.append((alert, sub))
        if not chosen:
            return 0
        links = _story_links(db, [a for a, _ in chosen], now - story_window) if story_window else None
        quiet = _quiet(db, {scope(sub.guild_id) for _, sub in chosen})
        values = []
        for n, (alert, sub) in enumerate(chosen):
            held = sub.delivery_mode != "instant" or bool(
                {(scope(sub.guild_id), alert.target), (scope(sub.guild_id), "*")} & quiet
            )
            link = links[n] if links else None
            values.append(
                (
                    alert.subscription_id,
                    alert.item_id,
                    alert.target,
                    alert.link_key,
                    json.dumps(alert.terms),
                    Status.HELD if held else Status.PENDING,
                    iso(now),
                    iso(now),
                    json.dumps(alert.explanation, ensure_ascii=False),
                    link.stored if link else None,
                )
            )
        ids = _insert(db, values)
        if links:
            _link_within_batch(db, chosen, links, ids)
    return len(ids)


def _insert(db: Database, values: Sequence[tuple[object, ...]]) -> dict[tuple[str, str], int]:
    """Insert outbox rows, a few hundred per statement; return their ids by (target, link key)."""
    ids: dict[tuple[str, str], int] = {}
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        marks = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        inserted = rows(
            db,
            "INSERT OR IGNORE INTO outbox (subscription_id, item_id, target, link_key, terms, status,"
            f" next_attempt_at, created_at, explanation, story_of) VALUES {marks}"
            " RETURNING id, target, link_key",
            [v for row in chunk for v in row],
        )
        ids.update({(r["target"], r["link_key"]): r["id"] for r in inserted})
    return ids


def _story_links(db: Database, alerts: list[ToEnqueue], since: datetime) -> list[StoryLink | None]:
    """Decide which alerts add to an earlier story (the rule: bot/domain/story.py)."""
    by_item: dict[int, StoryKey] = {}  # an item alerting many targets is folded once
    keys = []
    for a in alerts:
        key = by_item.get(a.item_id)
        if key is None:
            key = by_item[a.item_id] = story_key(a.title, a.action)
        keys.append((a.target, key))
    when = iso(since)
    known = known_stories(db, when, {a.target for a in alerts})
    # Each alert's stored candidates are looked up once, and all of them confirmed by one read
    # (was one read per candidate: 1,329 of the 18,000 statements of bench_poll's round C).
    found = {(target, key): known.matches(target, key, when) for target, key in keys}
    wanted = {i for ids in found.values() for i in ids}
    alive = still_first_of(db, wanted) if wanted else set()
    return link_batch(keys, _Answered(found), when, alive.__contains__)


class _Answered(StoryIndex):
    """A story index whose lookups were made already (link_batch asks each once more)."""

    __slots__ = ("_found",)

    def __init__(self, found: dict[tuple[str, StoryKey], list[int]]) -> None:
        super().__init__()
        self._found = found

    def matches(self, target: str, key: StoryKey, since: str) -> list[int]:
        """Return the alerts found for (target, key) before."""
        return self._found.get((target, key), [])


def _link_within_batch(
    db: Database,
    chosen: list[tuple[ToEnqueue, _Subscription]],
    links: list[StoryLink | None],
    ids: dict[tuple[str, str], int],
) -> None:
    """Point alerts that add to a story begun earlier in the same batch at its first alert."""
    pairs = []
    for (alert, _), link in zip(chosen, links, strict=True):
        if link is None or link.in_batch is None:
            continue
        first = chosen[link.in_batch][0]
        first_id, alert_id = ids.get((first.target, first.link_key)), ids.get((alert.target, alert.link_key))
        if first_id is not None and alert_id is not None:
            pairs.append((first_id, alert_id))
    if pairs:
        db.conn.executemany("UPDATE outbox SET story_of = ? WHERE id = ?", pairs)


def _subscriptions(db: Database, sub_ids: set[int]) -> dict[int, _Subscription]:
    ordered = sorted(sub_ids)
    found: dict[int, _Subscription] = {}
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id, guild_id, delivery_mode FROM subscriptions WHERE id IN ({marks})"
        for r in rows(db, sql, chunk):
            found[r["id"]] = _Subscription(r["guild_id"], r["delivery_mode"])
    return found


def _audience(db: Database, source_id: int) -> Callable[[int | None], bool]:
    """Return who sees the source's items: anyone for a shared source, else its owners' servers."""
    source = rows(db, "SELECT shared FROM sources WHERE id = ?", (source_id,))
    if not source:
        return lambda guild_id: False
    if source[0]["shared"]:
        return lambda guild_id: True
    owners = rows(db, "SELECT guild_id FROM source_owners WHERE source_id = ?", (source_id,))
    servers = {r["guild_id"] for r in owners}
    return lambda guild_id: guild_id in servers


def _taken(db: Database, alerts: Sequence[ToEnqueue]) -> set[tuple[str, str]]:
    """Return the (target, link key) pairs among these alerts that the outbox holds already."""
    pairs = sorted({(a.target, a.link_key) for a in alerts})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        marks = ",".join(["(?, ?)"] * len(chunk))
        # Joined from the pairs, each one a look-up in the outbox's (target, link_key) key.
        for r in rows(
            db,
            f"WITH k(target, link_key) AS (VALUES {marks}) SELECT o.target AS target, o.link_key AS link_key"
            " FROM k JOIN outbox o ON o.target = k.target AND o.link_key = k.link_key",
            [v for pair in chunk for v in pair],
        ):
            found.add((r["target"], r["link_key"]))
    return found


def _quiet(db: Database, scopes: set[int]) -> set[tuple[int, str]]:
    """Return the (server scope, target or '*') pairs with quiet hours among these scopes."""
    ordered = sorted(scopes)
    found: set[tuple[int, str]] = set()
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for r in rows(db, f"SELECT guild_id, target FROM quiet_hours WHERE guild_id IN ({marks})", chunk):
            found.add((r["guild_id"], r["target"]))
    return found
