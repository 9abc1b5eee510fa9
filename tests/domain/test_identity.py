from datetime import UTC, datetime

import pytest

from bot.domain.identity import assign_identities, canonical_link, link_key
from bot.domain.models import Entry


def entry(guid=None, link=None, title="t", published=None, text=""):
    return Entry(guid=guid, link=link, title=title, text=text, published=published)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.heise.de/developer/meldung/x-123.html?wt_mc=rss.developer.beitrag.atom",
            "https://www.heise.de/developer/meldung/x-123.html",
        ),
        ("HTTPS://Example.COM:443/a?utm_source=x&id=7#frag", "https://example.com/a?id=7"),
        ("http://example.com:8080/a?b=1&fbclid=zz", "http://example.com:8080/a?b=1"),
        ("http://example.com", "http://example.com/"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_canonical_link_removes_tracking_and_noise(url, expected):
    assert canonical_link(url) == expected


def test_link_key_ignores_scheme_and_www():
    assert link_key("http://www.example.com/news/1?utm_medium=rss") == link_key("https://example.com/news/1")
    assert link_key("https://example.com/news/1") != link_key("https://example.com/news/2")


def test_identity_prefers_guid_then_link_then_title_published():
    when = datetime(2024, 7, 23, tzinfo=UTC)
    ids = assign_identities(
        [
            entry(guid="g1", link="https://a/1"),
            entry(link="https://a/2"),
            entry(title="No link", published=when),
        ]
    )
    assert ids[0] == "guid:g1"
    assert ids[1] == "link:https://a/2"
    assert ids[2].startswith("tp:")


def test_repeated_guid_falls_back_to_link():
    # A feed that gives every item the same guid: the guid cannot identify an item.
    ids = assign_identities([entry(guid="same", link="https://a/1"), entry(guid="same", link="https://a/2")])
    assert ids == ["link:https://a/1", "link:https://a/2"]


def test_repeated_link_falls_back_to_title_and_date():
    ids = assign_identities([entry(link="https://a/", title="one"), entry(link="https://a/", title="two")])
    assert ids[0].startswith("tp:") and ids[1].startswith("tp:") and ids[0] != ids[1]


def test_identical_entries_share_one_identity():
    twin = entry(link="https://a/", title="same", text="x")
    ids = assign_identities([twin, twin])
    assert ids[0] == ids[1] and ids[0].startswith("hash:")


def test_identity_is_stable_across_polls():
    entries = [entry(guid=None, link=f"https://a/{i}?utm_source=rss") for i in range(3)]
    assert assign_identities(entries) == assign_identities(list(entries))


def test_text_fragments_survive_canonicalisation_other_fragments_do_not():
    row = "https://www.fcc.gov/supplychain/coveredlist#:~:text=Information%20security%20products"
    assert canonical_link(row) == row
    assert canonical_link("https://www.fcc.gov/supplychain/coveredlist#main") == (
        "https://www.fcc.gov/supplychain/coveredlist"
    )
    assert link_key(row) != link_key("https://www.fcc.gov/supplychain/coveredlist")


def test_a_text_fragment_has_one_spelling():
    page = "https://www.fcc.gov/supplychain/coveredlist"
    ours = canonical_link(page + "#:~:text=Date%20of%20Inclusion%20March%2025%2C%202022")
    pasted = canonical_link(page + "#:~:text=Date of Inclusion March 25,%202022")
    assert ours == pasted
    assert canonical_link(page + "#:~:text=2021-03-12") == page + "#:~:text=2021%2D03%2D12"
