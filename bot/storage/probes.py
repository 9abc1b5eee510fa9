"""Health probes: is the database there and writable (readiness, `regwatch doctor`)."""

from __future__ import annotations

from sqlite_utils import Database


def write_probe(db: Database) -> None:
    """Write to the database without changing anything (a no-op update in a transaction)."""
    with db.atomic():
        db.execute("UPDATE meta SET value = value WHERE key = 'subscriptions_version'")
