"""What official sources mean, end to end: the FCC Covered List page and a BIS Entity List rule.

Real parts only: the loopback feed server serves the pages and the Federal Register answers,
`build_services` polls them twice (the first poll records, the second alerts) into a real
SQLite file, and `why` and previews read that file. Fixtures: tests/fixtures/pages/SOURCES.md,
tests/fixtures/documents/SOURCES.md, tests/fixtures/feeds/SOURCES.md (section 5).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.query import parse_query
from bot.domain.safetext import terminal
from bot.domain.vendors import VendorCatalog
from bot.services.insight import explain_link, preview
from bot.storage import items, subscriptions
from bot.storage.db import connect
from tests.helpers import local_settings, source_toml
from tests.test_cli import env_for

FIXTURES = Path(__file__).parent.parent / "fixtures"
FCC_PAGE = (FIXTURES / "pages" / "fcc_coveredlist_2024-09-03_trimmed.html").read_text(encoding="utf-8")
FR_SEARCH = FIXTURES / "documents" / "federalregister_search_bis_entity_list_2019-22210_derived.json"
FR_BODY = (FIXTURES / "documents" / "federalregister_2019-22210_body_trimmed.txt").read_bytes()
ADDED_2022 = re.compile(r"<tr><td>[^<]*</td><td>March 25, 2022</td></tr>\n")


def fcc_before() -> str:
    """The page before the March 25, 2022 addition: the same page without those three rows."""
    page, removed = ADDED_2022.subn("", FCC_PAGE)
    assert removed == 3
    return page


def fcc_after_with_edits() -> str:
    """The real page, plus a footnote on the Huawei row and its text re-wrapped: not a change."""
    return FCC_PAGE.replace(
        "produced by Huawei Technologies Company, including",
        "produced by Huawei   Technologies\n Company,<sup>1</sup> including",
    )


FCC_SUBS = """
[[subscription]]
name = "kaspersky"
query = 'vendor:Kaspersky'
[[subscription]]
name = "covered-list"
query = '"covered list"'
"""


async def poll_twice(settings, feed_server, path, before, after, content_type):
    out = io.StringIO()
    feed_server.set(path, before, content_type=content_type)
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as svc:
        [first] = await svc.scheduler.poll_all()
        feed_server.set(path, after, content_type=content_type)
        [second] = await svc.scheduler.poll_all()
        await svc.dispatcher.drain()
    return first, second, out.getvalue()


async def test_a_new_covered_list_row_alerts_through_its_page_context_and_why_works(tmp_path, feed_server):
    url = feed_server.url("/supplychain/coveredlist")
    options = {"selector": "table tbody tr", "issuer": "FCC", "jurisdiction": "US", "action": "covered_list"}
    settings = local_settings(tmp_path, source_toml("FCC Covered List", url, "html", options), FCC_SUBS)
    first, second, printed = await poll_twice(
        settings, feed_server, "/supplychain/coveredlist", fcc_before(), fcc_after_with_edits(), "text/html"
    )
    assert first.status == "primed" and first.entries == 3
    # Three rows added; the Huawei row's footnote and whitespace edit is not a new item.
    assert second.status == "new" and second.new_items == 3
    # Kaspersky's row alerts vendor:Kaspersky; the two others only name the page's context.
    assert second.alerts == 3
    assert "AO Kaspersky Lab" in printed and "China Mobile International USA" in printed

    db = connect(settings.database_path)
    stored = items.recent(db, datetime.now(UTC) - timedelta(days=1))
    kaspersky = next(it for it in stored if "AO Kaspersky Lab" in it.text)
    assert kaspersky.link is not None and "#:~:text=Information%20security%20products" in kaspersky.link
    assert (
        kaspersky.page_title
        == "List of Equipment and Services Covered By Section 2 of The Secure Networks Act"
    )
    assert kaspersky.heading == "Covered List"
    assert kaspersky.action == "covered_list"

    vendors = VendorCatalog.load_default()
    for query, expected in (
        ("vendor:Kaspersky action:any", 1),
        ('source:"covered list" AND vendor:Kaspersky', 1),
        ('source:"secure networks act"', 6),
    ):
        assert preview(stored, parse_query(query, vendors)).total == expected, query

    subs = subscriptions.list_subscriptions(db)
    why = explain_link(db, kaspersky.link, subs, vendors, 168, mention_channels=False, show=terminal)
    text = "\n".join(why.lines)
    assert why.found, text
    text = text.replace("\\", "")  # markdown escapes: the lines are shown in Discord too
    assert "Source context: issuer FCC (US), default action covered_list, listed on List of Equipment" in text
    assert "Classified as: covered list." in text
    assert "vendor:Kaspersky: 'AO Kaspersky Lab' in the row" in text
    assert "source declares: issuer FCC (US), default action covered_list" in text

    # The command a person runs, on the link the alert carried (a page URL with a text fragment).
    env = env_for(tmp_path, REGWATCH_SOURCES_FILE=str(tmp_path / "sources.toml"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "why", kaspersky.link,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "alerted at" in out.decode() and "'AO Kaspersky Lab' in the row" in out.decode()

    # A row recorded on the first poll: matched, not alerted, and where the phrase was found.
    huawei = next(it for it in stored if "Huawei" in it.text)
    why = explain_link(db, huawei.link or "", subs, vendors, 168, mention_channels=False, show=terminal)
    text = "\n".join(why.lines)
    assert "recorded on the source's first poll" in text
    assert "\"covered list\": 'Covered List' in the page context" in text, text

    mobile = next(it for it in stored if "China Mobile" in it.text)
    why = explain_link(db, mobile.link or "", subs, vendors, 168, mention_channels=False, show=terminal)
    text = "\n".join(why.lines)
    assert "\"covered list\": 'Covered List' in the page context" in text, text


async def test_without_the_page_context_no_phrase_of_the_page_finds_a_row(tmp_path, feed_server):
    # The same rows served as bare list items without title or heading: nothing names the list.
    rows = re.findall(r"<tr><td>([^<]*)</td>", FCC_PAGE)
    bare = "<html><body><ul>" + "".join(f"<li>{r}</li>" for r in rows) + "</ul></body></html>"
    before = "<html><body><ul>" + "".join(f"<li>{r}</li>" for r in rows[:3]) + "</ul></body></html>"
    url = feed_server.url("/list")
    settings = local_settings(tmp_path, source_toml("Bare", url, "html", {"selector": "li"}), FCC_SUBS)
    _, second, printed = await poll_twice(settings, feed_server, "/list", before, bare, "text/html")
    assert second.new_items == 3 and second.alerts == 1  # only vendor:Kaspersky
    assert "China Mobile" not in printed


def fr_answer(feed_server) -> bytes:
    doc = json.loads(FR_SEARCH.read_text())
    doc["results"][0]["raw_text_url"] = feed_server.url("/full_text/text/2019/10/09/2019-22210.txt")
    return json.dumps(doc).encode()


FR_SUBS = """
[[subscription]]
name = "hikvision"
query = 'vendor:Hikvision'
"""


async def poll_fr(tmp_path, feed_server, options):
    feed_server.set(
        "/full_text/text/2019/10/09/2019-22210.txt", FR_BODY, content_type="text/plain; charset=utf-8"
    )
    url = feed_server.url(
        "/api/v1/documents.json?conditions%5Bagencies%5D%5B%5D=industry-and-security-bureau"
    )
    # The rule is from 2019: let items of any age alert, as a replay does.
    settings = local_settings(
        tmp_path,
        source_toml("BIS rules", url, "federal_register", options),
        FR_SUBS,
        max_item_age_hours=24 * 3650,
    )
    empty = json.dumps({"count": 0, "description": "Documents from Industry and Security Bureau"})
    _, second, printed = await poll_twice(
        settings, feed_server, "/api/v1/documents.json", empty, fr_answer(feed_server), "application/json"
    )
    return settings, second, printed


async def test_an_entity_list_rule_alerts_a_vendor_named_only_in_its_body(tmp_path, feed_server):
    options = {
        "body_agencies": ["industry-and-security-bureau"],
        "min_interval_seconds": 0,
        "issuer": "BIS",
        "jurisdiction": "US",
        "action": "entity_list",
    }
    settings, second, printed = await poll_fr(tmp_path, feed_server, options)
    assert second.new_items == 1 and second.alerts == 1
    assert "FR Doc. 2019-22210" in printed
    assert feed_server.hits("/full_text/text/2019/10/09/2019-22210.txt") == 1  # new items only, once

    # The request asked for the fields an entry is made of.
    asked = [
        key_value
        for r in feed_server.requests_for("/api/v1/documents.json")
        for key_value in parse_qsl(r.query)
    ]
    fields = {value for key, value in asked if key == "fields[]"}
    assert {
        "title",
        "type",
        "abstract",
        "excerpts",
        "action",
        "agencies",
        "document_number",
        "raw_text_url",
    } <= fields

    db = connect(settings.database_path)
    [stored] = items.recent(db, datetime.now(UTC) - timedelta(days=1))
    head = stored.text.split(" — Full text: ")[0]
    assert "Hikvision" not in head and "Hikvision" in stored.text  # the summary names no entity
    subs = subscriptions.list_subscriptions(db)
    link = "https://www.federalregister.gov/documents/2019/10/09/2019-22210/addition-of-certain-entities-to-the-entity-list"
    why = explain_link(db, link, subs, VendorCatalog.load_default(), 10**6, mention_channels=False)
    text = "\n".join(why.lines).replace("\\", "")
    assert "vendor:Hikvision: 'Hikvision' in the body" in text, text
    assert "Source context: issuer BIS (US), default action entity_list." in text


async def test_without_body_agencies_the_body_is_never_fetched(tmp_path, feed_server):
    _, second, printed = await poll_fr(tmp_path, feed_server, {"min_interval_seconds": 0})
    assert second.new_items == 1 and second.alerts == 0 and printed == ""
    assert feed_server.hits("/full_text/text/2019/10/09/2019-22210.txt") == 0
    query = parse_qsl(feed_server.requests_for("/api/v1/documents.json")[-1].query)
    assert sum(1 for key, _ in query if key == "fields[]") >= 10
