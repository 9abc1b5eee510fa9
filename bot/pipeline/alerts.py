"""Match a poll's new items against every subscription and decide which matches become alerts.

Rules, in order:

1. Items older than the policy's age limit match nothing (and are not classified).
2. An item is classified before matching only when some query tests the action (`action:`);
   otherwise only the items that matched are (their alerts carry the verdict).
3. Each audience of the source (everyone for a shared source, each server that added it) is
   matched under the source's name as that audience knows it; a match counts only for a
   subscription of that audience.
4. Of several matches of one item for one target only the first becomes an alert (the store
   keeps one alert per link and target), so only its terms are put into words and explained.
   A dry run (`every_match`) also keeps every match, with its terms, to report; a real poll
   does not (an item may match thousands of subscriptions).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.explain import Verdict, classify_verdict, explanation_record, term_hits
from bot.domain.models import MatchDoc, SourceContext
from bot.domain.semantics import source_context, source_field
from bot.pipeline.matching import Audience, CompiledSubscriptions
from bot.pipeline.plan import Match
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import Source
from bot.storage.subscriptions import Subscription


@dataclass
class Found:
    """The new items (classified where needed), their alerts, and every match for a dry run."""

    items: list[NewItem]
    alerts: list[NewAlert] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    subscriptions: dict[int, Subscription] = field(default_factory=dict)


def _context(source: Source, item: NewItem) -> SourceContext | None:
    return source_context(source.options, page_title=item.page_title, heading=item.heading)


def _classified(source: Source, it: NewItem) -> NewItem:
    if it.classified:
        return it
    verdict = classify_verdict(it.title, it.text, _context(source, it))
    return replace(it, action=verdict.action, verdict=verdict, classified=True)


def find_alerts(
    compiled: CompiledSubscriptions,
    source: Source,
    audiences: list[Audience],
    new: list[NewItem],
    cutoff: datetime,
    every_match: bool = False,
) -> Found:
    """Match new items published after `cutoff` (or undated); return what alerts (see the rules)."""
    found = Found(list(new))
    out = found.items
    classify_first = compiled.matcher.uses_actions
    for index, fresh in enumerate(out):
        if fresh.published is not None and fresh.published < cutoff:
            continue
        it = out[index] = _classified(source, fresh) if classify_first else fresh
        targets: set[str] = set()
        for audience in audiences:
            source_text = source_field(audience.name, it.page_title, it.heading)
            doc = MatchDoc(title=it.title, summary=it.text, source=source_text, action=it.action)
            result = compiled.matcher.match_item(doc)
            if not result:
                continue
            by_id = compiled.by_id
            matched = result.subscription_ids()
            if audience.guild_id is not None or audience.others:  # else it sees every subscription
                matched = [sid for sid in matched if audience.sees(by_id[sid])]
            if not matched:
                continue
            if not it.classified:  # no query tests the action: the same matches, now explained
                it = out[index] = _classified(source, it)
                doc = MatchDoc(title=it.title, summary=it.text, source=source_text, action=it.action)
            for sid in matched:
                sub = by_id[sid]
                if every_match:  # terms put into words once per query, not per subscription
                    found.subscriptions[sid] = sub
                    found.matches.append(Match(index, sub.id, result.terms_of(sid)))
                if sub.target in targets:
                    continue  # the store would ignore it: this item's link already alerts there
                targets.add(sub.target)
                found.subscriptions[sid] = sub
                terms = result.terms_of(sid)
                record = explanation_record(
                    term_hits(compiled.queries[sub.id], doc),
                    it.verdict or Verdict(it.action),
                    _context(source, it),
                )
                found.alerts.append(NewAlert(index, sub.id, sub.target, terms, record))
    return found


async def match_new_items(
    compiled: CompiledSubscriptions,
    source: Source,
    audiences: list[Audience],
    new: list[NewItem],
    now: datetime,
    max_item_age_hours: int,
    every_match: bool = False,
) -> Found:
    """Run `find_alerts` off the event loop.

    Matching is pure Python, bounded per (item, query) by the cost model's budget; in a thread
    the interpreter hands the GIL back to the loop every few milliseconds, so however many
    subscriptions match, /healthz and slash commands still answer.
    """
    if not new:
        return Found([])
    cutoff = now - timedelta(hours=max_item_age_hours)
    return await asyncio.to_thread(find_alerts, compiled, source, audiences, new, cutoff, every_match)
