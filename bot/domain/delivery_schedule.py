"""Delivery schedules, quiet hours and severities: pure rules over times, no I/O.

Rules, in the order the delivery planner applies them to a new alert:
1. A subscription in a digest mode (hourly, daily, weekly) holds its alerts for its next digest,
   except urgent actions (ban, directive, sanction, entity_list) when `urgent_instant` is on.
2. An instant alert that falls in its channel's quiet hours waits for their end, except urgent
   actions when the quiet hours let them through.
3. Instant alerts are batched per channel under the channel's rate cap (delivery does that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Raised here; defined with the other errors (and still importable from here).
from bot.domain.errors import ScheduleError as ScheduleError  # noqa: PLC0414

MODES = ("instant", "hourly", "daily", "weekly")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
URGENT_ACTIONS = frozenset({"ban", "directive", "sanction", "entity_list"})
# Severity follows from the action type (the embed's colours say the same).
SEVERITIES = {
    "ban": "high",
    "directive": "high",
    "sanction": "high",
    "entity_list": "high",
    "covered_list": "high",
    "fine": "medium",
    "investigation": "medium",
    "guidance": "low",
}
ACTION_TYPES = tuple(SEVERITIES)

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str, what: str = "time") -> time:
    """Parse HH:MM (24-hour clock) or raise ScheduleError naming `what`."""
    found = _HHMM.match(text.strip())
    if not found:
        raise ScheduleError(f"{what} must be HH:MM on a 24-hour clock (e.g. 09:00), not {text!r}")
    return time(int(found.group(1)), int(found.group(2)))


def parse_day(text: str) -> int:
    """Parse a weekday name (mon..sun, or the full English name); return 0 for Monday."""
    word = text.strip().casefold()
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    if word not in DAYS and word not in full:
        raise ScheduleError(f"day must be one of {', '.join(DAYS)}, not {text!r}")
    key = word[:3]
    return DAYS.index(key)


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone of that name, or raise ScheduleError."""
    cleaned = name.strip()
    if not cleaned or ".." in cleaned or cleaned.startswith("/"):
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as Europe/Vilnius or UTC")
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Vilnius or UTC"
        ) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a subscription's alerts go out: at once, or in an hourly, daily or weekly digest."""

    mode: str = "instant"
    at: time | None = None  # daily and weekly: the local time; hourly: its minute
    day: int | None = None  # weekly: 0 = Monday
    urgent_instant: bool = True

    @property
    def is_digest(self) -> bool:
        """Tell whether alerts wait for a digest."""
        return self.mode != "instant"

    def describe(self) -> str:
        """Return the schedule in words, e.g. 'daily digest at 09:00'."""
        if self.mode == "instant":
            return "instant"
        at = self.at or time(0, 0)
        if self.mode == "hourly":
            text = f"hourly digest at :{at.minute:02d}"
        elif self.mode == "daily":
            text = f"daily digest at {at:%H:%M}"
        else:
            text = f"weekly digest on {DAYS[self.day or 0].capitalize()} at {at:%H:%M}"
        return text + ("" if self.urgent_instant else ", urgent actions wait too")

    def cron(self) -> dict[str, str]:
        """Return APScheduler cron fields for the digest (local time of its time zone)."""
        at = self.at or time(0, 0)
        if self.mode == "hourly":
            return {"minute": str(at.minute)}
        fields = {"hour": str(at.hour), "minute": str(at.minute)}
        if self.mode == "weekly":
            fields["day_of_week"] = DAYS[self.day or 0]
        return fields


def parse_schedule(
    mode: str, at: str | None = None, day: str | None = None, *, urgent_instant: bool = True
) -> Schedule:
    """Build a Schedule from user input, or raise ScheduleError with a plain reason."""
    mode = mode.strip().casefold()
    if mode not in MODES:
        raise ScheduleError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "instant":
        return Schedule("instant", urgent_instant=urgent_instant)
    if mode in ("daily", "weekly") and not at:
        raise ScheduleError(f"a {mode} digest needs a time, HH:MM (e.g. 09:00)")
    when = parse_hhmm(at) if at else time(0, 0)
    if mode == "weekly":
        if not day:
            raise ScheduleError("a weekly digest needs a day (mon, tue, wed, thu, fri, sat or sun)")
        return Schedule(mode, when, parse_day(day), urgent_instant)
    if day:
        raise ScheduleError("only a weekly digest takes a day")
    return Schedule(mode, when, None, urgent_instant)


def _candidates(schedule: Schedule, tz: ZoneInfo, now: datetime) -> tuple[datetime, timedelta]:
    """Return a scheduled time near now (UTC) and the schedule's period."""
    local = now.astimezone(tz)
    at = schedule.at or time(0, 0)
    if schedule.mode == "hourly":
        start = local.replace(minute=at.minute, second=0, microsecond=0)
        return start.astimezone(UTC), timedelta(hours=1)
    start = datetime.combine(local.date(), at, tzinfo=tz)
    if schedule.mode == "weekly":
        start -= timedelta(days=(local.weekday() - (schedule.day or 0)) % 7)
        return start.astimezone(UTC), timedelta(days=7)
    return start.astimezone(UTC), timedelta(days=1)


def _shift(moment: datetime, tz: ZoneInfo, period: timedelta, steps: int) -> datetime:
    """Move a scheduled time by whole periods in local time (a daily 09:00 stays 09:00 across DST)."""
    if period == timedelta(hours=1):
        return moment + period * steps
    local = moment.astimezone(tz).replace(tzinfo=None) + period * steps
    return local.replace(tzinfo=tz).astimezone(UTC)


def previous_run(schedule: Schedule, tz: ZoneInfo, now: datetime) -> datetime | None:
    """Return the latest scheduled digest time at or before now (UTC); None for instant."""
    if not schedule.is_digest:
        return None
    moment, period = _candidates(schedule, tz, now)
    while moment > now:
        moment = _shift(moment, tz, period, -1)
    return moment


def next_run(schedule: Schedule, tz: ZoneInfo, now: datetime) -> datetime | None:
    """Return the earliest scheduled digest time after now (UTC); None for instant."""
    if not schedule.is_digest:
        return None
    moment, period = _candidates(schedule, tz, now)
    while moment <= now:
        moment = _shift(moment, tz, period, 1)
    return moment


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in local time when a channel gets no alerts (it may wrap midnight)."""

    start: time
    end: time
    urgent_bypass: bool = True

    def describe(self) -> str:
        """Return e.g. '22:00-07:00 (urgent actions still go out)'."""
        note = " (urgent actions still go out)" if self.urgent_bypass else ""
        return f"{self.start:%H:%M}-{self.end:%H:%M}{note}"

    def release_time(self, tz: ZoneInfo, now: datetime) -> datetime | None:
        """Return when quiet hours that contain `now` end (UTC), or None when now is not quiet."""
        if self.start == self.end:
            return None
        local = now.astimezone(tz)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= clock < self.end
            end_day = local.date()
        else:  # wraps midnight, e.g. 22:00-07:00
            quiet = clock >= self.start or clock < self.end
            end_day = local.date() + timedelta(days=1) if clock >= self.start else local.date()
        if not quiet:
            return None
        return datetime.combine(end_day, self.end, tzinfo=tz).astimezone(UTC)


def parse_quiet_hours(start: str, end: str, *, urgent_bypass: bool = True) -> QuietHours:
    """Build QuietHours from HH:MM texts, or raise ScheduleError."""
    begin, finish = parse_hhmm(start, "start"), parse_hhmm(end, "end")
    if begin == finish:
        raise ScheduleError("quiet hours need a start and an end that differ (e.g. 22:00 and 07:00)")
    return QuietHours(begin, finish, urgent_bypass)


def is_urgent(action: str | None) -> bool:
    """Tell whether an action type goes out at once even in digest mode or quiet hours."""
    return action in URGENT_ACTIONS


def severity(action: str | None) -> str | None:
    """Return high, medium or low for a classified action; None for none."""
    return SEVERITIES.get(action or "")


def parse_mention_filter(text: str | None) -> tuple[str, ...]:
    """Parse 'ban, sanction' or 'high' into a tuple of action types and severities (empty = all)."""
    if not text or not text.strip():
        return ()
    wanted = tuple(dict.fromkeys(w.strip().casefold() for w in re.split(r"[,\s]+", text) if w.strip()))
    allowed = (*ACTION_TYPES, "high", "medium", "low", "urgent")
    bad = [w for w in wanted if w not in allowed]
    if bad:
        raise ScheduleError(f"unknown action type or severity {bad[0]!r}; use any of {', '.join(allowed)}")
    return wanted


def wants_mention(only: tuple[str, ...], action: str | None) -> bool:
    """Tell whether an alert of this action mentions the subscription's role under the filter."""
    if not only:
        return True
    return bool(
        action and (action in only or severity(action) in only or ("urgent" in only and is_urgent(action)))
    )
