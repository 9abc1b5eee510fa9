"""The csaf_rolie adapter on CISA's real CSAF ROLIE feeds (OT truncated, IT complete)."""

from __future__ import annotations

import json
import re

import pytest

from bot.domain.errors import ParseError
from bot.domain.identity import assign_identities
from bot.sources.adapters import parse_document
from tests.helpers import fixture_bytes

OT = "cisa_csaf_ot_rolie_feed_truncated.json"
IT = "cisa_csaf_it_rolie_feed.json"


def rolie(body: bytes):
    return parse_document("csaf_rolie", body, url="https://raw.githubusercontent.com/cisagov/CSAF/feed.json")


def test_ot_feed_entries_carry_the_advisory_id():
    feed = rolie(fixture_bytes(OT))
    assert feed.title == "CISA CSAF OT feed (TLP:WHITE)" and len(feed.entries) == 120
    first = feed.entries[0]
    assert first.guid == "ICSA-24-298-03"
    assert first.title == "ICSA-24-298-03 — Deep Sea Electronics DSE855"
    assert first.link == (
        "https://raw.githubusercontent.com/cisagov/CSAF/develop/csaf_files/OT/white/2024/icsa-24-298-03.json"
    )
    assert first.published.isoformat() == "2024-10-24T06:00:00+00:00"
    assert len(set(assign_identities(feed.entries))) == 120


def test_a_revised_advisory_keeps_its_identity_and_first_date():
    """An "Update A" re-dates the advisory; it must not look like a new one."""
    data = json.loads(fixture_bytes(OT))
    raw = next(e for e in data["feed"]["entry"] if e["id"] == "ICSA-24-156-01")
    entry = next(e for e in rolie(fixture_bytes(OT)).entries if e.guid == "ICSA-24-156-01")
    assert raw["updated"] != raw["published"] and entry.title.endswith("(Update A)")
    assert entry.published.isoformat() == "2024-06-04T06:00:00+00:00"
    assert entry.text.endswith("published 2024-06-04, last updated 2024-09-24.")
    # The same advisory before its revision: same title id, same identity, same link.
    before = data | {"feed": data["feed"] | {"entry": [raw | {"updated": raw["published"]}]}}
    [original] = rolie(json.dumps(before).encode()).entries
    assert (original.guid, original.link) == (entry.guid, entry.link)


def test_it_feed_link_rels_spelled_ref_are_not_taken_for_the_document():
    feed = rolie(fixture_bytes(IT))
    assert [e.guid for e in feed.entries][:2] == ["VA-24-254-02", "VA-24-262-01"]
    assert all(e.link and e.link.endswith(".json") for e in feed.entries)
    assert feed.entries[0].title.startswith("VA-24-254-02 — TopQuadrant TopBraid EDG")


def test_without_a_self_link_the_content_source_is_the_link():
    data = json.loads(fixture_bytes(IT))
    raw = data["feed"]["entry"][0]
    raw["link"] = [link for link in raw["link"] if link.get("rel") != "self"]
    [entry, *_] = rolie(json.dumps(data).encode()).entries
    assert entry.link == raw["content"]["src"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"feed": {"entry": {}}}', "JSON but not a CSAF ROLIE feed (top-level keys: feed)"),
        (fixture_bytes("cisa_kev_schema.json"), "JSON but not a CSAF ROLIE feed"),
        (b"<html></html>", "not a CSAF ROLIE feed: the server sent HTML"),
    ],
)
def test_what_is_not_a_rolie_feed_is_refused(body, reason):
    with pytest.raises(ParseError, match=re.escape(reason)):
        rolie(body)
