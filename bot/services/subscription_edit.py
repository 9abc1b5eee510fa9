"""Change a subscription in place: its query, target, schedule, pause or resume.

One use case for every front end: `/watch edit` (through GuildService, scoped to the caller's
server) and `regwatch subs edit` (the operator, any subscription) both call `apply_edit`, so the
same checks hold in both: the new query parses with the vendor catalog (QueryError with its
position), a target is `console` or `discord:CHANNEL_ID`, a schedule is what `/watch schedule`
accepts, and an edit changes something. The id, the mention and the creator are kept; a new
schedule keeps the subscription's choice about urgent actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlite_utils import Database

from bot.domain.clock import Clock
from bot.domain.delivery_schedule import Schedule, ScheduleError, parse_schedule
from bot.domain.errors import UserError
from bot.domain.query import parse_query
from bot.domain.vendors import VendorCatalog
from bot.storage import delivery_settings, subscriptions
from bot.storage.subscriptions import Subscription

TARGET = re.compile(r"^(console|discord:\d{5,25})$")
SCHEDULE_HELP = "instant, hourly [:MM], daily HH:MM, or weekly HH:MM DAY (e.g. weekly 09:00 mon)"


class NothingToChange(UserError):
    """An edit that names nothing to change."""


class NoSuchSubscription(UserError):
    """The id names no subscription (of the caller's server, when scoped)."""


@dataclass(frozen=True)
class Change:
    """What to change; None leaves a field as it is."""

    query: str | None = None
    target: str | None = None
    schedule: str | None = None  # "MODE [HH:MM] [DAY]", as /watch schedule takes it
    paused: bool | None = None

    @property
    def empty(self) -> bool:
        """Tell whether the change names nothing."""
        return self.query is None and self.target is None and self.schedule is None and self.paused is None


@dataclass(frozen=True)
class Edited:
    """The subscription after the edit, the query's warnings, and its schedule."""

    subscription: Subscription
    warnings: tuple[str, ...]
    schedule: Schedule


def parse_schedule_text(text: str, *, urgent_instant: bool = True) -> Schedule:
    """Read "daily 09:00", "weekly 09:00 mon", "hourly :15" or "instant"; raise UserError if invalid."""
    words = text.split()
    if not 1 <= len(words) <= 3:
        raise UserError(f"a schedule is {SCHEDULE_HELP}, not {text!r}")
    mode = words[0]
    at = words[1] if len(words) > 1 else None
    day = words[2] if len(words) > 2 else None
    if at is not None and at.startswith(":") and mode.casefold() == "hourly":
        at = f"00{at}"
    try:
        return parse_schedule(mode, at, day, urgent_instant=urgent_instant)
    except ScheduleError as exc:
        raise UserError(str(exc)) from None


def check(change: Change, vendors: VendorCatalog) -> tuple[str, ...]:
    """Check a change before touching the database; return the new query's warnings.

    Raises QueryError for an invalid query, NothingToChange, or UserError for a bad target or
    schedule.
    """
    warnings = parse_query(change.query, vendors).warnings if change.query is not None else ()
    if change.empty:
        raise NothingToChange("nothing to change")
    if change.target is not None and not TARGET.match(change.target):
        raise UserError(f"a target is 'console' or 'discord:CHANNEL_ID', not {change.target!r}")
    if change.schedule is not None:
        parse_schedule_text(change.schedule)
    return warnings


def apply_edit(
    db: Database,
    sub_id: int,
    change: Change,
    vendors: VendorCatalog,
    clock: Clock,
    *,
    guild_id: int | None,
    paused_reason: str,
) -> Edited:
    """Check and apply a change to subscription `sub_id` (only of `guild_id` when given).

    `paused_reason` is what /watch list and `subs list` show for a pause made by this edit.
    Raises as `check` does, and NoSuchSubscription.
    """
    warnings = check(change, vendors)
    current = subscriptions.get(db, sub_id)
    if current is None or (guild_id is not None and current.guild_id != guild_id):
        raise NoSuchSubscription(f"no subscription with id {sub_id}")
    found = delivery_settings.get_schedule(db, sub_id)
    schedule = found[0] if found else Schedule()
    with db.atomic():
        if change.schedule is not None:
            schedule = parse_schedule_text(change.schedule, urgent_instant=schedule.urgent_instant)
            delivery_settings.set_schedule(db, sub_id, schedule, clock())
        edited = subscriptions.edit(
            db,
            sub_id,
            current.guild_id,
            query=change.query,
            target=change.target,
            paused_reason=paused_reason if change.paused else None,
            resume=change.paused is False,
        )
    assert edited is not None
    return Edited(edited, warnings, schedule)
