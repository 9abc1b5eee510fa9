"""The sources table: what to poll, and each source's fetch state and health."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A source as declared in a sources file or added by a person."""

    name: str
    url: str
    kind: str = "feed"
    interval_seconds: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Source:
    """A stored source with its fetch state."""

    id: int
    name: str
    url: str
    kind: str
    options: dict[str, Any]
    interval_seconds: int | None
    origin: str
    guild_id: int | None
    enabled: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    next_check_at: datetime
    failures: int
    last_error: str | None
    failing_since: datetime | None
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_new_item_at: datetime | None
    primed: bool
    item_count: int
    notice: str | None = None  # the notice raised for the current episode: "failing" | "silent"
    notice_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def state(self) -> str:
        """Return the source's health in one word: ok, failing, silent, new or disabled."""
        if not self.enabled:
            return "disabled"
        if self.failures:
            return "failing"
        if self.last_ok_at is None:
            return "new"
        return "silent" if self.notice == "silent" else "ok"

    def health_text(self) -> str:
        """Describe the source's health in plain words (CLI and Discord)."""
        state = self.state
        if state == "failing":
            since = _minute(self.failing_since)
            return f"failing since {since} UTC ({self.failures}×): {self.last_error}"
        if state == "new":
            return "not polled yet"
        if state == "silent":
            return f"no new items since {_minute(self.last_new_item_at or self.created_at)} UTC"
        if state == "ok":
            return f"ok, last checked {_minute(self.last_ok_at)} UTC"
        return "disabled"


def _minute(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M") if stamp else "?"


def _row(r: dict[str, Any]) -> Source:
    return Source(
        id=r["id"],
        name=r["name"],
        url=r["url"],
        kind=r["kind"],
        options=json.loads(r["options"] or "{}"),
        interval_seconds=r["interval_seconds"],
        origin=r["origin"],
        guild_id=r["guild_id"],
        enabled=bool(r["enabled"]),
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        next_check_at=parse_iso(r["next_check_at"]) or datetime.min,
        failures=r["failures"],
        last_error=r["last_error"],
        failing_since=parse_iso(r["failing_since"]),
        last_polled_at=parse_iso(r["last_polled_at"]),
        last_ok_at=parse_iso(r["last_ok_at"]),
        last_new_item_at=parse_iso(r["last_new_item_at"]),
        primed=bool(r["primed"]),
        item_count=r["item_count"],
        notice=r.get("notice"),
        notice_at=parse_iso(r.get("notice_at")),
        created_at=parse_iso(r.get("created_at")),
    )


def _select(db: Database, where: str = "1", params: tuple[Any, ...] = ()) -> list[Source]:
    cursor = db.execute(f"SELECT * FROM sources WHERE {where} ORDER BY id", params)
    cols = [c[0] for c in cursor.description]
    return [_row(dict(zip(cols, row, strict=True))) for row in cursor.fetchall()]


def list_sources(db: Database, *, enabled_only: bool = False) -> list[Source]:
    """Return every source, or only the enabled ones."""
    return _select(db, "enabled = 1") if enabled_only else _select(db)


def get(db: Database, source_id: int) -> Source | None:
    """Return one source by id."""
    found = _select(db, "id = ?", (source_id,))
    return found[0] if found else None


def due(db: Database, now: datetime, limit: int = 500) -> list[Source]:
    """Return enabled sources whose next check time has come, most overdue first."""
    cursor = db.execute(
        "SELECT id FROM sources WHERE enabled = 1 AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
        (iso(now), limit),
    )
    ids = [r[0] for r in cursor.fetchall()]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return _select(db, f"id IN ({marks})", tuple(ids))


def add(
    db: Database,
    config: SourceConfig,
    now: datetime,
    *,
    origin: str = "cli",
    guild_id: int | None = None,
) -> Source:
    """Add a source (or return the existing one with the same URL) and make it due now."""
    existing = _select(db, "url = ?", (config.url,))
    if existing:
        return existing[0]
    with db.atomic():
        db.execute(
            "INSERT INTO sources (name, url, kind, options, interval_seconds, origin, guild_id, created_at,"
            " next_check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                config.name,
                config.url,
                config.kind,
                json.dumps(config.options, sort_keys=True),
                config.interval_seconds,
                origin,
                guild_id,
                iso(now),
                iso(now),
            ),
        )
    return _select(db, "url = ?", (config.url,))[0]


def remove(db: Database, source_id: int) -> bool:
    """Delete a source with its items and their pending alerts; True when it existed."""
    with db.atomic():
        cur = db.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    return cur.rowcount > 0


def sync_config(db: Database, configs: list[SourceConfig], now: datetime) -> tuple[int, int]:
    """Make the configured sources (catalog or sources file) the enabled 'config' sources.

    Sources added by people (CLI, Discord) are untouched. Returns (added, disabled).
    """
    added = disabled = 0
    urls = {c.url for c in configs}
    with db.atomic():
        for c in configs:
            cur = db.execute(
                "UPDATE sources SET name = ?, kind = ?, options = ?, interval_seconds = ?, enabled = 1"
                " WHERE url = ?",
                (c.name, c.kind, json.dumps(c.options, sort_keys=True), c.interval_seconds, c.url),
            )
            if cur.rowcount == 0:
                db.execute(
                    "INSERT INTO sources (name, url, kind, options, interval_seconds, origin, created_at,"
                    " next_check_at) VALUES (?, ?, ?, ?, ?, 'config', ?, ?)",
                    (
                        c.name,
                        c.url,
                        c.kind,
                        json.dumps(c.options, sort_keys=True),
                        c.interval_seconds,
                        iso(now),
                        iso(now),
                    ),
                )
                added += 1
        for row in db.execute(
            "SELECT id, url FROM sources WHERE origin = 'config' AND enabled = 1"
        ).fetchall():
            if row[1] not in urls:
                db.execute("UPDATE sources SET enabled = 0 WHERE id = ?", (row[0],))
                disabled += 1
    return added, disabled


def record_success(
    db: Database,
    source_id: int,
    now: datetime,
    next_check_at: datetime,
    *,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
) -> None:
    """Record a successful poll (changed or not) and when to check next."""
    db.execute(
        "UPDATE sources SET etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash),"
        " next_check_at = ?, failures = 0, last_error = NULL, failing_since = NULL,"
        " last_polled_at = ?, last_ok_at = ? WHERE id = ?",
        (etag, last_modified, body_hash, iso(next_check_at), iso(now), iso(now), source_id),
    )


def record_failure(db: Database, source_id: int, now: datetime, error: str, next_check_at: datetime) -> None:
    """Record a failed poll: count it, keep the reason, back off."""
    db.execute(
        "UPDATE sources SET failures = failures + 1, last_error = ?,"
        " failing_since = COALESCE(failing_since, ?), last_polled_at = ?, next_check_at = ? WHERE id = ?",
        (error[:500], iso(now), iso(now), iso(next_check_at), source_id),
    )


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """A poll that stored no items: unchanged (error None) or failed (error set)."""

    source_id: int
    now: datetime
    next_check_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error: str | None = None


def record_outcomes(db: Database, outcomes: Sequence[PollOutcome]) -> None:
    """Record many unchanged and failed polls in one transaction, one executemany per run of a kind."""
    with db.atomic():
        for failed, run in groupby(outcomes, key=lambda o: o.error is not None):
            if failed:
                db.conn.executemany(
                    "UPDATE sources SET failures = failures + 1, last_error = ?,"
                    " failing_since = COALESCE(failing_since, ?), last_polled_at = ?, next_check_at = ?"
                    " WHERE id = ?",
                    [
                        ((o.error or "")[:500], iso(o.now), iso(o.now), iso(o.next_check_at), o.source_id)
                        for o in run
                    ],
                )
            else:
                db.conn.executemany(
                    "UPDATE sources SET etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash),"
                    " next_check_at = ?, failures = 0, last_error = NULL, failing_since = NULL,"
                    " last_polled_at = ?, last_ok_at = ? WHERE id = ?",
                    [
                        (
                            o.etag,
                            o.last_modified,
                            o.body_hash,
                            iso(o.next_check_at),
                            iso(o.now),
                            iso(o.now),
                            o.source_id,
                        )
                        for o in run
                    ],
                )


def health_counts(db: Database) -> dict[str, int]:
    """Return how many sources are ok, failing, new (never polled successfully) or disabled."""
    cur = db.execute(
        "SELECT CASE WHEN enabled = 0 THEN 'disabled' WHEN failures > 0 THEN 'failing'"
        " WHEN last_ok_at IS NULL THEN 'new' ELSE 'ok' END AS state, COUNT(*) FROM sources GROUP BY state"
    )
    result = {"ok": 0, "failing": 0, "new": 0, "disabled": 0}
    result.update({r[0]: r[1] for r in cur.fetchall()})
    return result


def backoff(failures: int, interval: int, cap: int) -> timedelta:
    """Return the capped exponential wait after the given number of consecutive failures."""
    return timedelta(seconds=min(cap, interval * (2 ** min(failures, 20))))
