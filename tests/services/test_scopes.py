"""Each use case in both scopes, console (the CLI) and one Discord server, on a real SQLite file.

The rules are written once in bot/services; what differs between the scopes is only what the
scope sees and its limits (bot/services/scope.py).
"""

from __future__ import annotations

import pytest

from bot.domain.errors import DuplicateSubscription, ParseError, QueryError, ScheduleError, UserError
from bot.domain.vendors import VendorCatalog
from bot.services.delivery_settings import ScheduleService
from bot.services.scope import Limits, Scope, console_limits
from bot.services.sources import SourceService
from bot.services.subscriptions import SubscriptionService
from bot.sources.http import Fetcher
from bot.storage import sources, subscriptions
from bot.storage.delivery_settings import RateCap
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.feedserver import FeedServer

SERVER_A, SERVER_B = 111111111111111111, 222222222222222222
CHANNEL = 333333333333333333
USER = 555555555555555555
CONSOLE = Scope.console()
A, B = Scope.guild(SERVER_A, USER), Scope.guild(SERVER_B, USER)
VENDORS = VendorCatalog.load_default()

KEV = "cisa_kev_2025-08-18_truncated.json"
FEDERAL_REGISTER = "federalregister_documents_search_presidential_truncated.json"


def console(**changes: object) -> Limits:
    """Return the console's limits (private addresses allowed, for the local feed server)."""
    limits = console_limits(allow_private=True, max_item_age_hours=168)
    return Limits(**{**limits.__dict__, **changes})  # type: ignore[arg-type]


def subs(box: Outbox, clock: Clock, limits: Limits) -> SubscriptionService:
    """Return the subscription use cases on the box's database."""
    return SubscriptionService(box.adb, VENDORS, limits, clock=clock)


# --- subscriptions ------------------------------------------------------------------------------


async def test_adding_a_subscription_follows_one_rule_set_in_both_scopes(box: Outbox, clock: Clock) -> None:
    on_console = subs(box, clock, console())
    on_server = subs(box, clock, Limits(max_subscriptions=2))

    mine, warnings = await on_console.add(CONSOLE, "vendor:Kaspersky action:ban", "console", name="kl")
    assert (mine.origin, mine.created_by, mine.guild_id, mine.name, warnings) == (
        "cli",
        "cli",
        None,
        "kl",
        (),
    )
    theirs, _ = await on_server.add(A, "vendor:Kaspersky action:ban", f"discord:{CHANNEL}")
    assert (theirs.origin, theirs.created_by, theirs.guild_id) == ("discord", f"discord:{USER}", SERVER_A)

    # The same query to the same target: one typed error, naming the existing subscription.
    with pytest.raises(
        DuplicateSubscription, match=rf"^console already has this subscription \(id {mine.id}\)"
    ):
        await on_console.add(CONSOLE, "vendor:Kaspersky action:ban", "console")
    with pytest.raises(DuplicateSubscription, match=rf"^<#{CHANNEL}> already has this subscription") as dup:
        await on_server.add(A, "vendor:Kaspersky action:ban", f"discord:{CHANNEL}")
    assert dup.value.existing_id == theirs.id
    # A taken name: storage's unique index, as the same typed error (not a text match on SQLite's).
    with pytest.raises(DuplicateSubscription, match="a subscription named 'kl' exists already") as named:
        await on_console.add(CONSOLE, "huawei", "console", name="kl")
    assert named.value.existing_id is None
    # An invalid query is refused in both, with its position.
    for service, scope, target in ((on_console, CONSOLE, "console"), (on_server, A, f"discord:{CHANNEL}")):
        with pytest.raises(QueryError) as bad:
            await service.add(scope, "kaspersky AND (", target)
        assert bad.value.position >= 0
    # A server has a quota; the console none.
    await on_server.add(A, "huawei", f"discord:{CHANNEL}")
    with pytest.raises(UserError, match=r"the most allowed \(2\)"):
        await on_server.add(A, "zte", f"discord:{CHANNEL}")
    for n in range(3):
        await on_console.add(CONSOLE, f"word{n}", "console")
    assert len(await box.call(subscriptions.list_subscriptions)) == 6


async def test_listing_and_removing_see_only_the_scopes_own(box: Outbox, clock: Clock) -> None:
    service = subs(box, clock, console())
    on_console, _ = await service.add(CONSOLE, "huawei", "console")
    on_a, _ = await service.add(A, "huawei", f"discord:{CHANNEL}")

    assert [s.id for s in await service.list(CONSOLE)] == [on_console.id, on_a.id]  # the operator: all
    assert [s.id for s in await service.list(A)] == [on_a.id]
    assert await service.list(B) == []
    with pytest.raises(UserError, match=f"This server has no subscription with id {on_a.id}"):
        await service.remove(B, on_a.id)
    with pytest.raises(UserError, match=f"This server has no subscription with id {on_console.id}"):
        await service.remove(A, on_console.id)
    await service.remove(A, on_a.id)
    with pytest.raises(UserError, match=f"^no subscription with id {on_a.id}$"):
        await service.remove(CONSOLE, on_a.id)
    await service.remove(CONSOLE, on_console.id)
    assert await box.call(subscriptions.list_subscriptions) == []


async def test_preview_limits_are_the_scopes_own(box: Outbox, clock: Clock) -> None:
    await box.enqueue([], 20)  # 20 stored items of the shared source, no alerts
    on_console = subs(box, clock, console(preview_max_items=5))
    on_server = subs(box, clock, Limits(preview_max_items=8))

    with pytest.raises(UserError, match="days must be between 1 and 3650"):
        await on_console.preview(CONSOLE, "trump", 3651)
    with pytest.raises(UserError, match="days must be between 1 and 365"):
        await on_server.preview(A, "trump", 366)
    with pytest.raises(QueryError):
        await on_server.preview(A, "trump AND (")
    wide = await on_console.preview(CONSOLE, "the OR a OR trump", 3650, limit=50)
    narrow = await on_server.preview(A, "the OR a OR trump", 365, limit=50)
    assert (wide.scanned, wide.searched, wide.truncated) == (20, 5, True)
    assert (narrow.scanned, narrow.searched, narrow.truncated) == (20, 8, True)
    assert any("only the newest 5 candidate items" in n for n in wide.notes)


async def test_why_explains_in_each_scopes_words(box: Outbox, clock: Clock) -> None:
    service = subs(box, clock, console())
    sub, _ = await service.add(A, "trump", f"discord:{CHANNEL}")
    await box.enqueue(sub.id, 3)
    link = (await box.pending())[0].link
    assert link is not None

    for_server = await service.why(A, link)
    assert for_server.found and any(f"→ <#{CHANNEL}>" in line for line in for_server.lines)
    for_console = await service.why(CONSOLE, link, show=lambda text, _limit: text)
    assert for_console.found and any(f"→ discord:{CHANNEL}" in line for line in for_console.lines)
    other = await service.why(B, link, no_subscriptions="none here")
    assert other.lines[-1] == "none here"
    only_console = await service.why(CONSOLE, link, target="console")
    assert only_console.lines[-1] == "No subscriptions to explain."


# --- sources ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "kind", "detail"),
    [
        ("spec_rss2sample_nasa_liftoff.xml", "feed", "RSS feed with 4 items"),
        (KEV, "cisa_kev", "CISA KEV catalog with 246 items"),
        (FEDERAL_REGISTER, "federal_register", "Federal Register API answer with 37 items"),
        ("cisa_csaf_it_rolie_feed.json", "csaf_rolie", "CSAF ROLIE feed with"),
    ],
)
async def test_a_source_is_stored_with_the_kind_its_check_detected_in_both_scopes(
    box: Outbox, clock: Clock, fetcher: Fetcher, feed_server: FeedServer, fixture: str, kind: str, detail: str
) -> None:
    url = feed_server.serve_fixture("/doc", fixture)
    on_console = await SourceService(box.adb, fetcher, console(), clock=clock).add(CONSOLE, url)
    assert on_console.kind == kind and on_console.detail().startswith(detail)
    assert (on_console.source.kind, on_console.source.shared) == (kind, True)

    server_url = feed_server.serve_fixture("/server-doc", fixture)
    on_server = await SourceService(box.adb, fetcher, Limits(allow_private=True), clock=clock).add(
        A, server_url
    )
    assert on_server.kind == kind and on_server.source.guild_id == SERVER_A
    stored = await box.call(sources.get, on_server.source.id)
    assert stored is not None and (stored.kind, stored.shared) == (kind, False)


async def test_source_limits_and_visibility_are_the_scopes_own(
    box: Outbox, clock: Clock, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    url = feed_server.serve_fixture("/nasa.xml", "spec_rss2sample_nasa_liftoff.xml")
    on_console = SourceService(box.adb, fetcher, console(), clock=clock)
    on_server = SourceService(box.adb, fetcher, Limits(allow_private=True, max_sources=1), clock=clock)

    with pytest.raises(UserError, match="at least 5 seconds"):
        await on_console.add(CONSOLE, url, interval_seconds=4)
    with pytest.raises(UserError, match="at least 5 minutes"):
        await on_server.add(A, url, interval_seconds=299)
    with pytest.raises(ParseError):
        await on_console.add(CONSOLE, feed_server.serve_fixture("/page.html", "edge_not_a_feed.html"))
    unchecked = await on_console.add(CONSOLE, feed_server.url("/later.xml"), "Later", 5, check=False)
    assert (unchecked.kind, unchecked.checked, unchecked.source.interval_seconds) == ("feed", None, 5)
    assert feed_server.hits("/later.xml") == 0
    own = await on_server.add(A, url, interval_seconds=600)
    with pytest.raises(UserError, match=r"the most allowed \(1\)"):
        await on_server.add(A, feed_server.url("/other.xml"))

    # The console lists every source (a server's too); a server the catalog (none here) and its own.
    everything = {s.url for s in await on_console.visible(CONSOLE)}
    assert everything == {"https://www.theguardian.com/us-news/rss", feed_server.url("/later.xml"), url}
    assert await on_server.visible(B) == []
    assert [s.id for s in await on_server.visible(A)] == [own.source.id]
    with pytest.raises(UserError, match="no source of its own"):
        await on_server.remove(B, own.source.id)
    assert (await on_server.remove(A, own.source.id)) is not None
    assert await on_console.remove(CONSOLE, unchecked.source.id) is None
    with pytest.raises(UserError, match=f"^no source with id {unchecked.source.id}$"):
        await on_console.remove(CONSOLE, unchecked.source.id)


# --- schedules and settings ---------------------------------------------------------------------


async def test_schedules_and_settings_in_both_scopes(box: Outbox, clock: Clock) -> None:
    on_console = ScheduleService(box.adb, clock=clock, limits=console())
    on_server = ScheduleService(box.adb, clock=clock)
    mine = await box.subscribe(target="console")
    theirs = await box.subscribe(target=f"discord:{CHANNEL}", guild_id=SERVER_A)

    # The console may schedule any subscription; a server only its own.
    await on_console.set_timezone(CONSOLE, "Europe/Vilnius")
    schedule, tz = await on_console.schedule(CONSOLE, mine, "daily", "09:00")
    assert (schedule.is_digest, tz) == (True, "Europe/Vilnius")
    _, tz = await on_console.schedule(CONSOLE, theirs, "hourly", "00:15")
    assert tz == "UTC"  # its own server's zone
    with pytest.raises(UserError, match=f"no subscription {mine}"):
        await on_server.schedule(A, mine, "daily", "09:00")
    with pytest.raises(ScheduleError):
        await on_server.schedule(A, theirs, "daily", "25:00")
    assert await on_console.described(CONSOLE) == {
        mine: "daily digest at 09:00",
        theirs: "hourly digest at :15",
    }
    assert await on_server.described(A) == {theirs: "hourly digest at :15"}

    # Rate caps: the console may allow more than a server.
    assert await on_console.set_rate_limit(CONSOLE, 50, 60, 100_000) == RateCap(50, 60, 100_000)
    with pytest.raises(UserError, match="1-5 messages"):
        await on_server.set_rate_limit(A, 50, 60)
    with pytest.raises(UserError, match="10-10000 alerts"):
        await on_server.set_rate_limit(A, 5, 60, 100_000)
    await on_server.set_quiet_hours(A, "*", "22:00", "07:00")
    shown = await on_server.settings(A)
    assert (shown.timezone, [(q.target, q.start, q.end, q.urgent_bypass) for q in shown.quiet_hours]) == (
        "UTC",
        [("*", "22:00", "07:00", True)],
    )
    console_view = await on_console.settings(CONSOLE)
    assert (console_view.timezone, console_view.rate_cap, console_view.quiet_hours) == (
        "Europe/Vilnius",
        RateCap(50, 60, 100_000),
        [],
    )
