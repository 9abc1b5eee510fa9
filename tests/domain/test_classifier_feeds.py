"""The classifier on every entry of the real fixture feeds, as the poller sees them (parsed by our
adapters): vulnerability catalogs, ICS advisories and general news are no actions; the Federal
Register documents that are actions are found."""

from collections import Counter

from bot.domain.classifier import classify_item
from bot.domain.vendors import VendorCatalog
from bot.sources.adapters import parse_any
from tests.helpers import FIXTURES

CATALOG = VendorCatalog.load_default()


def actions(name: str) -> Counter[str | None]:
    feed = parse_any((FIXTURES / name).read_bytes(), url=name)
    return Counter(classify_item(entry.title, entry.text, CATALOG).action for entry in feed.entries)


def test_vulnerability_catalogs_and_advisories_are_no_actions():
    # KEV entries cite "BOD 22-01 guidance" in their required action; ICS advisories are
    # "advisories" from CISA. Neither is an action against anyone.
    for name in (
        "cisa_kev_2025-08-25_truncated.json",
        "cisa_kev_2025-08-18_truncated.json",
        "cisa_csaf_ot_rolie_feed_truncated.json",
        "cisa_csaf_it_rolie_feed.json",
    ):
        assert set(actions(name)) == {None}, name


def test_general_news_is_almost_never_an_action():
    assert set(actions("news_heise_developer_2016.atom")) == {None}
    assert set(actions("news_macworld_no_guids.rss")) == {None}
    # One miss left: a "Related: CDC banned words ..." link under a resignation story.
    assert actions("news_guardian_us_2018.rss") == Counter({None: 54, "ban": 1})


def test_federal_register_actions_are_found():
    found = actions("federalregister_public_inspection_current.json")
    assert found == Counter({None: 92, "investigation": 4, "sanction": 2, "guidance": 2})
    assert actions("federalregister_document_single.json") == Counter({"directive": 1})
