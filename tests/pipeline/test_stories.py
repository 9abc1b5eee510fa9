"""One alert per story, and an explanation with every alert, through the real pipeline."""

from __future__ import annotations

import io
import json

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from tests.helpers import local_settings, rss_item, sources_toml, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SUBS = """
[[subscription]]
name = "kaspersky"
query = 'vendor:Kaspersky'
"""
# Real headlines of one story from three outlets (tests/data/story_headlines.json).
COPIES = [
    ("VOA", "US sanctions 12 Kaspersky Lab leaders", "https://voanews.example/us-sanctions-12-kaspersky"),
    (
        "SiliconANGLE",
        "US Treasury sanctions 12 Kaspersky executives",
        "https://siliconangle.example/p/661677",
    ),
    (
        "BleepingComputer",
        "US sanctions 12 Kaspersky Lab execs for working in Russian tech sector",
        "https://bleeping.example/us-sanctions-12-kaspersky-lab-execs",
    ),
]


def settings_for(tmp_path, feed_server, names, **extra):
    feeds = sources_toml(*((n, feed_server.url("/" + n + ".xml")) for n in names))
    return local_settings(tmp_path, feeds, SUBS, **extra)


async def prime(services, feed_server, names):
    for name in names:
        feed_server.set(f"/{name}.xml", with_items(NASA))
    await services.scheduler.poll_all()


async def test_story_from_three_outlets_is_one_alert_plus_two_additions(tmp_path, feed_server):
    names = [name for name, _, _ in COPIES]
    out = io.StringIO()
    async with build_services(
        settings_for(tmp_path, feed_server, names), sinks={"console": ConsoleSink(out)}
    ) as services:
        await prime(services, feed_server, names)
        for name, title, link in COPIES:
            feed_server.set(f"/{name}.xml", with_items(NASA, rss_item(title, link)))
        results = await services.scheduler.poll_all()
        assert sum(r.alerts for r in results) == 3  # one alert and two additions enqueued
        drained = await services.dispatcher.drain()
        assert drained.sent == 3

        printed = out.getvalue()
        assert printed.count("ALERT [kaspersky]") == 1
        assert printed.count("ALSO REPORTED BY") == 2
        rows = services.adb.db.execute("SELECT id, story_of FROM outbox ORDER BY id").fetchall()
        first = rows[0][0]
        assert rows[0][1] is None and [r[1] for r in rows[1:]] == [first, first]

        # A different story about the same vendor, later the same day, is an alert of its own.
        other = rss_item(
            "Biden to ban Kaspersky sales over its ties to Russia - Reuters", "https://reuters.example/ban"
        )
        feed_server.set("/VOA.xml", with_items(NASA, rss_item(*COPIES[0][1:]), other))
        await services.scheduler.poll_all()
        await services.dispatcher.drain()
        assert out.getvalue().count("ALERT [kaspersky]") == 2
        assert "Biden to ban Kaspersky sales" in out.getvalue().split("ALERT [kaspersky]")[-1]


async def test_story_window_zero_alerts_every_copy(tmp_path, feed_server):
    names = [name for name, _, _ in COPIES]
    out = io.StringIO()
    settings = settings_for(tmp_path, feed_server, names, story_window_hours=0)
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await prime(services, feed_server, names)
        for name, title, link in COPIES:
            feed_server.set(f"/{name}.xml", with_items(NASA, rss_item(title, link)))
        await services.scheduler.poll_all()
        await services.dispatcher.drain()
        assert out.getvalue().count("ALERT [kaspersky]") == 3


async def test_each_alert_stores_its_explanation(tmp_path, feed_server):
    out = io.StringIO()
    async with build_services(
        settings_for(tmp_path, feed_server, ["CISA"]), sinks={"console": ConsoleSink(out)}
    ) as services:
        await prime(services, feed_server, ["CISA"])
        title = "CISA issues Binding Operational Directive on AO Kaspersky Lab products"
        feed_server.set("/CISA.xml", with_items(NASA, rss_item(title, "https://cisa.example/bod")))
        await services.scheduler.poll_all()
        [(raw,)] = services.adb.db.execute("SELECT explanation FROM outbox").fetchall()
        record = json.loads(raw)
        assert record["terms"] == [
            {
                "term": "vendor:Kaspersky",
                "field": "title",
                "matched": "AO Kaspersky Lab",
                "alias": "AO Kaspersky Lab",
            }
        ]
        assert record["classifier"]["action"] == "directive"
        classifier = record["classifier"]
        assert classifier["reasons"][0].startswith(
            'action=directive: "binding operational directive" in title'
        )
        assert classifier["issuer"] == "DHS/CISA" and classifier["jurisdiction"] == "US"
        assert "Kaspersky" in classifier["targets"]
