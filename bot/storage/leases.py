"""Leases: one process at a time holds a (kind, key) — a channel to deliver to, a chore to run.

A lease is a row of `leases(kind, key, owner, token, until)`. `acquire` inserts it, or takes it
over when it has expired, or renews it when the same owner holds it, in one statement; the
winner gets a fresh token (a takeover always changes the token). Work done under a lease is
recorded only while `holds(token)` is true, checked inside the same transaction as the record,
so a process that lost its lease (it stalled past `until`, another took over) records nothing.

Clocks: on PostgreSQL the database's clock decides (`now()`), so processes on several machines
agree whatever their own clocks say. On SQLite — one machine, and in practice one process — the
caller's clock decides (the injected clock, `now=`): the lease times are stored as ISO-8601 UTC
text with microseconds and compared as text.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from bot.storage.db import is_postgres


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as stored."""

    kind: str
    key: str
    owner: str
    token: str
    until: datetime


def new_owner(role: str = "process") -> str:
    """Return a name for this process as a lease owner: its role and a random part."""
    return f"{role}-{secrets.token_hex(6)}"


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def acquire(db: Database, kind: str, key: str, owner: str, seconds: float, *, now: datetime) -> str | None:
    """Take or renew the lease on (kind, key) for `seconds`; return its token, or None if another holds it.

    Atomic: a new lease is inserted; an expired one (whoever held it) is taken over with a new
    token; one this owner holds is renewed and keeps its token. `now` is used on SQLite only.
    """
    token = secrets.token_hex(16)
    if is_postgres(db):
        row = db.execute(
            "INSERT INTO leases (kind, key, owner, token, until)"
            " VALUES (?, ?, ?, ?, now() + make_interval(secs => ?))"
            " ON CONFLICT (kind, key) DO UPDATE SET"
            " owner = EXCLUDED.owner, until = EXCLUDED.until,"
            " token = CASE WHEN leases.owner = EXCLUDED.owner AND leases.until > now()"
            " THEN leases.token ELSE EXCLUDED.token END"
            " WHERE leases.until <= now() OR leases.owner = EXCLUDED.owner"
            " RETURNING token",
            (kind, key, owner, token, float(seconds)),
        ).fetchone()
    else:
        at, until = _stamp(now), _stamp(now + timedelta(seconds=seconds))
        row = db.execute(
            "INSERT INTO leases (kind, key, owner, token, until) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE SET"
            " owner = excluded.owner, until = excluded.until,"
            " token = CASE WHEN leases.owner = excluded.owner AND leases.until > ?"
            " THEN leases.token ELSE excluded.token END"
            " WHERE leases.until <= ? OR leases.owner = excluded.owner"
            " RETURNING token",
            (kind, key, owner, token, until, at, at),
        ).fetchone()
    return str(row[0]) if row is not None else None


def renew(db: Database, token: str, seconds: float, *, now: datetime) -> bool:
    """Extend a lease still held under `token` by `seconds` from now; False when it was lost."""
    if is_postgres(db):
        cur = db.execute(
            "UPDATE leases SET until = now() + make_interval(secs => ?) WHERE token = ? AND until > now()",
            (float(seconds), token),
        )
    else:
        cur = db.execute(
            "UPDATE leases SET until = ? WHERE token = ? AND until > ?",
            (_stamp(now + timedelta(seconds=seconds)), token, _stamp(now)),
        )
    return bool(cur.rowcount)


def release(db: Database, token: str) -> bool:
    """Give a lease up (delete it) if it is still held under `token`; tell whether it was."""
    return bool(db.execute("DELETE FROM leases WHERE token = ?", (token,)).rowcount)


def release_owner(db: Database, owner: str) -> int:
    """Give up every lease an owner holds (a process stopping cleanly); return how many."""
    return int(db.execute("DELETE FROM leases WHERE owner = ?", (owner,)).rowcount)


def purge_expired(db: Database, older_than: float, *, now: datetime) -> int:
    """Delete leases expired more than `older_than` seconds ago (left by dead processes); return how many.

    Nobody holds such a lease: its token records nothing (`holds` is false), and taking it over
    would insert it anew. `now` is used on SQLite only.
    """
    if is_postgres(db):
        cur = db.execute(
            "DELETE FROM leases WHERE until < now() - make_interval(secs => ?)", (float(older_than),)
        )
    else:
        cur = db.execute("DELETE FROM leases WHERE until < ?", (_stamp(now - timedelta(seconds=older_than)),))
    return int(cur.rowcount)


def holds(db: Database, token: str, *, now: datetime) -> bool:
    """Tell whether the lease under `token` is still held (not expired, not taken over).

    Inside a transaction on PostgreSQL the row is locked (FOR SHARE) until commit: a takeover
    waits, so what is recorded in that transaction was recorded under the lease.
    """
    if is_postgres(db):
        row = db.execute(
            "SELECT 1 FROM leases WHERE token = ? AND until > now() FOR SHARE", (token,)
        ).fetchone()
    else:
        row = db.execute(
            "SELECT 1 FROM leases WHERE token = ? AND until > ?", (token, _stamp(now))
        ).fetchone()
    return row is not None


def held(db: Database, kind: str | None = None) -> list[Lease]:
    """Return the leases stored (expired ones too), of one kind or all."""
    where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
    rows = db.execute(
        f"SELECT kind, key, owner, token, until FROM leases {where} ORDER BY kind, key", params
    ).fetchall()
    return [Lease(str(r[0]), str(r[1]), str(r[2]), str(r[3]), _moment(r[4])) for r in rows]


# pg_advisory_xact_lock keys of regwatch's own (the migration lock is pg_schema.MIGRATION_LOCK_KEY).
_EXCLUSIVE_KEYS = {"configuration": 0x72657777_0002}


@contextlib.contextmanager
def exclusive(db: Database, name: str) -> Iterator[None]:
    """Run the block in one transaction that no other process runs at the same time (on PostgreSQL).

    For work every process does at start-up and that must not interleave, such as loading the
    configured sources: the second process waits, then finds the work done. SQLite serialises
    writers itself; there the block runs as it is.
    """
    if not is_postgres(db):
        yield
        return
    with db.atomic():
        db.execute("SELECT pg_advisory_xact_lock(?)", (_EXCLUSIVE_KEYS[name],))
        yield
