"""The `regwatch` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot import __version__
from bot.domain.errors import ConfigError, FetchError, ParseError, QueryError, RegwatchError, UserError
from bot.domain.models import MatchDoc, ParsedFeed
from bot.domain.safetext import UNSAFE, json_line, terminal
from bot.logs import redact, setup_logging
from bot.services.scope import CONSOLE_PREVIEW_MAX_ITEMS
from bot.settings import Settings, load_settings
from bot.tables import format_table
from bot.terminal import guarded

if TYPE_CHECKING:
    from bot.services.console import ConsoleServices

# Items `subs preview` reads at most: the console's limit (bot/services/scope.py).
PREVIEW_CLI_MAX_ITEMS = CONSOLE_PREVIEW_MAX_ITEMS

TARGET = re.compile(r"^(console|discord:\d{5,25})$")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regwatch", description="Regulatory alerts for the vendors you depend on."
    )
    p.add_argument("--version", action="version", version=f"regwatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service (console alerts without a Discord token)")
    run.add_argument("--once", action="store_true", help="poll every enabled source once, deliver, exit")

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
    return p


def _schedule_parsers(sub: Any, subs: Any) -> None:
    from bot.schedule_cli import add_parsers

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

        problem = database_volume_problem(settings.database_path)
        if problem is not None and problem.fatal:
            raise ConfigError(problem.message)
        return asyncio.run(run_service(settings, once=args.once))
    if args.command == "match":
        return asyncio.run(_match(settings, args.subscriptions, args.feeds, args.format))
    if args.command == "poll":
        return asyncio.run(_poll(settings, args.source, args.dry_run))
    if args.command == "sources":
        return _sources(settings, args)
    if args.command in ("digest", "settings") or getattr(args, "action", None) in ("schedule", "mention"):
        from bot.schedule_cli import dispatch

        return dispatch(settings, args)
    if args.command == "subs":
        return _subs(settings, args)
    if args.command == "alerts":
        from bot.alerts_cli import dispatch as alerts

        return alerts(settings, args)
    if args.command == "why":
        return _why(settings, args.url, args.target)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return asyncio.run(run_doctor(settings))
    if args.command == "db":
        return _db(settings, args)
    raise AssertionError(args.command)


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.backup import backup

    report = backup(settings.database_path, args.path, force=args.force)
    print(
        f"backed up {settings.database_path} to {report.path}: {_size(report.size)},"
        f" schema version {report.schema_version}, {report.sources} sources, {report.items} items,"
        f" {report.alerts} alerts; integrity check ok."
    )
    return 0


async def _read_feed(settings: Settings, feed: str) -> tuple[ParsedFeed, str]:
    from bot.sources.adapters import parse_any

    if feed.startswith(("http://", "https://")):
        from bot.app import make_fetcher  # the whole service: imported only when fetching

        async with make_fetcher(settings) as fetcher:
            fetched = await fetcher.fetch(feed)
        parsed = await asyncio.to_thread(parse_any, fetched.body, content_type=fetched.content_type, url=feed)
        return parsed, feed
    try:
        body = await asyncio.to_thread(Path(feed).read_bytes)
    except OSError as exc:
        raise FetchError(f"cannot read {feed}: {exc.strerror}") from None
    return await asyncio.to_thread(parse_any, body, url=feed), feed


async def _match(settings: Settings, subs_file: Path, feeds: list[str], fmt: str) -> int:
    from bot.config_files import load_subscriptions
    from bot.domain.explain import classify_verdict
    from bot.domain.matcher import Matcher
    from bot.domain.semantics import source_context, source_field
    from bot.domain.vendors import VendorCatalog

    # Imported before the subscriptions are loaded: imports allocate a lot, and each garbage
    # collection after loading would walk every subscription (1 s of 4 at 100,000).
    from bot.sources import adapters  # noqa: F401

    vendors = VendorCatalog.load_default()
    named = load_subscriptions(subs_file, vendors)
    matcher = Matcher((i, entry.parsed) for i, entry in enumerate(named))
    gc.freeze()  # built once and kept to the end: later collections need not walk it again
    status = 0
    rows: list[dict[str, Any]] = []
    for feed in feeds:
        try:
            parsed, origin = await _read_feed(settings, feed)
        except (FetchError, ParseError) as exc:
            print(
                f"regwatch: {terminal(feed)}: {terminal(with_private_hint(str(exc), settings))}",
                file=sys.stderr,
            )
            status = 1
            continue
        source = parsed.title or origin
        for entry in parsed.entries:
            context = source_context(None, page_title=entry.page_title, heading=entry.heading)
            action = classify_verdict(entry.title, entry.text, context).action
            where = source_field(
                source, None if entry.page_title == source else entry.page_title, entry.heading
            )
            doc = MatchDoc(title=entry.title, summary=entry.text, source=where, action=action)
            for m in matcher.match(doc):
                rows.append(
                    {
                        "subscription": named[m.subscription_id].name,
                        "title": entry.title,
                        "link": entry.link,
                        "published": entry.published.isoformat() if entry.published else None,
                        "source": source,
                        "terms": list(m.terms),
                        "action": doc.action,
                    }
                )
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
        drained = await services.dispatcher.drain()
        from bot.app import _pending_count

        print(summarize(results, drained.sent, await services.adb.call(_pending_count)))
        return 1 if results and all(r.status == "failed" for r in results) else 0


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def _source_exists(db: Database, source_id: int) -> bool:
    from bot.storage import sources

    return sources.get(db, source_id) is not None


def _open(settings: Settings) -> Database:
    from bot.app import open_database

    return open_database(settings)


def run_console(
    settings: Settings, use: Callable[[ConsoleServices], Awaitable[int]], *, fetch: bool = False
) -> int:
    """Run one use of the console's services (with the HTTP client when `fetch`); return its exit code."""
    from bot.domain.vendors import VendorCatalog
    from bot.services.console import console_services
    from bot.services.scope import console_limits

    limits = console_limits(
        allow_private=settings.allow_private_networks, max_item_age_hours=settings.max_item_age_hours
    )

    async def run() -> int:
        db, vendors = _open(settings), VendorCatalog.load_default()
        if not fetch:
            async with console_services(db, vendors, limits) as kit:
                return await use(kit)
        from bot.app import make_fetcher  # the whole service: imported only when fetching

        async with (
            make_fetcher(settings) as fetcher,
            console_services(db, vendors, limits, fetcher=fetcher) as kit,
        ):
            return await use(kit)

    return asyncio.run(run())


def _sources(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        return run_console(settings, _list_sources)
    if args.action == "add":

        async def add(kit: ConsoleServices) -> int:
            added = await kit.sources.add(
                kit.scope, args.url, args.name, args.interval, check=not args.no_check
            )
            if added.checked is not None:
                print(f"checked: {added.detail(upper=False)}")
            print(
                f"source {added.source.id} ({terminal(added.source.name, 100)}) will be polled;"
                " its first poll records items without alerting."
            )
            return 0

        return run_console(settings, add, fetch=not args.no_check)
    if args.action == "remove":

        async def remove(kit: ConsoleServices) -> int:
            await kit.sources.remove(kit.scope, args.id)
            print(f"removed source {args.id}")
            return 0

        return run_console(settings, remove)
    if args.action == "check":
        return _check_sources(settings, args.id)
    raise AssertionError(args.action)


async def _list_sources(kit: ConsoleServices) -> int:
    owned = await kit.sources.owner_counts()
    rows = []
    for s in await kit.sources.visible(kit.scope):
        servers = owned.get(s.id, 0)
        # Who sees its items: everyone (catalog, command line), or only the servers that added it.
        seen_by = "everyone" if s.shared else f"{servers} server{'' if servers == 1 else 's'}"
        last_ok = s.last_ok_at.strftime("%Y-%m-%d %H:%M") if s.last_ok_at else "never"
        rows.append(
            (s.id, s.name, s.kind, seen_by, s.state, s.item_count, last_ok, s.last_error or "", s.url)
        )
    headers = ("id", "name", "kind", "seen by", "health", "items", "last ok (UTC)", "last error", "url")
    print(format_table(headers, rows))
    return 0


def _check_sources(settings: Settings, source_id: int | None) -> int:
    from bot.app import sync_configuration
    from bot.doctor import SOURCE_CHECK_HEADERS, probe_sources
    from bot.domain.vendors import VendorCatalog
    from bot.storage import sources

    db = _open(settings)
    if source_id is None:
        sync_configuration(db, settings, VendorCatalog.load_default())
        targets = sources.list_sources(db, enabled_only=True)
    else:
        found = sources.get(db, source_id)
        if found is None:
            raise ConfigError(f"no source with id {source_id}")
        targets = [found]
    checked = asyncio.run(probe_sources(settings, targets))
    print(format_table(SOURCE_CHECK_HEADERS, checked, max_width=70))
    failed = sum(1 for r in checked if r[3] == "FAIL")
    print(f"\n{len(checked)} sources checked, {failed} failed.")
    return 1 if failed else 0


def _why(settings: Settings, url: str, target: str | None) -> int:
    async def why(kit: ConsoleServices) -> int:
        explanation = await kit.subscriptions.why(kit.scope, url, target=target, show=terminal)
        print("\n".join(explanation.lines))
        return 0 if explanation.found else 1

    return run_console(settings, why)


def _preview(settings: Settings, query_text: str, days: int, top: int) -> int:
    import time

    async def preview(kit: ConsoleServices) -> int:
        started = time.perf_counter()
        try:
            result = await kit.subscriptions.preview(kit.scope, query_text, days, limit=top)
        except QueryError as exc:
            _show_query_error(query_text, exc)
            return 2
        took = time.perf_counter() - started
        for warning in result.notes:
            print(f"note: {terminal(warning)}")
        print(
            f"{result.total} matches among {result.scanned} items stored in the last {days} days"
            f" ({took:.2f} s)."
        )
        if result.per_day:
            print(format_table(("day", "matches"), result.per_day))
        if result.top:
            rows = [
                (
                    (it.published or it.fetched_at).strftime("%Y-%m-%d"),
                    it.source_name,
                    it.title,
                    ", ".join(terms),
                    it.link or "",
                )
                for it, terms in result.top
            ]
            print(format_table(("day", "source", "title", "terms", "link"), rows, max_width=70))
        return 0

    return run_console(settings, preview)


def _show_query_error(query: str, exc: QueryError) -> None:
    print(f"regwatch: invalid query: {terminal(exc.reason)}", file=sys.stderr)
    # Unsafe characters become spaces one for one, so the caret still points at the right place.
    print(f"  {UNSAFE.sub(' ', query)}", file=sys.stderr)
    print(f"  {' ' * exc.position}^ (position {exc.position + 1})", file=sys.stderr)


def _subs(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        return run_console(settings, _list_subs)
    if args.action == "add":
        if args.target is None:
            if settings.discord_token is not None:
                raise ConfigError(
                    "--target is required when a Discord token is set: discord:CHANNEL_ID or console"
                )
            args.target = "console"
        if not TARGET.match(args.target):
            raise ConfigError(f"--target must be 'console' or 'discord:CHANNEL_ID', not {args.target!r}")
        if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", args.name):
            raise ConfigError("--name must be 1-64 letters, digits, - or _")

        async def add(kit: ConsoleServices) -> int:
            try:
                sub, warnings = await kit.subscriptions.add(
                    kit.scope, args.query, args.target, name=args.name
                )
            except QueryError as exc:
                _show_query_error(args.query, exc)
                return 2
            for warning in warnings:
                print(f"note: {terminal(warning)}")
            print(f"subscription {sub.id} added: {terminal(sub.query)} → {sub.target}")
            return 0

        return run_console(settings, add)
    if args.action == "preview":
        return _preview(settings, args.query, args.days, args.top)
    if args.action == "remove":

        async def remove(kit: ConsoleServices) -> int:
            await kit.subscriptions.remove(kit.scope, args.id)
            print(f"removed subscription {args.id}")
            return 0

        return run_console(settings, remove)
    raise AssertionError(args.action)


async def _list_subs(kit: ConsoleServices) -> int:
    digests = await kit.schedules.described(kit.scope)
    rows = [
        (
            s.id,
            s.name or "",
            s.target,
            s.origin,
            "paused: " + (s.paused_reason or "") if s.paused else "active",
            digests.get(s.id, "instant"),
            s.query,
        )
        for s in await kit.subscriptions.list(kit.scope)
    ]
    print(format_table(("id", "name", "target", "origin", "state", "schedule", "query"), rows, max_width=80))
    return 0
