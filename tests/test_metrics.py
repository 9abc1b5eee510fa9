"""The metrics object: counters from callbacks, gauges from the database, nothing shared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession, web
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.pipeline.poller import PollResult
from bot.storage import items, outbox, sources, subscriptions
from bot.storage.db import AsyncDatabase, connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.outbox import PendingAlert
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def pending(created: datetime) -> PendingAlert:
    return PendingAlert(
        id=1, target="console", attempts=0, subscription_id=1, subscription_label="s", query="q",
        mention_role_id=None, item_id=1, title="t", text="", link=None, published=None, action=None,
        source_name="src", source_url="https://a.example", terms=(), created_at=created,
    )  # fmt: skip


def test_polls_and_deliveries_are_counted_per_registry():
    first, second = Metrics(process=False), Metrics(process=False)
    first.observe_poll(PollResult(1, "a", "primed", entries=4, new_items=4, fetch_seconds=0.2))
    first.observe_poll(PollResult(1, "a", "new", entries=5, new_items=1, alerts=2, fetch_seconds=0.3))
    first.observe_poll(PollResult(2, "b", "failed", error="HTTP 500", fetch_seconds=1.5))
    first.observe_delivery(pending(NOW - timedelta(seconds=42)), "sent", NOW)
    first.observe_delivery(pending(NOW), "retry", NOW)

    assert sample(first, "regwatch_polls_total", outcome="primed") == 1
    assert sample(first, "regwatch_polls_total", outcome="new") == 1
    assert sample(first, "regwatch_polls_total", outcome="failed") == 1
    assert sample(first, "regwatch_polls_total", outcome="unchanged") == 0
    assert sample(first, "regwatch_fetch_duration_seconds_count") == 3
    assert sample(first, "regwatch_fetch_duration_seconds_bucket", le="1.0") == 2
    assert sample(first, "regwatch_items_seen_total") == 9
    assert sample(first, "regwatch_items_new_total") == 5
    assert sample(first, "regwatch_alerts_enqueued_total") == 2
    assert sample(first, "regwatch_deliveries_total", outcome="sent") == 1
    assert sample(first, "regwatch_deliveries_total", outcome="retry") == 1
    assert sample(first, "regwatch_delivery_latency_seconds_sum") == 42
    # A second service in the same process (tests do this all the time) starts from zero.
    assert sample(second, "regwatch_polls_total", outcome="primed") == 0
    assert sample(second, "regwatch_items_seen_total") == 0


async def test_exposition_reads_the_outbox_and_source_health_from_the_database(tmp_path):
    db = connect(tmp_path / "regwatch.db")
    ok = sources.add(db, SourceConfig("ok", "https://ok.example/feed"), NOW)
    failing = sources.add(db, SourceConfig("failing", "https://failing.example/feed"), NOW)
    sources.add(db, SourceConfig("new", "https://new.example/feed"), NOW)
    sub = subscriptions.add(db, "x", "console", NOW)
    new = [NewItem(f"i{n}", None, f"https://x.example/{n}", None, f"x/{n}", "t", "", NOW) for n in range(3)]
    alerts = [NewAlert(n, sub.id, "console", ()) for n in range(3)]
    items.store_poll(db, ok.id, NOW, NOW, new, alerts, etag=None, last_modified=None, body_hash=None)
    outbox.mark_sent(db, 1, NOW)
    outbox.mark_failed(db, 2, "refused")
    sources.record_failure(db, failing.id, NOW, "HTTP 500", NOW)
    adb = AsyncDatabase(db)
    try:
        text = (await Metrics(process=False).exposition(adb)).decode()
    finally:
        await adb.close()
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("regwatch_outbox_alerts", ("pending",))] == 1
    assert samples[("regwatch_outbox_alerts", ("sent",))] == 1
    assert samples[("regwatch_outbox_alerts", ("failed",))] == 1
    assert samples[("regwatch_sources", ("ok",))] == 1
    assert samples[("regwatch_sources", ("failing",))] == 1
    assert samples[("regwatch_sources", ("new",))] == 1
    assert samples[("regwatch_sources", ("disabled",))] == 0


async def test_the_discord_trace_counts_429_answers():
    answers = [429, 429, 200]

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"retry_after": 0.01}, status=answers.pop(0))

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    metrics = Metrics(process=False)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10/users/@me"
    try:
        async with ClientSession(trace_configs=[metrics.discord_trace()]) as session:
            for _ in range(3):
                async with session.get(url) as resp:
                    await resp.read()
    finally:
        await runner.cleanup()
    assert sample(metrics, "regwatch_discord_rate_limits_total") == 2
