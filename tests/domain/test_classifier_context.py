"""Classifier v2 (issue 12): source context, legal instruments, boilerplate, issuers, languages."""

import pytest

from bot.domain.classifier import classify_item
from bot.domain.models import SourceContext
from bot.domain.vendors import VendorCatalog

CATALOG = VendorCatalog.load_default()
COVERED_LIST = SourceContext(
    issuer="FCC",
    jurisdiction="US",
    action="covered_list",
    title="List of Equipment and Services Covered By Section 2 of The Secure Networks Act",
)
# The FCC Covered List row for Kaspersky (2022-03-25): no action word in it.
KASPERSKY_ROW = (
    "Information security products, solutions, and services supplied, directly or indirectly, by AO "
    "Kaspersky Lab or any of its predecessors, successors, parents, subsidiaries, or affiliates."
)


def test_a_row_of_a_source_that_declares_an_action_is_that_action():
    assert classify_item(KASPERSKY_ROW, "", CATALOG).action is None  # without its source: nothing
    got = classify_item(KASPERSKY_ROW, "", CATALOG, COVERED_LIST)
    assert (got.action, got.issuer, got.jurisdiction, got.targets) == (
        "covered_list",
        "FCC",
        "US",
        ("Kaspersky",),
    )
    assert got.reasons[0].startswith("action=covered_list: action from the source (FCC: List of Equipment")
    assert "issuer=FCC (US): declared by the source" in got.reasons


def test_the_text_names_another_issuer_or_a_strong_action_over_the_declared_ones():
    bis = SourceContext(issuer="BIS", jurisdiction="US", action="entity_list")
    got = classify_item("Final Determination: Case No. ICTS-2021-002, Kaspersky Lab, Inc.", "", CATALOG, bis)
    assert got.action == "ban"  # a STRONG cue of the item's own beats the source's default
    named = classify_item(
        "Commission européenne: liste", "", CATALOG, SourceContext(issuer="X", action="guidance")
    )
    assert (named.action, named.issuer) == ("guidance", "EU Commission")


def test_the_page_title_and_heading_are_context_text_not_targets():
    pspf = SourceContext(jurisdiction="AU", title="Protective Security Directions under the PSPF")
    got = classify_item(
        "Direction 001-2023",
        "PSPF 001-2023 restricts the use of the TikTok application on government devices.",
        CATALOG,
        pspf,
    )
    assert (got.action, got.issuer, got.targets) == ("directive", "Australian government", ("ByteDance",))
    feed = SourceContext(title="Kaspersky Daily", heading="Huawei news")
    assert classify_item("Regulator bans the sale of routers", "", CATALOG, feed).targets == ()


def test_no_context_keeps_the_old_behaviour():
    title, text = "Lithuania prohibits Kaspersky products in critical infrastructure", ""
    assert classify_item(title, text, CATALOG) == classify_item(title, text, CATALOG, None)
    assert classify_item(title, text, CATALOG, SourceContext()).action == "ban"


@pytest.mark.parametrize(
    ("title", "vendors", "label"),
    [
        (
            "all communications and video surveillance equipment and services listed in Section 1709(a)(1) "
            "of the FY25 National Defense Authorization Act",
            ("DJI", "Autel"),
            "NDAA FY2025 s.1709",
        ),
        (
            "Section 889 of the John S. McCain National Defense Authorization Act for Fiscal Year 2019 "
            "equipment",
            ("Huawei", "ZTE", "Hytera", "Hikvision", "Dahua"),
            "NDAA FY2019 s.889",
        ),
    ],
)
def test_a_cited_instrument_names_its_vendors_with_a_label(title, vendors, label):
    got = classify_item(title, "", CATALOG, COVERED_LIST)
    assert set(got.targets) == set(vendors)
    assert all(any(r.startswith(f"target={v} via {label}") for r in got.reasons) for v in vendors), (
        got.reasons
    )


def test_a_bare_section_number_names_no_vendor():
    got = classify_item("FCC bans equipment under section 889 of the Communications Act", "", CATALOG)
    assert got.action == "ban" and got.targets == ()


def test_the_kev_boilerplate_does_not_make_a_directive_against_the_vendor():
    text = (
        "CISA has added one new vulnerability to its Known Exploited Vulnerabilities Catalog, based on "
        "evidence of active exploitation. Binding Operational Directive (BOD) 22-01: Reducing the "
        "Significant Risk of Known Exploited Vulnerabilities established the Known Exploited "
        "Vulnerabilities Catalog. BOD 22-01 requires FCEB agencies to remediate identified vulnerabilities."
    )
    got = classify_item("CISA Adds One Known Exploited Vulnerability to Catalog: TP-Link", text, CATALOG)
    assert got.action is None and got.targets == ()
    # The directive itself, named in a title, is still a directive.
    assert classify_item("CISA issues BOD 22-01 to federal agencies", "", CATALOG).action == "directive"


@pytest.mark.parametrize(
    ("title", "text", "action", "issuer"),
    [
        ("Canada orders wind up of TikTok's Canadian business", "", "ban", "Canadian government"),
        (
            "Minister Anand announces a ban",
            "Today, the President of the Treasury Board announced a ban.",
            "ban",
            "Treasury Board of Canada",
        ),
        ("Texas Gov Abbott adds Chinese companies to 'prohibited' tech list", "", "ban", "Texas"),
        (
            "Voorzorgsmaatregel uitfaseren gebruik antivirussoftware Kaspersky Lab",
            "Het kabinet heeft besloten.",
            "ban",
            "Dutch government",
        ),
        ("Il Garante privacy blocca DeepSeek in Italia", "", "ban", "Garante"),
        ("Reino Unido prohíbe TikTok en dispositivos gubernamentales", "", "ban", "UK government"),
        ('개인정보위 "딥시크 앱 신규 설치, 국내서 잠정 중단"', "", "ban", "PIPC"),
        ("LINEヤフー情報漏えい問題 総務省 経営体制に踏み込む行政指導", "", "guidance", "MIC"),
    ],
)
def test_v2_cues_and_issuers(title, text, action, issuer):
    got = classify_item(title, text, CATALOG)
    assert (got.action, got.issuer) == (action, issuer), got.reasons


def test_a_question_title_announces_nothing():
    got = classify_item(
        "What is Section 889 of the FY 2019 NDAA?", "It included a prohibition on federal agencies.", CATALOG
    )
    assert got.action is None


def test_a_state_inside_an_organisation_name_is_not_the_issuer():
    assert classify_item("Texas Instruments fined $5 million by SEC", "", CATALOG).issuer is None
    assert classify_item("Texas bans TikTok on state devices", "", CATALOG).issuer == "Texas"
