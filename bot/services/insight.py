"""Previews and explanations shared by the slash commands and the CLI.

`preview` runs a query over stored items (counts per day, top matches); `explain_link` says, for
each subscription, why an item alerted or did not: the stored explanation of its alert (terms,
fields, aliases, the classifier's reasons), a story addition, a duplicate link, a held alert, or
why nothing was made (not matched and which terms are missing, first poll, too old, newer
subscription).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.delivery.embed import escape
from bot.domain.classifier import classify
from bot.domain.errors import RegwatchError
from bot.domain.explain import describe, missing_terms
from bot.domain.identity import canonical_link, link_key
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.query import Query, parse_query, uses_action
from bot.domain.vendors import VendorCatalog
from bot.storage.items import StoredItem
from bot.storage.subscriptions import Subscription


@dataclass
class Preview:
    """What a query would have matched among stored items."""

    total: int
    scanned: int
    per_day: list[tuple[str, int]]
    top: list[tuple[StoredItem, tuple[str, ...]]]
    warnings: tuple[str, ...] = ()
    # Only the newest `searched` candidates of the period were matched (a cap on the work).
    truncated: bool = False
    searched: int = 0  # items the exact query ran on (the full-text index's candidates)

    @property
    def notes(self) -> tuple[str, ...]:
        """Return the query's warnings, plus a note when not every stored item was searched."""
        if not self.truncated:
            return self.warnings
        cut = f"only the newest {self.searched:,} candidate items of the period were searched;"
        return (*self.warnings, cut + " ask for fewer days")


@dataclass
class Explanation:
    """Why an item did or did not alert, line by line."""

    found: bool
    lines: list[str] = field(default_factory=list)


def preview(
    stored: list[StoredItem],
    query: Query,
    *,
    limit: int = 5,
    truncated: bool = False,
    scanned: int | None = None,
) -> Preview:
    """Run one query over stored items (newest first): matches per day and the first `limit`.

    `stored` may be only the candidates of the period (`scanned` items in all); `truncated`
    tells that older candidates exist but were not read.
    """
    matcher = Matcher([(0, query)])
    needs_action = uses_action(query.root)
    hits: list[tuple[StoredItem, tuple[str, ...]]] = []
    for it in stored:
        action = it.action
        if needs_action and action is None and not it.classified:
            action = classify(it.title, it.text)  # stored unclassified (nothing needed it then)
        found = matcher.match(MatchDoc(it.title, it.text, it.source_name, action))
        if found:
            hits.append((it, found[0].terms))
    per_day = Counter((it.published or it.fetched_at).strftime("%Y-%m-%d") for it, _ in hits)
    return Preview(
        len(hits),
        len(stored) if scanned is None else scanned,
        sorted(per_day.items(), reverse=True),
        hits[:limit],
        query.warnings,
        truncated,
        len(stored),
    )


def _target_label(target: str) -> str:
    return f"<#{target.rsplit(':', maxsplit=1)[-1]}>" if target.startswith("discord:") else target


def explain_link(
    db: Database,
    link: str,
    subs: list[Subscription],
    vendors: VendorCatalog,
    max_age_hours: int,
    *,
    mention_channels: bool = True,
    no_subscriptions: str = "No subscriptions to explain.",
    sources_hint: str = "`regwatch sources list` shows the sources.",
    guild_id: int | None = None,
) -> Explanation:
    """Explain, for each subscription, why the item at `link` did or did not alert.

    With `guild_id`, only items of the sources that server sees (shared ones and its own).
    """
    canon = canonical_link(link)
    scope = "" if guild_id is None else " AND (s.guild_id IS NULL OR s.guild_id = ?)"
    rows = db.execute(
        "SELECT i.id, i.title, i.text, i.published, i.fetched_at, i.action, i.first_poll, s.name,"
        " i.classified"
        f" FROM items i JOIN sources s ON s.id = i.source_id WHERE i.canonical_link = ?{scope} ORDER BY i.id",
        (canon,) if guild_id is None else (canon, guild_id),
    ).fetchall()
    if not rows:
        return Explanation(False, [f"regwatch has not seen {link} in any source it polls. {sources_hint}"])
    item_id, title, text, published, fetched_at, action, first_poll, source_name, classified = rows[0]
    if action is None and not classified:
        action = classify(title, text)  # stored unclassified (nothing needed it then)
    label_of = _target_label if mention_channels else str
    # Titles come from feeds: shown literally, like in alert embeds.
    shown = escape(title or "(untitled)", 200)
    lines = [f"Item: {shown} — first seen in {escape(source_name, 100)} at {fetched_at} UTC."]
    if action:
        lines.append(f"Classified as: {action.replace('_', ' ')}.")
    if len(rows) > 1:
        lines.append(f"Also carried by {len(rows) - 1} other source(s); it alerts once per channel.")
    if not subs:
        lines.append(no_subscriptions)
    key = link_key(link)
    doc = MatchDoc(title, text, source_name, action)
    for sub in subs:
        label = f"Subscription {sub.id} ({sub.query}) → {label_of(sub.target)}"
        alert = db.execute(
            "SELECT o.id, o.status, o.sent_at, o.created_at, o.last_error, o.subscription_id, o.item_id,"
            " o.explanation, o.story_of, s.name FROM outbox o JOIN items i ON i.id = o.item_id"
            " JOIN sources s ON s.id = i.source_id WHERE o.target = ? AND o.link_key = ?",
            (sub.target, key),
        ).fetchone()
        if alert is not None:
            lines.extend(_explain_alert(db, label, sub, alert, item_id))
            continue
        try:
            query = parse_query(sub.query, vendors)
        except RegwatchError as exc:
            lines.append(f"{label}: its query is invalid ({exc}).")
            continue
        if not Matcher([(0, query)]).match(doc):
            missing = ", ".join(missing_terms(query, doc)[:5])
            lines.append(
                f"{label}: did not match: the item's title and text lack "
                + (f"{missing}." if missing else "what the query needs (an excluded term is present).")
            )
        elif first_poll:
            lines.append(
                f"{label}: matched, but the item was recorded on the source's first poll (no alerts then)."
            )
        elif published and published < _minus_hours(fetched_at, max_age_hours):
            lines.append(f"{label}: matched, but too old: older than {max_age_hours} h when it was seen.")
        else:
            lines.append(f"{label}: matched, but the subscription did not exist yet when the item arrived.")
    return Explanation(True, lines)


def _explain_alert(
    db: Database, label: str, sub: Subscription, alert: tuple[object, ...], item_id: int
) -> list[str]:
    alert_id, status, sent_at, created_at, error, by, alert_item, raw, story_of, via = alert
    if by != sub.id:
        return [f"{label}: covered by subscription {by}'s alert {alert_id} in the same channel ({status})."]
    lines: list[str] = []
    if alert_item != item_id:
        lines.append(
            f"{label}: deduplicated: the same link alerted this channel from {via} (alert {alert_id})."
        )
    if story_of is not None:
        first = db.execute(
            "SELECT i.title, s.name, o.sent_at FROM outbox o JOIN items i ON i.id = o.item_id"
            " JOIN sources s ON s.id = i.source_id WHERE o.id = ?",
            (story_of,),
        ).fetchone()
        what = f"'{first[0]}' from {first[1]}" if first else "an earlier alert"
        lines.append(
            f"{label}: same story as alert {story_of} ({what}): added to it as 'also reported by {via}'"
            f" ({status}{' at ' + str(sent_at) + ' UTC' if sent_at else ''})."
        )
    elif status == "sent":
        lines.append(f"{label}: alerted at {sent_at} UTC (alert {alert_id}).")
    else:
        # Pending, failed, or held back by a delivery rule: the outbox row says which.
        why = f" (last error: {error})" if error else ""
        lines.append(f"{label}: alert {alert_id} {status} since {created_at} UTC{why}.")
    try:
        record = json.loads(str(raw or "{}"))
    except ValueError:
        record = {}
    lines.extend(f"  • {line}" for line in describe(record))
    return lines


def _minus_hours(stamp: str, hours: int) -> str:
    return (datetime.fromisoformat(stamp) - timedelta(hours=hours)).isoformat()
