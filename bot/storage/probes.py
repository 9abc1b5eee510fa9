"""Health probes: is the database there and writable (readiness, `regwatch doctor`)."""

from __future__ import annotations

from sqlite_utils import Database


def write_probe(db: Database) -> None:
    """Write to the database without changing anything (a no-op update in a transaction)."""
    with db.atomic():
        db.execute("UPDATE meta SET value = value WHERE key = 'subscriptions_version'")


def schema_write_probe(db: Database) -> None:
    """Create and drop a table: the database file and its directory take writes and schema changes."""
    db.execute("CREATE TABLE IF NOT EXISTS _doctor_probe (x)")
    db.execute("DROP TABLE _doctor_probe")
