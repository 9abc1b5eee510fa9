"""A poll is plan (writes nothing) then commit (writes what the plan found), on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.app import build_services
from bot.storage import sources
from tests.helpers import local_settings, rss_item, sources_toml, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SUBS = """
[[subscription]]
name = "kaspersky-actions"
query = 'vendor:Kaspersky'
[[subscription]]
name = "directives"
query = '"emergency directive" OR "binding operational directive"'
"""
BOD = rss_item(
    "CISA issues Binding Operational Directive on Kaspersky Lab's products",
    "https://www.cisa.gov/news/bod-kaspersky",
    guid="bod-kaspersky",
)
OTHER = rss_item("Agency publishes its annual report", "https://x.example/report", guid="report")


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, read through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


async def test_plan_writes_nothing_and_commit_stores_exactly_the_plan(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA))
    settings = local_settings(tmp_path, sources_toml(("F", feed_server.url("/f.xml"))), SUBS)
    async with build_services(settings) as services:
        await services.scheduler.poll_all()  # primes the source
        feed_server.set("/f.xml", with_items(NASA, BOD, OTHER))
        source = await services.adb.call(sources.get, 1)
        assert source is not None and source.primed
        before = snapshot(settings.database_path)

        plan = await services.poller.plan(source, every_match=True)
        assert snapshot(settings.database_path) == before  # fetched, parsed, matched: nothing written
        assert plan.status == "new" and sorted(it.title for it in plan.items) == [
            "Agency publishes its annual report",
            "CISA issues Binding Operational Directive on Kaspersky Lab's products",
        ]
        # Both subscriptions match the directive; one link alerts once per target.
        assert len(plan.matches) == 2 and len(plan.alerts) == 1
        # A real poll's plan has the same alerts, without listing every match.
        real = await services.poller.plan(source)
        assert real.matches == [] and real.alerts == plan.alerts and real.items == plan.items

        result = await services.poller.commit(plan)
        after = snapshot(settings.database_path)
        assert result.status == "new" and result.new_items == 2 and result.alerts == 1
        stored = [r for r in after["items"] if r not in before["items"]]
        conn = sqlite3.connect(settings.database_path)
        identities = {r[0] for r in conn.execute("SELECT identity FROM items WHERE first_poll = 0")}
        alerts = conn.execute("SELECT subscription_id, item_id, target FROM outbox").fetchall()
        item_of = dict(conn.execute("SELECT id, identity FROM items").fetchall())
        etag = conn.execute("SELECT etag, primed, last_error FROM sources WHERE id = 1").fetchone()
        conn.close()
        assert len(stored) == 2 and identities == {it.identity for it in plan.items}
        [alert] = plan.alerts
        assert [(s, item_of[i], t) for s, i, t in alerts] == [
            (alert.subscription_id, plan.items[alert.item_index].identity, alert.target)
        ]
        assert etag == (plan.etag, 1, None)


async def test_unchanged_and_failed_plans_write_only_when_committed(tmp_path, feed_server):
    feed_server.set("/f.xml", with_items(NASA), etag='"v1"')
    settings = local_settings(tmp_path, sources_toml(("F", feed_server.url("/f.xml"))), SUBS)
    async with build_services(settings) as services:
        await services.scheduler.poll_all()
        source = await services.adb.call(sources.get, 1)
        assert source is not None and source.etag == '"v1"'
        before = snapshot(settings.database_path)
        unchanged = await services.poller.plan(source)
        assert unchanged.status == "unchanged" and snapshot(settings.database_path) == before

        feed_server.set("/f.xml", b"gone", status=500, content_type="text/plain")
        failing = await services.poller.plan(source)
        assert failing.status == "failed" and "500" in (failing.error or "")
        assert snapshot(settings.database_path) == before

        await services.poller.commit(failing)
        after = await services.adb.call(sources.get, 1)
        assert after is not None and after.failures == 1 and "500" in (after.last_error or "")
        assert snapshot(settings.database_path)["items"] == before["items"]


async def test_a_round_keeps_to_the_per_host_setting(tmp_path, feed_server):
    # The server holds requests until 3 are in flight: a round over its limit shows more.
    urls = [(f"F{n}", feed_server.set(f"/f{n}.xml", with_items(NASA))) for n in range(8)]
    feed_server.hold_until_in_flight(3)
    settings = local_settings(tmp_path, sources_toml(*urls), SUBS, http_per_host=3, poll_concurrency=8)
    async with build_services(settings) as services:
        assert services.fetcher.per_host == 3
        results = await services.scheduler.poll_all()
    assert feed_server.gate_error is None, feed_server.gate_error
    assert [r.status for r in results] == ["primed"] * 8 and feed_server.max_in_flight == 3
