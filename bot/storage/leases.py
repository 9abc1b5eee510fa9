"""Leases: one process at a time holds a (kind, key) — a channel to deliver to, a chore to run.

A lease is a row of `leases(kind, key, owner, token, until)`. `acquire` inserts it, or takes it
over when it has expired, or renews it when the same owner holds it, in one statement; the
winner gets a fresh token (a takeover always changes the token). Work done under a lease is
recorded only while `holds(token)` is true, checked inside the same transaction as the record,
so a process that lost its lease (it stalled past `until`, another took over) records nothing.

Host slots (`HostSlots`, PostgreSQL only): scale-out workers share each host's request slots
(REGWATCH_HTTP_PER_HOST) as leases of kind 'host', key 'HOST:N', taken by the fetcher before a
request and released after it, each in one statement on a small pool of connections of their
own (not the storage thread's, so a slot is never queued behind a poll's transaction).

Clocks: on PostgreSQL the database's clock decides (`now()`), so processes on several machines
agree whatever their own clocks say. On SQLite — one machine, and in practice one process — the
caller's clock decides (the injected clock, `now=`): the lease times are stored as ISO-8601 UTC
text with microseconds and compared as text.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot.domain.errors import FetchError
from bot.storage.db import is_postgres

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)


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


HOST = "host"  # the lease kind of a shared per-host request slot

# One statement takes a slot: among the host's slots not held now, one at random (processes
# racing for a host rarely pick the same one) is inserted, or taken over when its lease expired.
# Two processes picking the same free slot: the second waits for the first's commit, then finds
# the row held (the DO UPDATE's WHERE is checked again on the committed row) and takes nothing;
# the count of slots that looked free tells it to try again at once rather than wait.
_TAKE_HOST_SLOT = """
WITH free AS (
    SELECT s.n FROM generate_series(0, %(slots)s - 1) AS s(n)
    WHERE NOT EXISTS (
        SELECT 1 FROM leases l WHERE l.kind = 'host' AND l.key = %(host)s || ':' || s.n AND l.until > now()
    )
), pick AS (
    SELECT n FROM free ORDER BY random() LIMIT 1
), taken AS (
    INSERT INTO leases (kind, key, owner, token, until)
    SELECT 'host', %(host)s || ':' || n, %(owner)s, %(token)s, now() + make_interval(secs => %(seconds)s)
    FROM pick
    ON CONFLICT (kind, key) DO UPDATE SET
        owner = EXCLUDED.owner, token = EXCLUDED.token, until = EXCLUDED.until
    WHERE leases.until <= now()
    RETURNING token
)
SELECT (SELECT token FROM taken), (SELECT count(*) FROM free)
"""


class HostSlots:
    """The request slots of each host, shared by every process on one PostgreSQL database.

    At most `slots` leases ('host', 'HOST:0' … 'HOST:slots-1') exist unexpired per host, so at
    most that many requests are in flight to it across all processes that take a slot before
    each request. A slot's lease outlasts the longest request the fetcher allows (its deadline),
    so it never lapses under a running request; a process that dies mid-request leaves its slot
    held until the lease ends. Implements bot.sources.http.SharedHostSlots.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], owner: str) -> None:
        self._pool = pool
        self.owner = owner

    async def take(self, host: str, slots: int, seconds: float) -> str | None:
        """Take a free slot of `host` for `seconds`; return its token, or None when all are held."""
        import psycopg
        import psycopg_pool

        params = {"host": host, "slots": slots, "owner": self.owner, "seconds": float(seconds)}
        try:
            for _ in range(slots):  # again at once only after losing a race for a slot that looked free
                params["token"] = secrets.token_hex(16)
                async with self._pool.connection() as conn:
                    row = await (await conn.execute(_TAKE_HOST_SLOT, params)).fetchone()
                token, free = (row[0], int(row[1])) if row is not None else (None, 0)
                if token is not None:
                    return str(token)
                if free <= 1:
                    return None
            return None
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FetchError(
                f"cannot take a request slot for {host}: the database failed ({reason})"
            ) from None

    async def release(self, token: str) -> None:
        """Give a slot back; on failure it lapses at the end of its lease (logged, never raised)."""
        import psycopg
        import psycopg_pool

        try:
            async with self._pool.connection() as conn:
                await conn.execute("DELETE FROM leases WHERE token = %s", (token,))
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("could not release a host slot (it lapses when its lease ends): %s", exc)


@contextlib.asynccontextmanager
async def host_slots(url: str, owner: str) -> AsyncIterator[HostSlots]:
    """Open the host slots of the PostgreSQL database at `url` for `owner`; close their pool after."""
    from bot.storage import pg

    async with pg.slot_pool(url) as pool:
        yield HostSlots(pool, owner)
