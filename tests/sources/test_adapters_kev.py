"""The cisa_kev adapter and the mirror fallback, on the two real KEV snapshots."""

from __future__ import annotations

import io
import json
import re

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.errors import FetchError, ParseError
from bot.sources.adapters import parse_document
from bot.sources.cisa_kev import kev_title
from bot.sources.fallback import fetch_with_mirror
from bot.sources.http import Fetcher, HTTPStatusError
from tests.helpers import fixture_bytes, local_settings, source_toml

OLD = "cisa_kev_2025-08-18_truncated.json"
NEW = "cisa_kev_2025-08-25_truncated.json"
NEW_CVES = {"CVE-2025-48384", "CVE-2024-8068", "CVE-2024-8069", "CVE-2025-43300"}


def kev(name: str):
    return parse_document("cisa_kev", fixture_bytes(name), url="https://www.cisa.gov/kev.json")


def test_every_entry_is_identified_by_its_cve():
    feed = kev(NEW)
    assert len(feed.entries) == 250 and feed.title.endswith("2025.08.25")
    assert all(e.guid and e.guid.startswith("CVE-") for e in feed.entries)
    assert len({e.guid for e in feed.entries}) == 250
    git = feed.entries[0]
    assert git.title == "CVE-2025-48384 — Git: Link Following Vulnerability"
    assert git.link == "https://nvd.nist.gov/vuln/detail/CVE-2025-48384"
    assert git.published is not None and git.published.isoformat() == "2025-08-25T00:00:00+00:00"
    assert git.text.startswith("Git contains a link following vulnerability")
    assert "Required action: Apply mitigations" in git.text and "Due date: 2025-09-15." in git.text


def test_titles_carry_the_cve_and_drop_repeated_vendor_names():
    titles = {e.guid: e.title for e in kev(NEW).entries}
    assert (
        titles["CVE-2024-8068"]
        == "CVE-2024-8068 — Citrix Session Recording: Improper Privilege Management Vulnerability"
    )
    assert (
        titles["CVE-2025-43300"]
        == "CVE-2025-43300 — Apple iOS, iPadOS, and macOS: Out-of-Bounds Write Vulnerability"
    )
    # A name that does not repeat the vendor and product stays whole.
    assert kev_title("CVE-1-2", "Acme", "Widget", "Remote Code Execution") == (
        "CVE-1-2 — Acme Widget: Remote Code Execution"
    )
    assert kev_title("CVE-1-2", "", "", "") == "CVE-1-2"


def test_ransomware_use_is_said_in_the_text():
    known = [e for e in kev(NEW).entries if "ransomware campaigns" in e.text]
    raw = json.loads(fixture_bytes(NEW))["vulnerabilities"]
    assert len(known) == sum(v["knownRansomwareCampaignUse"] == "Known" for v in raw) > 0


def test_the_two_snapshots_differ_by_exactly_the_four_new_cves():
    old = {e.guid for e in kev(OLD).entries}
    new = {e.guid for e in kev(NEW).entries}
    assert new - old == NEW_CVES and old <= new


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b"<!DOCTYPE html><html><title>Access Denied</title></html>",
            "not a KEV catalog: the server sent HTML",
        ),
        (b'{"vulnerabilities": {}}', "JSON but not a KEV catalog (top-level keys: vulnerabilities)"),
        (b"[]", "JSON but not a KEV catalog (a top-level list)"),
        (fixture_bytes(NEW)[:5000], "invalid JSON"),
        (b"", "empty document"),
    ],
)
def test_what_is_not_a_catalog_is_refused_in_words(body, reason):
    with pytest.raises(ParseError, match=re.escape(reason)):
        parse_document("cisa_kev", body)


SUBS = """
[[subscription]]
name = "citrix"
query = 'citrix'
"""


async def test_second_poll_yields_exactly_the_four_new_cves(tmp_path, feed_server):
    """The real poller path: sources file kind = cisa_kev, first poll primes, second finds four."""
    url = feed_server.serve_fixture("/kev.json", OLD)
    # The fixture CVEs were added in 2025; widen the age window so the new ones may alert.
    settings = local_settings(
        tmp_path, source_toml("CISA KEV", url, "cisa_kev"), SUBS, max_item_age_hours=24 * 3650
    )
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        [first] = await services.scheduler.poll_all()
        assert first.status == "primed" and first.new_items == 246 and first.alerts == 0

        feed_server.serve_fixture("/kev.json", NEW)
        [second] = await services.scheduler.poll_all()
        assert second.status == "new" and second.entries == 250 and second.new_items == 4
        # The two Citrix CVEs match; each has its own link, so each alerts.
        assert second.alerts == 2
        drained = await services.dispatcher.drain()
        assert drained.sent == 2
        printed = out.getvalue()
        assert "CVE-2024-8068 — Citrix Session Recording" in printed
        assert "CVE-2024-8069 — Citrix Session Recording" in printed

        [third] = await services.scheduler.poll_all()
        assert third.status == "unchanged" and third.new_items == 0


# -- mirror fallback -----------------------------------------------------------------------------


@pytest.fixture
async def fetcher():
    async with Fetcher(user_agent="regwatch-test", timeout=5, allow_private=True) as f:
        yield f


async def test_a_refused_primary_falls_back_to_the_mirror(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    mirror = feed_server.serve_fixture("/mirror/kev.json", NEW)
    feed_server.fail("/kev.json", 403)
    fetched = await fetch_with_mirror(fetcher, primary, {"mirror": mirror})
    assert fetched.url == mirror and fetched.status == 200
    assert len(parse_document("cisa_kev", fetched.body).entries) == 250
    assert [r.status for r in feed_server.requests] == [403, 200]


async def test_the_mirror_answers_conditional_requests_too(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    mirror = feed_server.serve_fixture("/mirror/kev.json", NEW)
    feed_server.fail("/kev.json", 403)
    fetched = await fetch_with_mirror(
        fetcher, primary, {"mirror": mirror}, etag=feed_server.etag("/mirror/kev.json")
    )
    assert fetched.not_modified and fetched.url == mirror


async def test_the_primary_is_used_when_it_answers(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    mirror = feed_server.serve_fixture("/mirror/kev.json", OLD)
    fetched = await fetch_with_mirror(fetcher, primary, {"mirror": mirror})
    assert fetched.url == primary and feed_server.hits("/mirror/kev.json") == 0


async def test_other_failures_are_not_a_reason_to_use_the_mirror(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    mirror = feed_server.serve_fixture("/mirror/kev.json", NEW)
    feed_server.fail("/kev.json", 500)
    with pytest.raises(HTTPStatusError, match="HTTP 500") as caught:
        await fetch_with_mirror(fetcher, primary, {"mirror": mirror})
    assert caught.value.status == 500 and feed_server.hits("/mirror/kev.json") == 0


async def test_a_refusal_without_a_mirror_is_reported_as_it_is(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    feed_server.fail("/kev.json", 403)
    with pytest.raises(FetchError, match=r"^HTTP 403 Forbidden$"):
        await fetch_with_mirror(fetcher, primary, {})


async def test_when_both_fail_the_error_names_both(feed_server, fetcher):
    primary = feed_server.serve_fixture("/kev.json", NEW)
    feed_server.fail("/kev.json", 403)
    with pytest.raises(FetchError, match=r"^HTTP 403 Forbidden; the mirror failed too: HTTP 404 Not Found$"):
        await fetch_with_mirror(fetcher, primary, {"mirror": feed_server.url("/nowhere.json")})


# Passes once the poller fetches through fetch_with_mirror (see bot/sources/fallback.py); strict,
# so the run says so as soon as it does and the marker can go.
async def test_the_poller_reads_the_mirror_when_the_primary_refuses(tmp_path, feed_server):
    primary = feed_server.serve_fixture("/kev.json", OLD)
    mirror = feed_server.serve_fixture("/mirror/kev.json", OLD)
    feed_server.fail("/kev.json", 403, times=2)
    sources = source_toml("CISA KEV", primary, "cisa_kev", {"mirror": mirror})
    settings = local_settings(tmp_path, sources, SUBS, max_item_age_hours=24 * 3650)
    async with build_services(settings) as services:
        [first] = await services.scheduler.poll_all()
        assert first.status == "primed" and first.new_items == 246
        feed_server.serve_fixture("/mirror/kev.json", NEW)
        [second] = await services.scheduler.poll_all()
        assert second.status == "new" and second.new_items == 4
    assert [r.status for r in feed_server.requests] == [403, 200, 403, 200]
