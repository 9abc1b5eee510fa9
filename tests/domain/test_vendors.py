"""The vendor catalog's legal instruments: phrases that name vendors, with a label."""

import pytest

from bot.domain.errors import ConfigError
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.query import parse_query
from bot.domain.vendors import VendorCatalog

TOML = """
[[vendor]]
name = "DJI"
[[vendor]]
name = "Autel"
[[instrument]]
label = "NDAA FY2025 s.1709"
vendors = ["DJI", "Autel"]
phrases = ["section 1709 of the 2025 NDAA"]
"""


def test_an_instrument_phrase_is_a_name_of_each_vendor_it_designates_but_resolves_no_vendor():
    catalog = VendorCatalog.from_toml_text(TOML)
    assert "section 1709 of the 2025 NDAA" in catalog.lookup("DJI").all_names
    assert "section 1709 of the 2025 NDAA" in catalog.lookup("Autel").all_names
    assert catalog.lookup("section 1709 of the 2025 NDAA") is None
    assert catalog.instrument_label("Section 1709 of the 2025 NDAA") == "NDAA FY2025 s.1709"


def test_an_instrument_must_name_catalog_vendors():
    with pytest.raises(ConfigError, match="not a catalog vendor"):
        VendorCatalog.from_toml_text(TOML.replace('["DJI", "Autel"]', '["DJI", "Nobody"]'))
    with pytest.raises(ConfigError, match="phrases must be"):
        VendorCatalog.from_toml_text(TOML.replace('["section 1709 of the 2025 NDAA"]', "[]"))


def test_the_built_in_catalog_cites_the_statutes_and_vendor_queries_expand_to_them():
    catalog = VendorCatalog.load_default()
    labels = {i.label: set(i.vendors) for i in catalog.instruments}
    assert labels["NDAA FY2019 s.889"] == {"Huawei", "ZTE", "Hytera", "Hikvision", "Dahua"}
    assert labels["NDAA FY2018 s.1634"] == {"Kaspersky"}
    assert labels["NDAA FY2025 s.1709"] == {"DJI", "Autel"}
    # Every phrase carries its statute: no bare "section 889".
    statute = (
        "National Defense Authorization Act",
        "NDAA",
        "FAR 52.",
        "ICTS",
        "Prohibition on",
        "Protecting",
    )
    assert all(any(s in p for s in statute) for i in catalog.instruments for p in i.phrases)
    term = parse_query("vendor:DJI", catalog).atoms()[0]
    assert "section 1709 of the FY25 NDAA" in term.aliases


@pytest.mark.parametrize(
    ("query", "title", "hit"),
    [
        (
            "vendor:DJI action:any",
            "all communications and video surveillance equipment and services listed in Section 1709(a)(1) "
            "of the FY25 National Defense Authorization Act",
            True,
        ),
        ("vendor:Hikvision", "Contractors must comply with section 889 of the FY 2019 NDAA.", True),
        ("vendor:Hikvision", "Section 889 of the Internal Revenue Code", False),
        ("vendor:Kaspersky", "48 CFR 4.2002 cites FAR 52.204-23.", True),
    ],
)
def test_the_matcher_finds_a_vendor_through_the_instrument_that_names_it(query, title, hit):
    catalog = VendorCatalog.load_default()
    matcher = Matcher([(1, parse_query(query, catalog))])
    assert bool(matcher.match(MatchDoc(title, "", "FCC Covered List", action="covered_list"))) is hit
