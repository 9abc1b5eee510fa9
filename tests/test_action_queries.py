"""`action:` queries end to end: `regwatch match` and the poll pipeline fill the action field
from the classifier, so `vendor:X action:any` and `action:ban` select the right items."""

from __future__ import annotations

import asyncio
import io
import json
import sys

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.settings import load_settings
from tests.helpers import rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
SUBS = """
[[subscription]]
name = "kaspersky-actions"
query = 'vendor:Kaspersky action:any'
[[subscription]]
name = "bans"
query = 'action:ban'
[[subscription]]
name = "kaspersky-all"
query = 'vendor:Kaspersky'
"""
BAN = "Commerce Department Prohibits Russian Kaspersky Software for U.S. Customers"
RESEARCH = "Kaspersky uncovers Equation Group, the 'crown creator of cyber-espionage'"
LISTING = "FCC Expands List of Equipment and Services That Pose Security Threat"
LISTING_TEXT = "The FCC today added AO Kaspersky Lab and China Telecom (Americas) Corp. to the Covered List."


def items() -> list[str]:
    return [
        rss_item(
            BAN, "https://www.bis.gov/kaspersky", description="The Bureau of Industry and Security acted."
        ),
        rss_item(
            RESEARCH, "https://securelist.example/equation", description="Kaspersky researchers found it."
        ),
        rss_item(LISTING, "https://www.fcc.gov/covered", description=LISTING_TEXT),
    ]


async def test_match_fills_the_action_field_and_action_queries_select(tmp_path):
    (tmp_path / "subs.toml").write_text(SUBS)
    feed = tmp_path / "feed.xml"
    feed.write_bytes(with_items(NASA, *items()))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "match", "--subscriptions", str(tmp_path / "subs.toml"), str(feed),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    rows = [json.loads(line) for line in out.decode().splitlines()]
    got = {(r["subscription"], r["title"]): r["action"] for r in rows}
    assert got == {
        ("kaspersky-actions", BAN): "ban",
        ("kaspersky-actions", LISTING): "covered_list",
        ("bans", BAN): "ban",
        ("kaspersky-all", BAN): "ban",
        ("kaspersky-all", RESEARCH): None,
        ("kaspersky-all", LISTING): "covered_list",
    }


async def test_the_poll_pipeline_alerts_action_queries_with_the_action(tmp_path, feed_server):
    feed_server.set("/feed.xml", with_items(NASA))
    (tmp_path / "sources.toml").write_text(
        f'[[source]]\nname = "news"\nurl = "{feed_server.url("/feed.xml")}"\n'
    )
    (tmp_path / "subs.toml").write_text(SUBS)
    settings = load_settings(
        database_path=tmp_path / "regwatch.db",
        sources_file=tmp_path / "sources.toml",
        subscriptions_file=tmp_path / "subs.toml",
        allow_private_networks=True,
    )
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()  # first poll: records, alerts nothing
        feed_server.set("/feed.xml", with_items(NASA, *items()))
        [result] = await services.scheduler.poll_all()
        await services.dispatcher.drain()
    assert result.new_items == 3
    alerts = [block for block in out.getvalue().split("\n\n") if block.strip()]
    # One alert per (target, link): the console target gets each matching item once.
    by_title = {next(t for t in (BAN, RESEARCH, LISTING) if t in block): block for block in alerts}
    assert set(by_title) == {BAN, RESEARCH, LISTING}
    assert "action: ban" in by_title[BAN]
    assert "action: covered_list" in by_title[LISTING]
    assert "action:" not in by_title[RESEARCH]
    assert "[kaspersky-all]" in by_title[RESEARCH]
