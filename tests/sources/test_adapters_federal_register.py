"""The federal_register adapter on real API responses, and pagination through the local server.

Variants are derived from the real search response (results removed, results split into pages,
a next_page_url added); nothing else is made up.
"""

from __future__ import annotations

import json
import re

import pytest

from bot.app import build_services
from bot.domain.errors import FetchError, ParseError
from bot.sources.adapters import parse_document
from bot.sources.federal_register import FIELDS, fetch_all_pages, fr_title, with_fields
from bot.sources.http import Fetcher
from tests.helpers import fixture_bytes, local_settings, source_toml

SEARCH = "federalregister_documents_search_presidential_truncated.json"
INSPECTION = "federalregister_public_inspection_current.json"
API = "https://www.federalregister.gov/api/v1/documents.json?conditions%5Bterm%5D=x&order=newest"


def fr(body: bytes, url: str = API):
    return parse_document("federal_register", body, url=url, content_type="application/json")


def search() -> dict:
    return json.loads(fixture_bytes(SEARCH))


def test_search_results_carry_the_document_number_in_the_title():
    feed = fr(fixture_bytes(SEARCH))
    assert feed.title == "Federal Register: Documents signed by Donald Trump"
    assert len(feed.entries) == 37 and feed.next_url is None
    assert [e.guid for e in feed.entries] == [r["document_number"] for r in search()["results"]]
    first = feed.entries[0]
    assert first.title == (
        "FR Doc. 2020-17784 — Extension of the Use of the National Guard To Respond to COVID-19 "
        "and To Facilitate Economic Recovery"
    )
    assert first.link.startswith("https://www.federalregister.gov/documents/2020/08/12/2020-17784/")
    assert first.published.isoformat() == "2020-08-12T00:00:00+00:00"
    assert first.text == "Presidential Document (Memorandum) — Executive Office of the President."


def test_executive_orders_name_their_number():
    titles = {e.guid: e.title for e in fr(fixture_bytes(SEARCH)).entries}
    assert titles["2019-10538"] == (
        "FR Doc. 2019-10538 — Securing the Information and Communications Technology and Services "
        "Supply Chain (E.O. 13873)"
    )
    assert titles["2020-17699"].startswith("FR Doc. 2020-17699 — Addressing the Threat Posed by TikTok")
    assert titles["2020-17699"].endswith("(E.O. 13942)")


def test_abstract_and_action_become_the_text():
    [rule, directive] = fr(fixture_bytes("federalregister_documents_multi_by_number.json")).entries
    assert (
        rule.title
        == "FR Doc. 2020-17393 — Treatment of Payments to Charitable Entities in Return for Consideration"
    )
    assert rule.text.startswith("Rule — Treasury Department, Internal Revenue Service. Final regulations. ")
    assert "section 170(c)" in rule.text
    assert directive.guid == "2020-17469"


def test_a_single_document_has_no_envelope():
    [doc] = fr(fixture_bytes("federalregister_document_single.json")).entries
    assert doc.guid == "2020-17469" and doc.title.startswith("FR Doc. 2020-17469 — Airworthiness Directives")


def test_search_excerpts_stand_in_for_a_missing_abstract():
    data = search()
    data["results"] = [
        data["results"][0] | {"excerpts": 'ban on <span class="match">Kaspersky</span> &hellip;'}
    ]
    [entry] = fr(json.dumps(data).encode()).entries
    assert entry.text.endswith("ban on Kaspersky …")


def test_excerpts_are_kept_beside_an_abstract():
    # The excerpts show where a search term hit, often deep in the body the abstract leaves out.
    data = search()
    multi = json.loads(fixture_bytes("federalregister_documents_multi_by_number.json"))
    with_abstract = multi["results"][0]
    assert with_abstract["abstract"]
    data["results"] = [
        with_abstract | {"excerpts": 'entries for <span class="match">Hikvision</span> &hellip;'}
    ]
    [entry] = fr(json.dumps(data).encode()).entries
    assert "section 170(c)" in entry.text and entry.text.endswith("Excerpts: entries for Hikvision …")


def test_excerpts_that_repeat_the_abstract_are_not_added_twice():
    data = search()
    multi = json.loads(fixture_bytes("federalregister_documents_multi_by_number.json"))
    doc = multi["results"][0]
    data["results"] = [doc | {"excerpts": doc["abstract"][:80]}]
    [entry] = fr(json.dumps(data).encode()).entries
    assert "Excerpts:" not in entry.text


def test_requests_name_the_fields_an_entry_needs():
    search_url = "https://www.federalregister.gov/api/v1/documents.json?conditions%5Bterm%5D=kaspersky"
    url = with_fields(search_url)
    assert url.startswith(search_url + "&fields%5B%5D=title&fields%5B%5D=type")
    assert all(f"fields%5B%5D={name}" in url for name in FIELDS)
    assert with_fields(url) == url  # fields chosen already: left alone
    inspection = "https://www.federalregister.gov/api/v1/public-inspection-documents/current.json"
    assert with_fields(inspection) == inspection


def test_bodies_are_offered_only_for_the_agencies_a_source_names():
    documents = __import__("pathlib").Path(__file__).parents[1] / "fixtures" / "documents"
    answer = (documents / "federalregister_search_bis_entity_list_2019-22210_derived.json").read_bytes()
    [plain] = fr(answer).entries
    assert plain.body_url is None
    [bis] = parse_document(
        "federal_register",
        answer,
        url=API,
        content_type="application/json",
        options={"body_agencies": ["industry-and-security-bureau"]},
    ).entries
    assert (
        bis.body_url == "https://www.federalregister.gov/documents/full_text/text/2019/10/09/2019-22210.txt"
    )
    [other] = parse_document(
        "federal_register",
        answer,
        url=API,
        content_type=None,
        options={"body_agencies": ["foreign-assets-control-office"]},
    ).entries
    assert other.body_url is None


def test_public_inspection_filings_date_from_when_they_were_filed():
    feed = fr(
        fixture_bytes(INSPECTION),
        url="https://www.federalregister.gov/api/v1/public-inspection-documents/current.json",
    )
    assert len(feed.entries) == 100 and len({e.guid for e in feed.entries}) == 100
    first = feed.entries[0]
    assert first.guid == "2020-17086"
    assert first.title.startswith("FR Doc. 2020-17086 — Medicare Program: Changes to Hospital Outpatient")
    # filed_at 2020-08-04T08:45:00-04:00; it publishes on 2020-08-12.
    assert first.published.isoformat() == "2020-08-04T12:45:00+00:00"
    assert (
        "Filed for public inspection 2020-08-04 12:45 UTC (special filing). Publishes 2020-08-12."
        in first.text
    )
    # The link is the future document's page: the published document, from the documents search,
    # will carry the same link, so a channel is alerted once for both.
    assert first.link.startswith("https://www.federalregister.gov/documents/2020/08/12/2020-17086/")


def test_a_filing_without_a_title_is_titled_from_its_subjects():
    data = json.loads(fixture_bytes(INSPECTION))
    raw = data["results"][0] | {"title": None}
    [entry] = fr(json.dumps({"count": 1, "results": [raw]}).encode()).entries
    assert entry.title == f"FR Doc. 2020-17086 — {raw['subject_1']} {raw['subject_2']}"


def test_an_empty_search_omits_results_and_is_no_error():
    data = search()
    del data["results"]
    data.update(count=0, total_pages=0)
    feed = fr(json.dumps(data).encode())
    assert feed.entries == [] and feed.next_url is None


def test_a_count_without_results_is_an_error():
    data = search()
    del data["results"]
    with pytest.raises(ParseError, match="count 962 but has no results"):
        fr(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b"<html><title>Just a moment...</title></html>",
            "not a Federal Register API response: the server sent HTML",
        ),
        (
            b'{"errors": {"per_page": ["too big"]}}',
            "JSON but not a Federal Register API response (top-level keys: errors)",
        ),
        (b'{"count": 1, "results": {}}', "'results' is not a list"),
    ],
)
def test_what_is_not_an_api_response_is_refused_in_words(body, reason):
    with pytest.raises(ParseError, match=re.escape(reason)):
        fr(body)


def test_the_title_keeps_what_it_has():
    assert fr_title("2024-1", "") == "FR Doc. 2024-1"
    assert fr_title("", "Some rule") == "Some rule"
    assert fr_title("", "") == "Federal Register document"


# -- pagination ----------------------------------------------------------------------------------


def pages(feed_server, *sizes: int) -> list[dict]:
    """Publish the real results split into pages of `sizes`, linked by next_page_url; return them."""
    data = search()
    results = data.pop("results")
    published, start = [], 0
    for n, size in enumerate(sizes, 1):
        page = dict(data, results=results[start : start + size], total_pages=len(sizes))
        if n < len(sizes):
            page["next_page_url"] = feed_server.url(f"/documents.json?page={n + 1}")
        feed_server.set(f"/documents.json?page={n}", json.dumps(page), content_type="application/json")
        published.append(page)
        start += size
    return published


@pytest.fixture
async def fetcher():
    async with Fetcher(user_agent="regwatch-test", timeout=5, allow_private=True) as f:
        yield f


async def test_all_pages_are_fetched_in_order(feed_server, fetcher):
    [page1, *_] = pages(feed_server, 20, 10, 7)
    first = feed_server.url("/documents.json?page=1")
    one = fr(json.dumps(page1).encode(), url=first)
    assert len(one.entries) == 20 and one.next_url == feed_server.url("/documents.json?page=2")
    feed = await fetch_all_pages(fetcher, first, max_pages=5)
    assert [e.guid for e in feed.entries] == [r["document_number"] for r in search()["results"]]
    assert feed.next_url is None
    assert [r.path_qs for r in feed_server.requests] == [f"/documents.json?page={n}" for n in (1, 2, 3)]


async def test_pages_stop_at_the_cap_and_say_where_more_remain(feed_server, fetcher):
    pages(feed_server, 20, 10, 7)
    feed = await fetch_all_pages(fetcher, feed_server.url("/documents.json?page=1"), max_pages=2)
    assert len(feed.entries) == 30 and feed.next_url == feed_server.url("/documents.json?page=3")
    assert feed_server.hits("/documents.json?page=3") == 0


async def test_a_next_page_on_another_host_is_never_followed(feed_server, fetcher):
    data = search() | {"next_page_url": "https://elsewhere.example/documents.json?page=2"}
    url = feed_server.set("/documents.json", json.dumps(data), content_type="application/json")
    feed = await fetch_all_pages(fetcher, url, max_pages=5)
    assert len(feed.entries) == 37 and feed.next_url is None and len(feed_server.requests) == 1


async def test_a_page_that_points_back_ends_the_walk(feed_server, fetcher):
    [_, page2] = pages(feed_server, 20, 17)
    first = feed_server.url("/documents.json?page=1")
    feed_server.set(
        "/documents.json?page=2",
        json.dumps(page2 | {"next_page_url": first}),
        content_type="application/json",
    )
    feed = await fetch_all_pages(fetcher, first, max_pages=10)
    assert len(feed.entries) == 37 and feed.next_url is None
    assert len(feed_server.requests) == 2


async def test_a_failing_later_page_fails_the_whole_fetch(feed_server, fetcher):
    pages(feed_server, 20, 17)
    feed_server.fail("/documents.json?page=2", 500)
    with pytest.raises(FetchError, match="HTTP 500"):
        await fetch_all_pages(fetcher, feed_server.url("/documents.json?page=1"), max_pages=5)


async def test_a_later_page_that_is_not_json_fails_the_whole_fetch(feed_server, fetcher):
    pages(feed_server, 20, 17)
    feed_server.set("/documents.json?page=2", "<html>maintenance</html>", content_type="text/html")
    with pytest.raises(ParseError, match="server sent HTML"):
        await fetch_all_pages(fetcher, feed_server.url("/documents.json?page=1"), max_pages=5)


# Passes once the poller follows ParsedFeed.next_url with follow_pages; strict, so the run says so
# as soon as it does and the marker can go.
async def test_the_poller_reads_every_page_of_a_search(tmp_path, feed_server):
    pages(feed_server, 20, 10, 7)
    url = feed_server.url("/documents.json?page=1")
    settings = local_settings(tmp_path, source_toml("FR", url, "federal_register"), "")
    async with build_services(settings) as services:
        [first] = await services.scheduler.poll_all()
        assert first.status == "primed" and first.entries == 37 and first.new_items == 37
