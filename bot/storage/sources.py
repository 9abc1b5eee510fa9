"""The sources table: what to poll, and each source's fetch state and health.

One row per URL, fetched once whoever watches it. Who may see a row's items:

- a shared row (`shared = 1`: the catalog, a sources file, `regwatch sources add`): everyone;
- a private row (added by Discord servers only): the servers in `source_owners`, each under its
  own name and its own id (`add_for_guild`). Another server learns nothing of it: adding the same
  URL gives that server its own owner row and the same answer as a URL nobody watched, and its
  view of the source's health starts when it added it (`_view`).

The checks are in SQL (`VISIBLE`, `seen_name`) so that every query reading items or alerts for
a server applies them, not only the commands that list sources.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.storage.db import is_postgres


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
    shared: bool = True  # False: only the servers that added it see it
    guild_id: int | None = None  # set on one server's view of a source (its own id and name)

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

    def health_text(
        self,
        when: Callable[[datetime | None], str] | None = None,
        *,
        show: Callable[[str], str] = str,
    ) -> str:
        """Describe the source's health in plain words (CLI and Discord).

        `when` formats a time; `show` is the medium's sanitizer for the last error, which the
        source's server wrote.
        """
        at = when or _minute
        state = self.state
        if state == "failing":
            return f"failing since {at(self.failing_since)} ({self.failures}×): {show(self.last_error or '')}"
        if state == "new":
            return "not polled yet"
        if state == "silent":
            return f"no new items since {at(self.last_new_item_at or self.created_at)}"
        if state == "ok":
            return f"ok, last checked {at(self.last_ok_at)}"
        return "disabled"


def _minute(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M UTC") if stamp else "?"


def _row(r: dict[str, Any]) -> Source:
    return Source(
        id=r["id"],
        name=r["name"],
        url=r["url"],
        kind=r["kind"],
        options=json.loads(r["options"] or "{}"),
        interval_seconds=r["interval_seconds"],
        origin=r["origin"],
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
        shared=bool(r.get("shared", 1)),
    )


def _select(db: Database, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[Source]:
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


def claim_due(db: Database, now: datetime, hold_seconds: float, limit: int = 500) -> list[Source]:
    """Claim enabled sources whose next check time has come, most overdue first, and return them.

    Claiming moves each one's next check `hold_seconds` ahead in the same statement, so another
    process on the same database does not select it again while this one polls it; the poll's
    outcome then sets the real next check. A process that dies mid-poll leaves its sources due
    again once the hold has passed. On PostgreSQL rows another transaction is claiming are
    skipped (FOR UPDATE SKIP LOCKED); on SQLite the one UPDATE is atomic on its own.
    """
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres(db) else ""
    cursor = db.execute(
        "UPDATE sources SET next_check_at = ? WHERE id IN (SELECT id FROM sources"
        f" WHERE enabled = 1 AND next_check_at <= ? ORDER BY next_check_at LIMIT ?{lock}) RETURNING id",
        (iso(now + timedelta(seconds=hold_seconds)), iso(now), limit),
    )
    ids = [r[0] for r in cursor.fetchall()]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return _select(db, f"id IN ({marks})", tuple(ids))


def _next_id(db: Database) -> int:
    """Return the next id of the one sequence shared by sources and owner rows."""
    row = db.execute(
        "SELECT MAX(m) FROM"
        " (SELECT MAX(id) AS m FROM sources UNION ALL SELECT MAX(id) FROM source_owners) AS ids"
    ).fetchone()
    return int(row[0] or 0) + 1


def _insert(db: Database, config: SourceConfig, now: datetime, origin: str, *, shared: bool) -> int:
    source_id = _next_id(db)
    db.execute(
        "INSERT INTO sources (id, name, url, kind, options, interval_seconds, origin, shared, created_at,"
        " next_check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            source_id,
            config.name,
            config.url,
            config.kind,
            json.dumps(config.options, sort_keys=True),
            config.interval_seconds,
            origin,
            int(shared),
            iso(now),
            iso(now),
        ),
    )
    return source_id


def add(db: Database, config: SourceConfig, now: datetime, *, origin: str = "cli") -> Source:
    """Add a shared source (or return the existing one with the same URL) and make it due now.

    A URL that only servers watched becomes shared under this name: the operator chose to
    publish it (the servers keep their own names for it).
    """
    with db.atomic():
        existing = _select(db, "url = ?", (config.url,))
        if not existing:
            _insert(db, config, now, origin, shared=True)
        elif not existing[0].shared:
            db.execute(
                "UPDATE sources SET shared = 1, origin = ?, name = ? WHERE id = ?",
                (origin, config.name, existing[0].id),
            )
    return _select(db, "url = ?", (config.url,))[0]


# The source `s` is visible to the server given as the next parameter (SQL, with one `?`).
def options_of(raw: object) -> dict[str, Any]:
    """Return a source's stored options (JSON text) as a dict; {} when absent or unreadable."""
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# An item is visible to a server when its source is shared, or when the server already owned the
# source when the item was fetched: what a private source held before a server added the same URL
# stays with the servers that watched it then, so nothing tells the newcomer someone did.
ITEM_VISIBLE = (
    "(s.shared = 1 OR EXISTS (SELECT 1 FROM source_owners so WHERE so.source_id = s.id AND so.guild_id = ?"
    " AND so.created_at <= i.fetched_at))"
)
VISIBLE = (
    "(s.shared = 1 OR EXISTS (SELECT 1 FROM source_owners so WHERE so.source_id = s.id AND so.guild_id = ?))"
)


def seen_name(source: str = "s", guild: str = "?") -> str:
    """Return SQL for the name a server sees for a source: its own name for it, else the source's."""
    return (
        f"COALESCE((SELECT so.name FROM source_owners so WHERE so.source_id = {source}.id"
        f" AND so.guild_id = {guild}), {source}.name)"
    )


@dataclass(frozen=True, slots=True)
class Owner:
    """A server that watches a source, and the name it gave it."""

    guild_id: int
    name: str


def owners(db: Database, source_id: int) -> list[Owner]:
    """Return the servers that added this source themselves."""
    rows = db.execute(
        "SELECT guild_id, name FROM source_owners WHERE source_id = ? ORDER BY id", (source_id,)
    ).fetchall()
    return [Owner(int(r[0]), str(r[1])) for r in rows]


def _view(source: Source, link: tuple[Any, ...]) -> Source:
    """Return a server's view of a source: its id and name, health only from when it added it."""
    link_id, guild_id, name, interval, created = link
    since = parse_iso(created) or source.created_at or datetime.min
    view = replace(
        source, id=link_id, name=name, interval_seconds=interval, created_at=since, guild_id=guild_id
    )
    if source.last_polled_at is None or source.last_polled_at <= since:
        # Polled only before this server added it (times are stored to the second: the same second
        # counts as before): what happened then is not this server's to see.
        return replace(
            view,
            failures=0,
            last_error=None,
            failing_since=None,
            last_polled_at=None,
            last_ok_at=None,
            last_new_item_at=None,
            notice=None,
            notice_at=None,
            item_count=0,
        )
    earlier = source.failing_since is not None and source.failing_since < since
    return replace(
        view,
        # Failing since before this server added it: count only what it can have seen.
        failures=1 if earlier and source.failures else source.failures,
        failing_since=max(source.failing_since, since) if source.failing_since else None,
        last_new_item_at=(
            source.last_new_item_at if source.last_new_item_at and source.last_new_item_at >= since else None
        ),
        notice=source.notice if source.notice_at and source.notice_at >= since else None,
    )


_LINK_COLS = "so.id, so.guild_id, so.name, so.interval_seconds, so.created_at"


def guild_sources(db: Database, guild_id: int) -> list[Source]:
    """Return the sources a server added itself, as that server sees them (its ids and names)."""
    rows = db.execute(
        f"SELECT so.source_id, {_LINK_COLS} FROM source_owners so WHERE so.guild_id = ? ORDER BY so.id",
        (guild_id,),
    ).fetchall()
    found = {
        s.id: s
        for s in _select(db, "id IN (SELECT source_id FROM source_owners WHERE guild_id = ?)", (guild_id,))
    }
    return [_view(found[r[0]], r[1:]) for r in rows if r[0] in found]


def guild_view(db: Database, source_id: int, guild_id: int) -> Source | None:
    """Return one server's view of a source it added, or None when it did not add it."""
    row = db.execute(
        f"SELECT {_LINK_COLS} FROM source_owners so WHERE so.source_id = ? AND so.guild_id = ?",
        (source_id, guild_id),
    ).fetchone()
    source = get(db, source_id)
    return _view(source, tuple(row)) if row and source else None


def _refresh_interval(db: Database, source_id: int) -> None:
    # A private source is polled as often as its most eager owner asked (no interval: the default).
    db.execute(
        "UPDATE sources SET interval_seconds = (SELECT CASE WHEN COUNT(*) > COUNT(interval_seconds)"
        " THEN NULL ELSE MIN(interval_seconds) END FROM source_owners WHERE source_id = sources.id)"
        " WHERE id = ? AND shared = 0",
        (source_id,),
    )


def add_for_guild(db: Database, config: SourceConfig, now: datetime, guild_id: int) -> Source | None:
    """Add a source for one server and return that server's view of it.

    Return None when the URL is a catalog source (everyone sees it already). Whether another
    server watches the URL changes nothing the caller can see: it gets its own owner row (a
    fresh id), its own name, and health from now on; the URL is still fetched once.
    """
    with db.atomic():
        existing = _select(db, "url = ?", (config.url,))
        if existing and existing[0].origin == "config" and existing[0].enabled:
            return None
        if existing:
            source_id = existing[0].id
            link_id = _next_id(db)
            if existing[0].origin == "config":  # a disabled catalog row: now a server's own source
                db.execute(
                    "UPDATE sources SET origin = 'discord', shared = 0, enabled = 1 WHERE id = ?",
                    (source_id,),
                )
        else:
            source_id = link_id = _insert(db, config, now, "discord", shared=False)
        cur = db.execute(
            "INSERT INTO source_owners (id, source_id, guild_id, name, interval_seconds,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (link_id, source_id, guild_id, config.name, config.interval_seconds, iso(now)),
        )
        if cur.rowcount and existing:
            # Poll it soon, as a new source would be; its state before now stays hidden (_view).
            db.execute(
                "UPDATE sources SET next_check_at = ? WHERE id = ? AND next_check_at > ?",
                (iso(now), source_id, iso(now)),
            )
        _refresh_interval(db, source_id)
    return guild_view(db, source_id, guild_id)


def remove_for_guild(db: Database, link_id: int, guild_id: int) -> Source | None:
    """Remove a server's own source by the id it sees; drop the row when nobody else uses it."""
    with db.atomic():
        row = db.execute(
            "SELECT source_id FROM source_owners WHERE id = ? AND guild_id = ?", (link_id, guild_id)
        ).fetchone()
        if row is None:
            return None
        view = guild_view(db, int(row[0]), guild_id)
        db.execute("DELETE FROM source_owners WHERE id = ?", (link_id,))
        left = db.execute("SELECT COUNT(*) FROM source_owners WHERE source_id = ?", (row[0],)).fetchone()[0]
        if left == 0:
            db.execute("DELETE FROM sources WHERE id = ? AND shared = 0", (row[0],))
        else:
            _refresh_interval(db, int(row[0]))
    return view


def catalog_source(db: Database, url: str) -> Source | None:
    """Return the enabled catalog source with this URL, if there is one."""
    found = _select(db, "url = ? AND origin = 'config' AND enabled = 1", (url,))
    return found[0] if found else None


def owner_counts(db: Database) -> dict[int, int]:
    """Return, per source with any, how many servers added it themselves."""
    rows = db.execute("SELECT source_id, COUNT(*) FROM source_owners GROUP BY source_id").fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def count_for_guild(db: Database, guild_id: int) -> int:
    """Return how many sources a server added itself."""
    return int(db.execute("SELECT COUNT(*) FROM source_owners WHERE guild_id = ?", (guild_id,)).fetchone()[0])


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
            # A URL servers watched privately joins the catalog: shared from now on, under the
            # catalog's name (the servers keep theirs).
            cur = db.execute(
                "UPDATE sources SET name = ?, kind = ?, options = ?, interval_seconds = ?, enabled = 1,"
                " origin = CASE WHEN shared = 0 THEN 'config' ELSE origin END, shared = 1 WHERE url = ?",
                (c.name, c.kind, json.dumps(c.options, sort_keys=True), c.interval_seconds, c.url),
            )
            if cur.rowcount == 0:
                _insert(db, c, now, "config", shared=True)
                added += 1
        for row in db.execute(
            "SELECT id, url FROM sources WHERE origin = 'config' AND enabled = 1"
        ).fetchall():
            if row[1] not in urls:
                if db.execute("SELECT 1 FROM source_owners WHERE source_id = ?", (row[0],)).fetchone():
                    # Servers added it too: it stays theirs, private again.
                    db.execute("UPDATE sources SET origin = 'discord', shared = 0 WHERE id = ?", (row[0],))
                    _refresh_interval(db, row[0])
                else:
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
    """Record many unchanged and failed polls in one transaction: one executemany per kind."""
    by_kind = list(outcomes)
    if len({o.source_id for o in by_kind}) == len(by_kind):  # reorder only when no source repeats
        by_kind.sort(key=lambda o: o.error is not None)
    with db.atomic():
        for failed, run in groupby(by_kind, key=lambda o: o.error is not None):
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
