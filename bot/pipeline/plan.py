"""What a poll found (a plan, written by nobody yet) and what a poll did (its result)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import Source, backoff
from bot.storage.subscriptions import Subscription

STOPPED = "stopped: regwatch is shutting down"


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll, how far to back off, which items are too old to alert."""

    interval_seconds: int = 900
    max_backoff_seconds: int = 6 * 3600
    max_item_age_hours: int = 168
    max_decompressed_bytes: int = 50 * 1024 * 1024
    jitter: float = 0.1  # spread polls of many sources over +-10 % of the interval
    max_pages: int = 5  # pages of a paged API response (Federal Register) read per poll
    story_window_hours: int = 48  # later copies of a story within this window add to its alert (0: off)

    def next_check(self, now: datetime, source: Source, hint_seconds: int | None = None) -> datetime:
        """Return when to poll the source next after a success (`hint_seconds`: the feed's ttl)."""
        interval = source.interval_seconds or self.interval_seconds
        if hint_seconds and hint_seconds > interval:
            # The feed asks to be polled less often than we would (RSS <ttl>): be polite.
            interval = min(hint_seconds, self.max_backoff_seconds)
        spread = interval * self.jitter
        return now + timedelta(seconds=interval + random.uniform(-spread, spread))

    def retry_at(self, now: datetime, source: Source, retry_after: float | None) -> datetime:
        """Return when to try a failing source again: capped exponential, or what the host asked."""
        interval = source.interval_seconds or self.interval_seconds
        wait = backoff(source.failures, interval, self.max_backoff_seconds)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=min(retry_after, self.max_backoff_seconds)))
        return now + wait


@dataclass(frozen=True, slots=True)
class Match:
    """One (item, subscription) match found by a plan, whether or not it becomes an alert."""

    item_index: int
    subscription_id: int
    terms: tuple[str, ...]


@dataclass
class PollPlan:
    """Everything one poll of one source found, before anything is written.

    `status`: "new" (items to store, alerts to enqueue), "primed" (a first poll: items recorded,
    no alerts), "unchanged" (304 or the same body: only the source row changes), "failed"
    (`error` set; the source backs off until `next_check`) or "stopped" (shutting down: nothing
    is written, the source stays due).
    """

    source: Source
    now: datetime
    status: str
    next_check: datetime | None = None
    entries: int = 0
    items: list[NewItem] = field(default_factory=list)
    alerts: list[NewAlert] = field(default_factory=list)  # to enqueue: explained, first per item and target
    matches: list[Match] = field(default_factory=list)  # every match, planned for a dry run only
    subscriptions: dict[int, Subscription] = field(default_factory=dict)  # alerted (dry run: matched), by id
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error: str | None = None
    fetch_seconds: float | None = None
    searched: list[str] = field(default_factory=list)  # search sources: term sets fetched
    first_searches: int = 0  # search sources: new items from term sets searched the first time

    @property
    def stores_items(self) -> bool:
        """Tell whether the commit stores items and alerts (else it records only the source's state).

        A search source's successful poll always does: it is primed by its first one.
        """
        return self.status in ("new", "primed") or (
            self.source.kind == "search" and self.status == "unchanged"
        )


@dataclass(frozen=True)
class WouldAlert:
    """A match found by a dry run: which subscription, which item, which terms."""

    subscription: str
    target: str
    title: str
    link: str | None
    terms: tuple[str, ...]


@dataclass
class PollResult:
    """What one poll of one source did."""

    source_id: int
    source_name: str
    status: str  # "new" | "unchanged" | "primed" (first poll: recorded, no alerts) | "failed"
    entries: int = 0
    new_items: int = 0
    alerts: int = 0
    error: str | None = None
    would_alert: list[WouldAlert] = field(default_factory=list)
    fetch_seconds: float | None = None  # how long the document took to fetch (None: not fetched)


def would_alert(plan: PollPlan) -> list[WouldAlert]:
    """Return every match of a plan as a dry run reports it."""
    out: list[WouldAlert] = []
    for m in plan.matches:
        sub = plan.subscriptions[m.subscription_id]
        it = plan.items[m.item_index]
        out.append(WouldAlert(sub.label, sub.target, it.title, it.link, m.terms))
    return out


def failed(
    source: Source,
    now: datetime,
    policy: PollPolicy,
    error: str,
    *,
    retry_after: float | None = None,
    fetch_seconds: float | None = None,
) -> PollPlan:
    """Return the plan of a failed poll: record the error and back off."""
    next_check = policy.retry_at(now, source, retry_after)
    return PollPlan(source, now, "failed", next_check, error=error, fetch_seconds=fetch_seconds)


def stopped(source: Source, now: datetime) -> PollPlan:
    """Return the plan of a poll cut short by shutdown: nothing is written, the source stays due."""
    return PollPlan(source, now, "stopped", error=STOPPED)
