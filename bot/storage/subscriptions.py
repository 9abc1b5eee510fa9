"""The subscriptions table: who wants alerts for which query, delivered where."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.bulk import gc_paused
from bot.domain.clock import iso, parse_iso
from bot.domain.errors import DuplicateSubscription


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stored subscription."""

    id: int
    name: str | None
    query: str
    target: str
    guild_id: int | None
    created_by: str
    origin: str
    mention_role_id: int | None
    paused: bool
    paused_reason: str | None
    origin_channel_id: int | None = None
    paused_until: datetime | None = None
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        """Return the name people see: the subscription's name, else its id."""
        return self.name or f"#{self.id}"


_COLS = (
    "id, name, query, target, guild_id, created_by, origin, mention_role_id, paused, paused_reason,"
    " origin_channel_id, paused_until, created_at"
)
# Each field's slot is set directly: a restart reads 100,000 subscriptions back, and the frozen
# dataclass's __init__ (a keyword call, one object.__setattr__ per field) was half of that read.
_FIELDS = tuple(f.name for f in fields(Subscription))
if tuple(_COLS.replace(" ", "").split(",")) != _FIELDS:  # a new field must be read too
    raise TypeError(f"Subscription's fields {_FIELDS} differ from the columns read: {_COLS}")
(_id, _name, _query, _target, _guild, _by, _origin, _role, _paused, _reason, _channel, _until, _created) = (
    getattr(Subscription, name).__set__ for name in _FIELDS
)
_new = object.__new__


def _rows(db: Database, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[Subscription]:
    cur = db.execute(f"SELECT {_COLS} FROM subscriptions WHERE {where} ORDER BY id", params)
    # Rows written together share their timestamps (a subscriptions file's 100,000): parse each once.
    times: dict[str | None, datetime | None] = {None: None}

    def when(text: str | None) -> datetime | None:
        found = times.get(text, _UNSEEN_TIME)
        if found is _UNSEEN_TIME:
            found = times[text] = parse_iso(text)
        return found  # type: ignore[return-value]

    with gc_paused():  # 100,000 new objects: each collection on the way would walk them all
        return [_subscription(r, when) for r in cur.fetchall()]


def _subscription(r: Any, when: Any) -> Subscription:
    sub: Subscription = _new(Subscription)
    _id(sub, r[0])
    _name(sub, r[1])
    _query(sub, r[2])
    _target(sub, r[3])
    _guild(sub, r[4])
    _by(sub, r[5])
    _origin(sub, r[6])
    _role(sub, r[7])
    _paused(sub, bool(r[8]))
    _reason(sub, r[9])
    _channel(sub, r[10])
    _until(sub, when(r[11]))
    _created(sub, when(r[12]))
    return sub


_UNSEEN_TIME = object()


def list_subscriptions(
    db: Database, *, guild_id: int | None = None, active_only: bool = False
) -> list[Subscription]:
    """Return subscriptions, optionally of one server only, optionally only unpaused ones."""
    clauses, params = ["TRUE"], []
    if guild_id is not None:
        clauses.append("guild_id = ?")
        params.append(guild_id)
    if active_only:
        clauses.append("paused = 0")
    return _rows(db, " AND ".join(clauses), tuple(params))


def get(db: Database, sub_id: int) -> Subscription | None:
    """Return one subscription by id."""
    found = _rows(db, "id = ?", (sub_id,))
    return found[0] if found else None


def find(db: Database, target: str, query: str) -> Subscription | None:
    """Return the subscription sending this exact query to this target, if there is one."""
    found = _rows(db, "target = ? AND query = ?", (target, query))
    return found[0] if found else None


def add(
    db: Database,
    query: str,
    target: str,
    now: datetime,
    *,
    name: str | None = None,
    guild_id: int | None = None,
    created_by: str = "cli",
    origin: str = "cli",
    mention_role_id: int | None = None,
    origin_channel_id: int | None = None,
) -> Subscription:
    """Store a new subscription (the query must already be validated) and return it.

    Raises DuplicateSubscription when its name is taken (names are unique).
    """
    try:
        with db.atomic():
            cur = db.execute(
                "INSERT INTO subscriptions (name, query, target, guild_id, created_by, created_at, origin,"
                " mention_role_id, origin_channel_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    name,
                    query,
                    target,
                    guild_id,
                    created_by,
                    iso(now),
                    origin,
                    mention_role_id,
                    origin_channel_id,
                ),
            )
            sub_id = int(cur.fetchone()[0])
    except sqlite3.IntegrityError as exc:
        # The one unique column besides the id is the name.
        if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
            raise
        raise DuplicateSubscription(f"a subscription named {name!r} exists already") from None
    sub = get(db, sub_id)
    assert sub is not None
    return sub


def remove(db: Database, sub_id: int, *, guild_id: int | None = None) -> bool:
    """Delete a subscription (only within guild_id when given); True when one was deleted."""
    with db.atomic():
        starter = db.execute(
            "SELECT name FROM subscriptions WHERE id = ? AND origin = 'starter'", (sub_id,)
        ).fetchone()
        if starter is not None and guild_id is None:
            forget_starter(db, str(starter[0]))
        if guild_id is None:
            cur = db.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
        else:
            cur = db.execute("DELETE FROM subscriptions WHERE id = ? AND guild_id = ?", (sub_id, guild_id))
    return cur.rowcount > 0


def set_paused(db: Database, sub_id: int, reason: str | None, until: datetime | None = None) -> bool:
    """Pause a subscription with a reason (retried after `until`), or resume it with None.

    Returns True when it went from active to paused or back, so people are told once.
    """
    row = db.execute("SELECT paused FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
    if row is None:
        return False
    db.execute(
        "UPDATE subscriptions SET paused = ?, paused_reason = ?, paused_until = ? WHERE id = ?",
        (1 if reason else 0, reason, iso(until) if until else None, sub_id),
    )
    return bool(row[0]) != bool(reason)


def sync_file(db: Database, entries: Iterable[tuple[str, str]], now: datetime) -> tuple[int, int]:
    """Make the named console subscriptions match a subscriptions file; return (added, removed).

    Rows that already match the file are not written, so a restart with an unchanged file
    leaves the subscriptions version alone and a running matcher is not rebuilt. Each sync
    records the file's digest with the subscriptions version it left: when both are the same at
    the next start (no subscription changed since), the rows are not even read back.
    """
    # The pairs are made here, with the collector paused: made by the caller, 100,000 of them set
    # off a collection walking every object of a start (0.13 s).
    with gc_paused():
        pairs = list(entries)
        key = _FILE_DIGEST + hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
        synced, current = db.execute(
            "SELECT (SELECT value FROM meta WHERE key = ?),"
            " (SELECT value FROM meta WHERE key = 'subscriptions_version')",
            (key,),
        ).fetchone()
        if synced is not None and synced == current:
            return 0, 0
        return _sync_file(db, pairs, now, key)


# Key prefix of the last synced file's digest in meta (its value: the version the sync left).
_FILE_DIGEST = "subscriptions file:"  # no LIKE wildcard (_ or %) in it


def _sync_file(db: Database, entries: list[tuple[str, str]], now: datetime, key: str) -> tuple[int, int]:
    wanted = dict(entries)  # name -> query; a repeated name keeps its last query
    # Names are unique (the column is): one stored row per name.
    stored = {
        name: (sub_id, query, target)
        for sub_id, name, query, target in db.execute(
            "SELECT id, name, query, target FROM subscriptions WHERE origin = 'file'"
        ).fetchall()
    }
    changed: list[tuple[str, int]] = []
    new: dict[str, str] = {}
    for name, query in wanted.items():
        row = stored.get(name)
        if row is None:
            new[name] = query
        elif row[1] != query or row[2] != "console":
            changed.append((query, row[0]))
    gone = [(row[0],) for name, row in stored.items() if name not in wanted]
    with db.atomic():
        db.conn.executemany("UPDATE subscriptions SET query = ?, target = 'console' WHERE id = ?", changed)
        db.conn.executemany(
            "INSERT INTO subscriptions (name, query, target, created_by, created_at, origin)"
            " VALUES (?, ?, 'console', 'subscriptions file', ?, 'file')",
            [(name, query, iso(now)) for name, query in new.items()],
        )
        db.conn.executemany("DELETE FROM subscriptions WHERE id = ?", gone)
        db.execute("DELETE FROM meta WHERE key LIKE ?", (_FILE_DIGEST + "%",))
        db.execute(
            "INSERT INTO meta (key, value) SELECT ?, value FROM meta WHERE key = 'subscriptions_version'",
            (key,),
        )
    return len(new), len(gone)


def version(db: Database) -> int:
    """Return a counter that changes whenever any subscription changes."""
    row = db.execute("SELECT value FROM meta WHERE key = 'subscriptions_version'").fetchone()
    return int(row[0]) if row else 0


def count_own(db: Database) -> int:
    """Count the user's own subscriptions (CLI and Discord), not the file's or the starters."""
    row = db.execute("SELECT COUNT(*) FROM subscriptions WHERE origin NOT IN ('file', 'starter')").fetchone()
    return int(row[0])


_DISMISSED = "starter_dismissed:"


def sync_starters(
    db: Database, entries: list[tuple[str, str]], now: datetime, *, wanted: bool
) -> tuple[int, int]:
    """Add the starter subscriptions (except removed ones) when wanted, else drop them; (added, removed).

    A starter removed with `subs remove` is remembered and never added again.
    """
    added = removed = 0
    with db.atomic():
        if not wanted:
            removed = db.execute("DELETE FROM subscriptions WHERE origin = 'starter'").rowcount
            return 0, removed
        dismissed = {
            str(r[0])[len(_DISMISSED) :]
            for r in db.execute("SELECT key FROM meta WHERE key LIKE ?", (_DISMISSED + "%",)).fetchall()
        }
        for name, query in entries:
            if name in dismissed:
                continue
            cur = db.execute(
                "UPDATE subscriptions SET query = ? WHERE name = ? AND origin = 'starter'", (query, name)
            )
            taken = db.execute("SELECT 1 FROM subscriptions WHERE name = ?", (name,)).fetchone()
            if cur.rowcount == 0 and taken is None:
                db.execute(
                    "INSERT INTO subscriptions (name, query, target, created_by, created_at, origin)"
                    " VALUES (?, ?, 'console', 'starter subscriptions', ?, 'starter')",
                    (name, query, iso(now)),
                )
                added += 1
    return added, removed


def forget_starter(db: Database, name: str) -> None:
    """Remember that a starter subscription was removed, so it is never added again."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_DISMISSED + name,),
    )


_UNSEEN = "pause_unseen:"


def mark_pause_unseen(db: Database, sub_id: int, unseen: bool) -> None:
    """Record (or clear) that a server's admins have not been told about a subscription's pause."""
    if unseen:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"{_UNSEEN}{sub_id}",),
        )
    else:
        db.execute("DELETE FROM meta WHERE key = ?", (f"{_UNSEEN}{sub_id}",))


def take_unseen_pauses(db: Database, guild_id: int) -> list[Subscription]:
    """Return the paused subscriptions of a server not yet announced, and mark them announced."""
    with db.atomic():
        keys = db.execute("SELECT key FROM meta WHERE key LIKE ?", (_UNSEEN + "%",)).fetchall()
        ids = [int(str(k[0])[len(_UNSEEN) :]) for k in keys]
        found = [s for s in (get(db, i) for i in ids) if s is not None and s.guild_id == guild_id]
        for sub in found:
            mark_pause_unseen(db, sub.id, False)
        return [s for s in found if s.paused]


def edit(
    db: Database,
    sub_id: int,
    guild_id: int | None,
    *,
    query: str | None = None,
    target: str | None = None,
    paused_reason: str | None = None,
    resume: bool = False,
) -> Subscription | None:
    """Change a server's subscription in place (query, target, paused by hand); None if not its own.

    guild_id None: a subscription of no server (console, or made with the CLI).
    """
    with db.atomic():
        sub = get(db, sub_id)
        if sub is None or sub.guild_id != guild_id:
            return None
        if query is not None or target is not None:
            db.execute(
                "UPDATE subscriptions SET query = ?, target = ? WHERE id = ?",
                (query or sub.query, target or sub.target, sub_id),
            )
        if paused_reason is not None:
            set_paused(db, sub_id, paused_reason)
        elif resume and sub.paused:
            set_paused(db, sub_id, None)
            mark_pause_unseen(db, sub_id, False)
    return get(db, sub_id)
