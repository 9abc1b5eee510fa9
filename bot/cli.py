"""The `regwatch` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot import __version__
from bot.domain.errors import ConfigError, FetchError, ParseError, QueryError, RegwatchError, UserError
from bot.domain.safetext import json_line, terminal
from bot.logs import redact, setup_logging
from bot.services.scope import CONSOLE_PREVIEW_MAX_ITEMS
from bot.settings import Settings, load_settings
from bot.terminal import guarded
from bot.text_tables import format_table

if TYPE_CHECKING:
    from bot.sources.http import FetchResult

# Items `subs preview` reads at most: the console's limit (bot/services/scope.py).
PREVIEW_CLI_MAX_ITEMS = CONSOLE_PREVIEW_MAX_ITEMS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regwatch", description="Regulatory alerts for the vendors you depend on."
    )
    p.add_argument("--version", action="version", version=f"regwatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service (console alerts without a Discord token)")
    run.add_argument("--once", action="store_true", help="poll every enabled source once, deliver, exit")

    worker = sub.add_parser(
        "worker", help="one of several workers on one database: poll, deliver, chores (Discord REST only)"
    )
    worker.add_argument(
        "--once", action="store_true", help="poll the sources this worker claims, deliver, exit"
    )

    sub.add_parser("gateway", help="the Discord client answering slash commands; no polling, no delivery")

    match = sub.add_parser("match", help="match feeds against a subscriptions file, offline")
    match.add_argument("--subscriptions", required=True, type=Path, metavar="FILE")
    match.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    match.add_argument("feeds", nargs="+", metavar="FEED", help="a file path or an http(s) URL")

    poll = sub.add_parser("poll", help="poll sources now")
    poll.add_argument("--source", type=int, metavar="ID")
    poll.add_argument("--dry-run", action="store_true", help="store nothing; print what would alert")

    src = sub.add_parser("sources", help="manage sources").add_subparsers(dest="action", required=True)
    src.add_parser("list", help="list sources with their health")
    add = src.add_parser("add", help="add a feed URL")
    add.add_argument("url")
    add.add_argument("--name")
    add.add_argument("--interval", type=int, metavar="SECONDS")
    add.add_argument("--no-check", action="store_true", help="add without fetching it first")
    src.add_parser("remove", help="remove a source").add_argument("id", type=int)
    check = src.add_parser(
        "check", help="fetch sources now (all enabled, or one) and report, storing nothing"
    )
    check.add_argument("id", type=int, nargs="?")

    subs = sub.add_parser("subs", help="manage subscriptions").add_subparsers(dest="action", required=True)
    subs.add_parser("list", help="list subscriptions")
    sadd = subs.add_parser("add", help="add a subscription")
    sadd.add_argument("query")
    sadd.add_argument(
        "--target", help="console or discord:CHANNEL_ID (default: console when no Discord token is set)"
    )
    sadd.add_argument("--name")
    subs.add_parser("remove", help="remove a subscription").add_argument("id", type=int)
    sedit = subs.add_parser("edit", help="change a subscription in place (as /watch edit)")
    sedit.add_argument("id", type=int)
    sedit.add_argument("--query", help="a new query")
    sedit.add_argument("--target", help="console or discord:CHANNEL_ID")
    sedit.add_argument(
        "--schedule", nargs="+", metavar="WORD", help="instant, hourly :MM, daily HH:MM, weekly HH:MM DAY"
    )
    pause = sedit.add_mutually_exclusive_group()
    pause.add_argument("--pause", dest="paused", action="store_const", const=True, help="hold its alerts")
    pause.add_argument("--resume", dest="paused", action="store_const", const=False, help="post them again")
    spreview = subs.add_parser("preview", help="what a query would have matched in stored items")
    spreview.add_argument("query")
    spreview.add_argument("--days", type=int, default=30, help="how many days back (default 30)")
    spreview.add_argument("--top", type=int, default=10, help="how many matches to list (default 10)")

    why = sub.add_parser("why", help="why an item did or did not alert")
    why.add_argument("url", help="the item's link")
    why.add_argument("--target", help="only subscriptions of this target (console or discord:CHANNEL_ID)")

    _schedule_parsers(sub, subs)
    _alerts_parsers(sub)

    sub.add_parser("doctor", help="check settings, database, token and sources")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="action", required=True)
    backup = db.add_parser("backup", help="copy the database to PATH, safely while the service runs")
    backup.add_argument("path", type=Path, metavar="PATH")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    to_pg = db.add_parser(
        "migrate-to-postgres",
        help="copy the SQLite database into an empty PostgreSQL database, checked by counts",
    )
    to_pg.add_argument("url", metavar="URL", help="postgresql://... of an empty database")
    return p


def _schedule_parsers(sub: Any, subs: Any) -> None:
    from bot.delivery_cli import add_parsers

    add_parsers(sub, subs)


def _alerts_parsers(sub: Any) -> None:
    from bot.alerts_cli import add_parsers

    add_parsers(sub)


# Exit status of a command whose reader went away (`regwatch ... | head`), as for SIGPIPE.
EXIT_BROKEN_PIPE = 141


def with_private_hint(message: str, settings: Settings | None) -> str:
    """Add how to allow it to a refusal of a loopback or private address (a feed on this machine)."""
    refused = message.startswith("refused:") or ": refused:" in message
    private = any(
        word in message for word in ("loopback", "private", "link-local", "unique-local", "address")
    )
    if refused and private and settings is not None and not settings.allow_private_networks:
        return (
            f"{message}. To fetch feeds on this machine or your own network, set"
            " REGWATCH_ALLOW_PRIVATE_NETWORKS=true (keep it false on a shared bot)"
        )
    return message


def _quiet_broken_pipe() -> int:
    # The reader closed the pipe: stop quietly, and keep Python's exit flush from complaining.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    # Whatever a command prints passes the terminal sanitizer (bot/terminal.py).
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = guarded(out), guarded(err)
    try:
        return _main(argv)
    except BrokenPipeError:
        sys.stdout, sys.stderr = out, err
        return _quiet_broken_pipe()
    finally:
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    secrets: tuple[str, ...] = ()
    settings: Settings | None = None
    try:
        settings = load_settings()
        if settings.discord_token is not None:
            secrets = (settings.discord_token.get_secret_value(),)
        setup_logging(settings.log_level, settings.log_format, secrets)
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(f"regwatch: {terminal(redact(str(exc), secrets))}", file=sys.stderr)
        return 2
    except UserError as exc:
        # A request that cannot be done (no such id, a duplicate, a value out of range): usage, exit 2.
        print(f"regwatch: {terminal(str(exc))}", file=sys.stderr)
        return 2
    except QueryError as exc:
        print(f"regwatch: invalid query {terminal(exc)}", file=sys.stderr)
        return 2
    except RegwatchError as exc:
        print(
            f"regwatch: {terminal(with_private_hint(redact(str(exc), secrets), settings))}", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from bot.app import run_service
        from bot.container import database_volume_problem

        # PostgreSQL keeps no file here: only a SQLite file can be lost with the container.
        problem = None if settings.database_url else database_volume_problem(settings.database_path)
        if problem is not None and problem.fatal:
            raise ConfigError(problem.message)
        return asyncio.run(run_service(settings, once=args.once))
    if args.command == "worker":
        from bot.roles import run_worker

        return asyncio.run(run_worker(settings, once=args.once))
    if args.command == "gateway":
        from bot.roles import run_gateway

        return asyncio.run(run_gateway(settings))
    if args.command == "match":
        return asyncio.run(_match(settings, args.subscriptions, args.feeds, args.format))
    if args.command == "poll":
        return asyncio.run(_poll(settings, args.source, args.dry_run))
    if args.command == "sources":
        from bot.manage_cli import sources

        return sources(settings, args)
    if args.command in ("digest", "settings") or getattr(args, "action", None) in ("schedule", "mention"):
        from bot.delivery_cli import dispatch

        return dispatch(settings, args)
    if args.command == "subs":
        from bot.manage_cli import subs

        return subs(settings, args)
    if args.command == "alerts":
        from bot.alerts_cli import dispatch as alerts

        return alerts(settings, args)
    if args.command == "why":
        from bot.manage_cli import why

        return why(settings, args.url, args.target)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return asyncio.run(run_doctor(settings))
    if args.command == "db":
        return _db(settings, args)
    raise AssertionError(args.command)


def _db(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "migrate-to-postgres":
        from bot.storage import migrate_pg

        counts = migrate_pg.migrate(settings.database_path, args.url)
        print(migrate_pg.render(counts))
        return 0 if all(c.ok for c in counts) else 1
    from bot.storage.backup import backup

    if settings.database_url is not None:
        raise ConfigError("db backup copies the SQLite file; with REGWATCH_DATABASE_URL back up with pg_dump")

    report = backup(settings.database_path, args.path, force=args.force)
    print(
        f"backed up {settings.database_path} to {report.path}: {_size(report.size)},"
        f" schema version {report.schema_version}, {report.sources} sources, {report.items} items,"
        f" {report.alerts} alerts; integrity check ok."
    )
    return 0


async def _match(settings: Settings, subs_file: Path, feeds: list[str], fmt: str) -> int:
    from bot.config_files import load_subscriptions
    from bot.domain.vendors import VendorCatalog

    # Imported before the subscriptions are loaded: imports allocate a lot, and each garbage
    # collection after loading would walk every subscription (1 s of 4 at 100,000).
    from bot.services.offline import OfflineMatcher, read_document

    async def fetch(url: str) -> FetchResult:
        from bot.app import make_fetcher  # the whole service: imported only when fetching

        async with make_fetcher(settings) as fetcher:
            return await fetcher.fetch(url)

    matcher = OfflineMatcher.build(load_subscriptions(subs_file, VendorCatalog.load_default()))
    status = 0
    rows: list[dict[str, Any]] = []
    for feed in feeds:
        try:
            rows.extend(matcher.match(await read_document(feed, fetch), feed))
        except (FetchError, ParseError) as exc:
            print(
                f"regwatch: {terminal(feed)}: {terminal(with_private_hint(str(exc), settings))}",
                file=sys.stderr,
            )
            status = 1
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json_line(row) + "\n")
    else:
        table = [
            (r["subscription"], r["published"] or "", r["title"], ", ".join(r["terms"]), r["link"])
            for r in rows
        ]
        print(format_table(("subscription", "published", "title", "terms", "link"), table))
        print(f"\n{len(rows)} matches")
    sys.stdout.flush()
    return status


async def _poll(settings: Settings, source_id: int | None, dry_run: bool) -> int:
    from bot.app import build_services, summarize

    async with build_services(settings) as services:
        if source_id is not None and await services.adb.call(_source_exists, source_id) is False:
            raise ConfigError(f"no source with id {source_id}; `regwatch sources list` shows them")
        results = await services.scheduler.poll_all(source_id, dry_run=dry_run)
        if dry_run:
            for r in results:
                if r.error:
                    print(
                        f"source {r.source_id} ({terminal(r.source_name, 100)}): failed: {terminal(r.error)}"
                    )
                for w in r.would_alert:
                    terms = terminal(", ".join(w.terms), 200)
                    print(
                        f"would alert [{terminal(w.subscription, 60)} → {terminal(w.target)}]"
                        f" {terminal(w.title, 300)} {terminal(w.link or '', 500)} ({terms})"
                    )
            print(
                f"dry run: {sum(len(r.would_alert) for r in results)} alerts would be sent; nothing stored."
            )
            return 1 if any(r.status == "failed" for r in results) else 0
        drained = await services.dispatcher.drain_through_caps()
        from bot.app import _pending_count

        print(summarize(results, drained.sent, await services.adb.call(_pending_count)))
        return 1 if results and all(r.status == "failed" for r in results) else 0


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def _source_exists(db: Database, source_id: int) -> bool:
    from bot.storage import sources

    return sources.get(db, source_id) is not None
