"""CLI for schedules: `subs schedule|mention`, `digest run`, `settings timezone|quiet-hours|rate-limit`."""

from __future__ import annotations

import argparse
import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.domain.errors import ConfigError
from bot.services.scope import Scope
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.console import ConsoleServices


def add_parsers(sub: Any, subs: Any) -> None:
    """Add the schedule commands to the `regwatch` parser and its `subs` group."""
    sched = subs.add_parser("schedule", help="deliver a subscription instantly or in digests")
    sched.add_argument("id", type=int)
    sched.add_argument("mode", choices=("instant", "hourly", "daily", "weekly"))
    sched.add_argument("time", nargs="?", help="HH:MM in the server's time zone (daily, weekly; hourly: :MM)")
    sched.add_argument("day", nargs="?", help="weekly: mon, tue, wed, thu, fri, sat or sun")
    sched.add_argument(
        "--no-urgent-instant",
        dest="urgent_instant",
        action="store_false",
        help="hold ban, directive, sanction and entity_list alerts for the digest too",
    )
    mention = subs.add_parser("mention", help="mention a role, optionally only for some actions")
    mention.add_argument("id", type=int)
    mention.add_argument("--role", type=int, metavar="ROLE_ID", help="omit to mention no role")
    mention.add_argument(
        "--only", metavar="LIST", help="action types or severities, e.g. 'ban,sanction' or high"
    )

    digest = sub.add_parser("digest", help="digests").add_subparsers(dest="action", required=True)
    run = digest.add_parser("run", help="send every digest's waiting alerts now, then start the next period")
    run.add_argument("--subscription", type=int, metavar="ID")

    settings = sub.add_parser("settings", help="delivery settings of a server (or of console subscriptions)")
    group = settings.add_subparsers(dest="action", required=True)
    tz = group.add_parser("timezone", help="set the time zone of digests and quiet hours")
    tz.add_argument("name", help="IANA name, e.g. Europe/Vilnius")
    quiet = group.add_parser("quiet-hours", help="hold alerts during quiet hours, e.g. 22:00 07:00")
    quiet.add_argument("start", nargs="?")
    quiet.add_argument("end", nargs="?")
    quiet.add_argument("--target", default="*", help="console, discord:CHANNEL_ID, or * (default: all)")
    quiet.add_argument("--off", action="store_true", help="remove the quiet hours")
    quiet.add_argument("--no-urgent-bypass", dest="urgent_bypass", action="store_false")
    rate = group.add_parser("rate-limit", help="per-channel message rate cap and overflow cap")
    rate.add_argument("limit", type=int, help="messages per window")
    rate.add_argument("window", type=int, help="window in seconds")
    rate.add_argument(
        "--overflow-cap", type=int, default=None, help="alerts waiting before the rest go to a digest"
    )
    group.add_parser("show", help="show the delivery settings")
    for parser in (tz, quiet, rate, group.choices["show"]):
        parser.add_argument("--guild", type=int, metavar="ID", help="a Discord server (default: console)")


def dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Run one of the schedule commands."""
    if args.command == "digest":
        from bot.app import run_digests

        return asyncio.run(run_digests(settings, args.subscription))
    from bot.manage_cli import run_console

    if args.command == "subs":
        return run_console(settings, partial(_subs, args))
    if args.action == "quiet-hours" and not args.off and (not args.start or not args.end):
        raise ConfigError("quiet-hours needs START and END (HH:MM), or --off")
    return run_console(settings, partial(_settings, args))


async def _subs(args: argparse.Namespace, kit: ConsoleServices) -> int:
    if args.action == "schedule":
        schedule, tz = await kit.schedules.schedule(
            kit.scope, args.id, args.mode, args.time, args.day, urgent_instant=args.urgent_instant
        )
        where = f" ({tz})" if schedule.is_digest else ""
        print(f"subscription {args.id}: {schedule.describe()}{where}")
        return 0
    only = await kit.schedules.mention(kit.scope, args.id, args.role, args.only)
    if args.role is None:
        print(f"subscription {args.id} mentions no role")
    else:
        print(
            f"subscription {args.id} mentions role {args.role}" + (f" for {', '.join(only)}" if only else "")
        )
    return 0


async def _settings(args: argparse.Namespace, kit: ConsoleServices) -> int:
    # --guild: a Discord server's settings, changed by the operator (default: the console's own).
    scope = Scope(args.guild)
    schedules = kit.schedules
    if args.action == "timezone":
        print(f"time zone: {await schedules.set_timezone(scope, args.name)}")
    elif args.action == "quiet-hours":
        start = "off" if args.off else args.start
        hours = await schedules.set_quiet_hours(
            scope, args.target, start, args.end, urgent_bypass=args.urgent_bypass
        )
        if hours is None:
            print(f"quiet hours of {args.target} removed")
        else:
            print(f"quiet hours of {args.target}: {hours.describe()} ({await schedules.timezone(scope)})")
    elif args.action == "rate-limit":
        cap = await schedules.set_rate_limit(scope, args.limit, args.window, args.overflow_cap)
        print(f"rate cap: {cap.describe()}")
    else:
        shown = await schedules.settings(scope)
        print(f"time zone: {shown.timezone}")
        print(f"rate cap: {shown.rate_cap.describe()}")
        for row in shown.quiet_hours:
            print(
                f"quiet hours of {row.target}: {row.start}-{row.end}"
                + (" (urgent actions still go out)" if row.urgent_bypass else "")
            )
    return 0
