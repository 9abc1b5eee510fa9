"""CLI for the audit trail: `regwatch alerts export --since DATE --format csv|json`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.errors import ConfigError

if TYPE_CHECKING:
    from bot.settings import Settings


def add_parsers(sub: Any) -> None:
    """Add `alerts export` to the `regwatch` parser."""
    alerts = sub.add_parser("alerts", help="the audit trail of alerts").add_subparsers(
        dest="action", required=True
    )
    export = alerts.add_parser(
        "export", help="alerts, acknowledgements, mutes and subscription changes as CSV or JSON"
    )
    export.add_argument("--since", type=_date, metavar="DATE", help="YYYY-MM-DD (UTC); default: everything")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--guild", type=int, metavar="ID", help="only this Discord server")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here instead of standard output")


def _date(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Run `alerts export`."""
    # Imported here: every command builds this parser, and these pull in the services.
    from bot.services.triage import to_csv, to_json
    from bot.storage.db import connect
    from bot.storage.triage import export_rows

    db = connect(settings.database_location)
    try:
        rows = export_rows(db, args.since, guild_id=args.guild)
    finally:
        db.conn.close()
    text = to_csv(rows) if args.format == "csv" else to_json(rows)
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {len(rows)} events to {args.output}", file=sys.stderr)
    return 0
