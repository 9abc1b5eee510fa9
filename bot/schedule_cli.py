"""CLI for schedules: `subs schedule|mention`, `digest run`, `settings timezone|quiet-hours|rate-limit`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.domain.errors import ConfigError
from bot.domain.schedule import ScheduleError, parse_mention_filter, parse_quiet_hours, parse_schedule, zone
from bot.settings import Settings


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
    try:
        if args.command == "digest":
            from bot.app import run_digests

            return asyncio.run(run_digests(settings, args.subscription))
        if args.command == "subs":
            return _subs(settings, args)
        return _settings(settings, args)
    except ScheduleError as exc:
        raise ConfigError(str(exc)) from None


def _subs(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_database
    from bot.domain.clock import utcnow
    from bot.storage import schedules

    db = open_database(settings)
    if args.action == "schedule":
        schedule = parse_schedule(args.mode, args.time, args.day, urgent_instant=args.urgent_instant)
        if not schedules.set_schedule(db, args.id, schedule, utcnow()):
            raise ConfigError(f"no subscription with id {args.id}")
        sub = schedules.digest_subscriptions(db, args.id)[0]
        where = f" ({sub.timezone})" if schedule.is_digest else ""
        print(f"subscription {args.id}: {schedule.describe()}{where}")
        return 0
    only = parse_mention_filter(args.only)
    if not schedules.set_mention(db, args.id, args.role, only):
        raise ConfigError(f"no subscription with id {args.id}")
    if args.role is None:
        print(f"subscription {args.id} mentions no role")
    else:
        print(
            f"subscription {args.id} mentions role {args.role}" + (f" for {', '.join(only)}" if only else "")
        )
    return 0


def _settings(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_database
    from bot.storage import schedules

    db = open_database(settings)
    guild = args.guild
    if args.action == "timezone":
        zone(args.name)
        print(f"time zone: {schedules.set_timezone(db, guild, args.name)}")
    elif args.action == "quiet-hours":
        if args.off:
            schedules.set_quiet_hours(db, guild, args.target, None)
            print(f"quiet hours of {args.target} removed")
        else:
            if not args.start or not args.end:
                raise ConfigError("quiet-hours needs START and END (HH:MM), or --off")
            hours = parse_quiet_hours(args.start, args.end, urgent_bypass=args.urgent_bypass)
            schedules.set_quiet_hours(db, guild, args.target, hours)
            print(f"quiet hours of {args.target}: {hours.describe()} ({schedules.get_timezone(db, guild)})")
    elif args.action == "rate-limit":
        if not 1 <= args.limit <= 50 or not 1 <= args.window <= 3600:
            raise ConfigError("rate-limit needs LIMIT 1-50 messages per WINDOW 1-3600 seconds")
        current = schedules.get_rate_cap(db, guild)
        cap_value = current.overflow_cap if args.overflow_cap is None else args.overflow_cap
        if not 10 <= cap_value <= 100_000:
            raise ConfigError("--overflow-cap must be 10-100000 alerts")
        cap = schedules.RateCap(args.limit, args.window, cap_value)
        schedules.set_rate_cap(db, guild, cap)
        print(f"rate cap: {cap.describe()}")
    else:
        print(f"time zone: {schedules.get_timezone(db, guild)}")
        print(f"rate cap: {schedules.get_rate_cap(db, guild).describe()}")
        rows = db.execute(
            "SELECT target, start, end, urgent_bypass FROM quiet_hours WHERE guild_id = ? ORDER BY target",
            (schedules.scope(guild),),
        ).fetchall()
        for target, start, end, bypass in rows:
            print(
                f"quiet hours of {target}: {start}-{end}"
                + (" (urgent actions still go out)" if bypass else "")
            )
    return 0
