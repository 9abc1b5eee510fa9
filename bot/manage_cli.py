"""CLI for sources, subscriptions, previews and why: call the console's use cases, print the answer."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from bot.domain.errors import ConfigError, QueryError
from bot.domain.safetext import UNSAFE, terminal
from bot.services.console import ConsoleServices, console_services
from bot.settings import Settings
from bot.text_tables import format_table

if TYPE_CHECKING:
    from sqlite_utils import Database

# A subscription's target on the command line.
TARGET = re.compile(r"^(console|discord:\d{5,25})$")


def _open(settings: Settings) -> Database:
    from bot.app import open_database

    return open_database(settings)


def run_console(
    settings: Settings, use: Callable[[ConsoleServices], Awaitable[int]], *, fetch: bool = False
) -> int:
    """Run one use of the console's services (with the HTTP client when `fetch`); return its exit code."""
    from bot.domain.vendors import VendorCatalog
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


def sources(settings: Settings, args: argparse.Namespace) -> int:
    """Run `regwatch sources list|add|remove|check`."""
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
    if args.action == "edit":
        return run_console(settings, partial(_edit_sub, args=args))
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


def why(settings: Settings, url: str, target: str | None) -> int:
    """Run `regwatch why URL`: print why the item alerted or did not; exit 1 when it is unknown."""

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


def subs(settings: Settings, args: argparse.Namespace) -> int:
    """Run `regwatch subs list|add|edit|remove|preview`."""
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
    if args.action == "edit":
        return run_console(settings, partial(_edit_sub, args=args))
    if args.action == "remove":

        async def remove(kit: ConsoleServices) -> int:
            await kit.subscriptions.remove(kit.scope, args.id)
            print(f"removed subscription {args.id}")
            return 0

        return run_console(settings, remove)
    raise AssertionError(args.action)


async def _edit_sub(kit: ConsoleServices, *, args: argparse.Namespace) -> int:
    from bot.services.subscription_edit import Change, NothingToChange

    schedule = " ".join(args.schedule) if args.schedule else None
    try:
        edited = await kit.subscriptions.edit(
            kit.scope, args.id, Change(args.query, args.target, schedule, args.paused)
        )
    except QueryError as exc:
        _show_query_error(args.query or "", exc)
        return 2
    except NothingToChange:
        raise ConfigError(
            "nothing to change: give --query, --target, --schedule, --pause or --resume"
        ) from None
    for warning in edited.warnings:
        print(f"note: {terminal(warning)}")
    sub = edited.subscription
    print(f"subscription {sub.id} now watches {terminal(sub.query)} → {sub.target}")
    if schedule is not None:
        print(f"delivery: {edited.schedule.describe()}")
    if sub.paused:
        print(f"paused: its alerts are kept until `regwatch subs edit {sub.id} --resume`")
    return 0


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
