"""Previews and 'why did this alert' on a real database: every branch of the explanation, per subscription."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from bot.domain.query import parse_query
from bot.domain.vendors import VendorCatalog
from bot.services import insight
from bot.storage import items, outbox, sources, subscriptions
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig
from bot.storage.subscriptions import Subscription
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, real_entries

VENDORS = VendorCatalog.load_default()
CHANNEL = "discord:123456789012345678"


async def explain(box: Outbox, link: str, **kw: object) -> insight.Explanation:
    """Explain a link for every stored subscription, as `regwatch` and /alerts why do."""
    subs = await box.call(subscriptions.list_subscriptions)
    return await box.call(insight.explain_link, link, subs, VENDORS, 168, **kw)


async def store(
    box: Outbox, item: NewItem, alerts: list[NewAlert], *, source_id: int | None = None, **kw: object
) -> None:
    """Store one item (and its alerts) the way a poll does."""
    now = box.clock()
    await box.call(
        items.store_poll,
        source_id or box.source_id,
        now,
        now,
        [item],
        alerts,
        etag=None,
        last_modified=None,
        body_hash=None,
        **kw,
    )


def line_for(explained: insight.Explanation, sub_id: int) -> str:
    """Return the explanation line of one subscription."""
    [line] = [x for x in explained.lines if x.startswith(f"Subscription {sub_id} ")]
    return line


async def test_an_unseen_link_says_so(box: Outbox) -> None:
    explained = await explain(box, "https://nowhere.example/x")
    assert explained == insight.Explanation(
        False,
        [
            "regwatch has not seen https\\://nowhere.example/x in any source it polls."
            " `regwatch sources list` shows the sources."
        ],
    )


async def test_each_subscription_gets_its_own_reason(box: Outbox, clock: Clock) -> None:
    sent = await box.subscribe("trump", CHANNEL)
    covered = await box.subscribe("state union", CHANNEL)  # same channel: one alert per link
    missing = await box.subscribe("huawei", "console")
    bad: Subscription = await box.call(
        subscriptions.add, "trump AND (", "console", clock()
    )  # stored unchecked
    [alert_id] = await box.enqueue([sent, covered])
    await box.call(outbox.mark_sent, alert_id, clock(), "42")
    later = await box.subscribe("trump", "discord:2")  # made after the item arrived
    first = real_entries()[0]
    assert first.link is not None

    explained = await explain(box, first.link)
    assert explained.found
    assert (
        explained.lines[0].startswith("Item: Trump State of the Union address")
        and "Guardian US" in explained.lines[0]
    )
    assert (
        line_for(explained, sent) == f"Subscription {sent} (trump) → <#123456789012345678>:"
        f" alerted at {clock().isoformat()} UTC (alert {alert_id})."
    )
    assert (
        f"matched; the channel got one alert for this link, from subscription {sent} (alert {alert_id}, sent)"
        in line_for(explained, covered)
    )
    assert line_for(explained, missing).endswith("did not match: the item's title and text lack huawei.")
    assert "its query is invalid" in line_for(explained, bad.id)
    # Published in 2018, seen now: matched, but older than the alerting age.
    assert line_for(explained, later).endswith("matched, but too old: older than 168 h when it was seen.")

    plain = await explain(box, first.link, mention_channels=False)
    assert f"→ {CHANNEL}:" in line_for(plain, sent)


async def test_first_polls_new_subscriptions_held_alerts_and_duplicates_are_told_apart(
    box: Outbox, clock: Clock
) -> None:
    sub = await box.subscribe("trump", "console")
    [primed] = box.next_items(1)
    await store(box, replace(primed, published=clock()), [], first_poll=True)
    [fresh] = box.next_items(1)
    await store(box, replace(fresh, published=clock()), [])  # stored before any subscription wanted it
    digest = await box.subscribe("trump", CHANNEL, mode="daily", at="09:00")
    [held] = await box.enqueue(digest)
    assert primed.link and fresh.link

    assert line_for(await explain(box, primed.link), sub).endswith(
        "matched, but the item was recorded on the source's first poll (no alerts then)."
    )
    assert line_for(await explain(box, fresh.link), digest).endswith(
        "matched, but the subscription did not exist yet when the item arrived."
    )
    third = real_entries()[2].link
    assert third is not None
    waiting = line_for(await explain(box, third), digest)
    assert re.search(rf": alert {held} held since \S+ UTC\.$", waiting), waiting

    # The same link from a second source: the channel's alert came from the copy.
    wire = await box.call(sources.add, SourceConfig("Wire", "https://wire.example/rss"), clock())
    copy = replace(fresh, identity="wire-1")
    await store(box, copy, [NewAlert(0, sub, "console", ("Trump",))], source_id=wire.id)
    [(wire_alert, _)] = await box.call(outbox.recent, 1)
    explained = await explain(box, fresh.link)
    assert "Also carried by 1 other source(s); it alerts once per channel." in explained.lines
    dedupe, status = [x for x in explained.lines if x.startswith(f"Subscription {sub} ")]
    assert dedupe.endswith(
        f"deduplicated: the same link alerted this channel from Wire (alert {wire_alert.id})."
    )
    assert status.endswith(f": alert {wire_alert.id} pending since {clock().isoformat()} UTC.")


async def test_preview_counts_matches_per_day_and_shows_the_newest(box: Outbox, clock: Clock) -> None:
    await box.enqueue([], 55)
    stored = await box.call(items.recent, clock() - timedelta(days=1))
    result = insight.preview(stored, parse_query("trump", VENDORS), limit=4)

    trump = [e for e in real_entries() if re.search(r"\btrump\b", f"{e.title} {e.text}", re.IGNORECASE)]
    assert (result.scanned, result.total) == (55, len(trump))
    assert len(result.top) == 4
    assert [it.title for it, _ in result.top] == [e.title for e in reversed(trump)][:4]  # newest stored first
    assert all(terms == ("Trump",) or "Trump" in terms for _, terms in result.top)
    days = [day for day, _ in result.per_day]
    assert days == sorted(days, reverse=True) and sum(n for _, n in result.per_day) == len(trump)
    assert insight.preview(stored, parse_query("vendor:Acme", VENDORS)).warnings
