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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot.delivery.embed import escape
from bot.domain.clock import parse_iso
from bot.domain.errors import RegwatchError
from bot.domain.explain import classify_verdict, describe, missing_terms, term_hits
from bot.domain.identity import canonical_link, link_key
from bot.domain.matcher import Matcher
from bot.domain.models import Match, MatchDoc
from bot.domain.query import Query, parse_query, uses_action
from bot.domain.semantics import describe_context, source_context, source_field
from bot.domain.vendors import VendorCatalog
from bot.storage import explain
from bot.storage.items import StoredItem
from bot.storage.preview import Candidate
from bot.storage.sources import options_of
from bot.storage.subscriptions import Subscription

# A medium's sanitizer for text from outside: (text, limit) -> what may be shown.
Shown = Callable[[str, int], str]


@dataclass
class Preview:
    """What a query would have matched among stored items."""

    total: int
    scanned: int
    per_day: list[tuple[str, int]]
    top: list[tuple[StoredItem, tuple[str, ...]]]
    warnings: tuple[str, ...] = ()
    stopped: str | None = None  # why the preview stopped before the end (its budget ran out)
    # Only the newest `searched` candidates of the period were matched (a cap on the work).
    truncated: bool = False
    searched: int = 0  # items the exact query ran on (the full-text index's candidates)

    @property
    def notes(self) -> tuple[str, ...]:
        """Return the query's warnings, plus why not every stored item was searched, if so."""
        notes = list(self.warnings)
        if self.truncated:
            notes.append(
                f"only the newest {self.searched:,} candidate items were searched (of"
                f" {self.scanned:,} items stored in the period): the counts cover those only;"
                " ask for fewer days or a narrower query"
            )
        if self.stopped:
            notes.append(self.stopped[0].upper() + self.stopped[1:])
        return tuple(notes)


# A preview's own budget, in evaluation steps over all items (bot/domain/query.py's cost model):
# a costly query previews fewer items, and a preview never holds a worker thread for long.
PREVIEW_WORK_BUDGET = 2_000_000


@dataclass
class Explanation:
    """Why an item did or did not alert, line by line."""

    found: bool
    lines: list[str] = field(default_factory=list)


def preview(
    stored: Sequence[StoredItem | Candidate],
    query: Query,
    *,
    limit: int = 5,
    budget: int = PREVIEW_WORK_BUDGET,
    truncated: bool = False,
    scanned: int | None = None,
) -> Preview:
    """Run one query over stored items (newest first): matches per day and the first `limit`.

    `stored` may be only the candidates of the period (`scanned` items in all; rows as read by
    `bot.storage.items.preview_candidates`, made `StoredItem`s only when shown); `truncated`
    tells that older candidates exist but were not read. Stops early, saying so, when the
    query's evaluation steps exceed `budget`.
    """
    matcher = Matcher([(0, query)])
    needs_action = uses_action(query.root)
    shown: list[tuple[StoredItem | Candidate, Match]] = []
    per_day: Counter[date] = Counter()  # by publication day (UTC), else the day it was fetched
    sources: dict[tuple[str, str | None, str | None], str] = {}
    done = 0
    stopped = None
    for it in stored:
        if matcher.work > budget:
            stopped = (
                f"the preview stopped after {done} of {len(stored)} items:"
                f" the query is costly to evaluate (a preview may take {budget:,} steps)"
            )
            break
        done += 1
        action = it.action
        if needs_action and action is None and not it.classified:
            # Stored unclassified (nothing needed it then).
            context = source_context(it.source_options, page_title=it.page_title, heading=it.heading)
            action = classify_verdict(it.title, it.text, context).action
        where = (it.source_name, it.page_title, it.heading)
        source = sources.get(where)
        if source is None:  # most items share their source's few contexts
            source = sources[where] = source_field(*where)
        found = matcher.match(MatchDoc(it.title, it.text, source, action))
        if found:
            per_day[(it.published or it.fetched_at).date()] += 1
            # Only the shown matches are kept, and only their terms are put into words: for a
            # query matching most items, every hit's terms were 40 % of the matching time, and
            # keeping every Match alive made each garbage collection walk all of them.
            if len(shown) < limit:
                shown.append((it, found[0]))
    return Preview(
        per_day.total(),
        done if stopped or scanned is None else scanned,
        [(day.isoformat(), count) for day, count in sorted(per_day.items(), reverse=True)],
        [(it if isinstance(it, StoredItem) else it.stored(), match.terms) for it, match in shown],
        query.warnings,
        stopped,
        truncated,
        done,
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
    show: Shown = escape,
) -> Explanation:
    """Explain, for each subscription, why the item at `link` did or did not alert.

    With `guild_id`, only items of the sources that server sees (shared ones and its own), each
    under the name that server gave it. `show` is the medium's sanitizer: every string that came
    from outside (titles, source names, terms, errors, queries) goes through it.
    """
    rows = explain.items_at_link(db, canonical_link(link), guild_id=guild_id)
    if not rows:
        return Explanation(
            False, [f"regwatch has not seen {show(link, 300)} in any source it polls. {sources_hint}"]
        )
    item_id, title, text, published, fetched_at, action, first_poll, source_name = rows[0][:8]
    page_title, heading, raw_options, classified = rows[0][8:]
    context = source_context(options_of(raw_options), page_title=page_title, heading=heading)
    if action is None and not classified:
        action = classify_verdict(title, text, context).action  # stored unclassified (nothing needed it then)
    label_of = _target_label if mention_channels else str
    # Titles come from feeds: shown literally, like in alert embeds.
    shown = show(title or "(untitled)", 200)
    lines = [f"Item: {shown} — first seen in {show(source_name, 100)} at {fetched_at} UTC."]
    if declared := describe_context(context):
        lines.append(f"Source context: {show(declared, 300)}.")
    if action:
        lines.append(f"Classified as: {action.replace('_', ' ')}.")
    if len(rows) > 1:
        lines.append(f"Also carried by {len(rows) - 1} other source(s); it alerts once per channel.")
    if not subs:
        lines.append(no_subscriptions)
    key = link_key(link)
    doc = MatchDoc(title, text, source_field(source_name, page_title, heading), action)
    for sub in subs:
        label = f"Subscription {sub.id} ({show(sub.query, 300)}) → {label_of(sub.target)}"
        alert = explain.alert_for_link(db, sub.target, key)
        if alert is not None and alert[5] == sub.id:
            lines.extend(_explain_alert(db, label, sub, alert, item_id, show))
            continue
        try:
            query = parse_query(sub.query, vendors)
        except RegwatchError as exc:
            lines.append(f"{label}: its query is invalid ({show(str(exc), 300)}).")
            continue
        if not Matcher([(0, query)]).match(doc):
            missing = ", ".join(show(t, 100) for t in missing_terms(query, doc)[:5])
            lines.append(
                f"{label}: did not match: the item's title and text lack "
                + (f"{missing}." if missing else "what the query needs (an excluded term is present).")
            )
        elif alert is not None:
            # It matched too, but a channel gets one alert per link: another subscription's.
            lines.append(
                f"{label}: matched; the channel got one alert for this link, from subscription"
                f" {alert[5]} (alert {alert[0]}, {alert[1]})."
            )
        elif first_poll:
            lines.append(
                f"{label}: matched, but the item was recorded on the source's first poll (no alerts then)."
            )
            lines.extend(f"  • {where}" for where in _where(query, doc))
        elif published and published < _minus_hours(fetched_at, max_age_hours):
            lines.append(f"{label}: matched, but too old: older than {max_age_hours} h when it was seen.")
        elif sub.created_at is not None and not_before(sub.created_at, fetched_at):
            lines.append(f"{label}: matched, but the subscription did not exist yet when the item arrived.")
        else:
            lines.append(
                f"{label}: matched, but no alert is stored for it (alerts older than the retention"
                " period are pruned)."
            )
    return Explanation(True, lines)


def _explain_alert(
    db: Database, label: str, sub: Subscription, alert: tuple[object, ...], item_id: int, show: Shown
) -> list[str]:
    alert_id, status, sent_at, created_at, error, _by, alert_item, raw, story_of, via_raw = alert
    via = show(str(via_raw), 100)
    lines: list[str] = []
    if alert_item != item_id:
        lines.append(
            f"{label}: deduplicated: the same link alerted this channel from {via} (alert {alert_id})."
        )
    if story_of is not None:
        first = explain.alert_headline(db, int(str(story_of)))
        # The first alert's title and source are quoted: both come from outside.
        what = f"'{show(first[0], 200)}' from {show(first[1], 100)}" if first else "an earlier alert"
        lines.append(
            f"{label}: same story as alert {story_of} ({what}): added to it as 'also reported by {via}'"
            f" ({status}{' at ' + str(sent_at) + ' UTC' if sent_at else ''})."
        )
    elif status == "sent":
        lines.append(f"{label}: alerted at {sent_at} UTC (alert {alert_id}).")
    else:
        # Pending, failed, or held back by a delivery rule: the outbox row says which.
        why = f" (last error: {show(str(error), 300)})" if error else ""
        lines.append(f"{label}: alert {alert_id} {status} since {created_at} UTC{why}.")
    try:
        record = json.loads(str(raw or "{}"))
    except ValueError:
        record = {}
    lines.extend(f"  • {show(line, 500)}" for line in describe(record))
    return lines


def _where(query: Query, doc: MatchDoc) -> list[str]:
    """Say where each term of a matching query was found (title, summary, row, body, context)."""
    return [
        f"{h.term}: {h.matched!r} in the {h.field}" for h in term_hits(query, doc) if h.field != "classifier"
    ]


def not_before(when: datetime, stamp: str) -> bool:
    """Tell whether a datetime is at or after an ISO-8601 timestamp stored in the database.

    A subscription made in the same instant as the poll that stored an item did not take part in
    that poll's matching.
    """
    found = parse_iso(stamp)
    return found is not None and when >= found


def _minus_hours(stamp: str, hours: int) -> str:
    return (datetime.fromisoformat(stamp) - timedelta(hours=hours)).isoformat()
