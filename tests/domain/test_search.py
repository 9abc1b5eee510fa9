"""Search covers: which terms a search source asks a server for, per query."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.domain.errors import ConfigError
from bot.domain.query import parse_query
from bot.domain.search import search_cover, search_text, term_sets
from bot.domain.vendors import VendorCatalog
from bot.sources.search import check_template, search_url

CATALOG = VendorCatalog.load_default()


@pytest.mark.parametrize(
    ("query", "cover"),
    [
        ("Kaspersky", ("kaspersky",)),
        ('"DHS directive"', ("dhs directive",)),
        ("vendor:Kaspersky", ("kaspersky",)),  # the catalog name, not every alias
        ("vendor:Kaspersky action:any", ("kaspersky",)),
        ("Kaspersky AND (ban OR prohibit*)", ("kaspersky",)),  # AND: its smallest part
        ("(ban OR prohibit*) AND Kaspersky", ("kaspersky",)),
        (
            '"emergency directive" OR "binding operational directive"',
            ("binding operational directive", "emergency directive"),
        ),
        ("title:Huawei -rumour", ("huawei",)),
        ("Huawei NEAR/5 ban", ("huawei",)),  # NEAR: either side; the first of equal size
        ("action:ban", None),  # nothing to search for
        ("Kaspersky -ban", ("kaspersky",)),
        ("Kaspersky OR action:ban", None),  # an OR with an unsearchable part cannot be covered
        ("a OR b OR c OR d OR e OR f", None),  # too broad
        ("Straße", ("strasse",)),  # folded like the matcher folds
    ],
)
def test_search_cover(query: str, cover: tuple[str, ...] | None) -> None:
    assert search_cover(parse_query(query, CATALOG).root) == cover


def test_term_sets_count_shared_covers_once() -> None:
    roots = [
        parse_query(q, CATALOG).root for q in ("vendor:Kaspersky", "Kaspersky AND ban", "action:ban", "ZTE")
    ]
    assert term_sets(roots) == Counter({("kaspersky",): 2, ("zte",): 1})


def test_search_text_and_url_encoding() -> None:
    terms = ("binding operational directive", "kaspersky")
    assert search_text(terms) == '"binding operational directive" OR kaspersky'
    template = (
        "https://www.federalregister.gov/api/v1/documents.json?conditions%5Bterm%5D={terms}&order=newest"
    )
    url = search_url(template, terms, {"join": " | "})
    assert url.endswith("conditions%5Bterm%5D=%22binding+operational+directive%22+%7C+kaspersky&order=newest")
    # A term cannot break out of its quotes or the query string.
    assert (
        search_url("https://x.example/s?q={terms}", ('a"&b=c d',), {})
        == "https://x.example/s?q=%22a+%26b%3Dc+d%22"
    )


@pytest.mark.parametrize(
    ("url", "options", "reason"),
    [
        ("https://x.example/s?q=kaspersky", {}, "must contain {terms} once"),
        ("https://x.example/s?q={terms}&r={terms}", {}, "must contain {terms} once"),
        ("https://x.example/s?q={terms}", {"parse_as": "search"}, "parse_as must name another kind"),
        ("https://x.example/s?q={terms}", {"max_queries": -1}, "max_queries must be a number"),
        ("https://x.example/s?q={terms}", {"min_interval_seconds": "soon"}, "min_interval_seconds must be"),
    ],
)
def test_bad_search_templates_are_refused_with_the_reason(url: str, options: dict, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        check_template(url, options)


def test_every_starter_subscription_has_a_search_cover_and_no_short_prefix():
    # Search sources run only for queries with a cover; `ban*` matched "Banbury".
    from bot.config_files import load_subscriptions
    from bot.domain.query import Prefix, parse_query
    from bot.domain.search import search_cover
    from bot.domain.vendors import VendorCatalog

    vendors = VendorCatalog.load_default()
    starter = load_subscriptions(None, vendors)
    catalog = {v.name for v in vendors}
    named: set[str] = set()
    for name, text, _parsed in starter:
        query = parse_query(text, vendors)
        assert not query.warnings, (name, query.warnings)
        assert search_cover(query.root) is not None, name
        assert "Prefix(" not in repr(query.root) and not isinstance(query.root, Prefix), name
        named |= {v for v in catalog if f"vendor:{v}" in text or f'vendor:"{v}"' in text}
    # Every vendor of the catalog is in some starter subscription.
    assert named == catalog
