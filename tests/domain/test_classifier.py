import pytest

from bot.domain.classifier import ACTION_TYPES, Classification, classify, classify_item
from bot.domain.vendors import VendorCatalog

CATALOG = VendorCatalog.load_default()


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("DHS Statement on the Issuance of Binding Operational Directive 17-01", "", "directive"),
        ("CISA issues Emergency Directive 24-02", "", "directive"),
        ("Agencies must act under ED 24-02 now", "", "directive"),
        ("Commerce adds 12 entities to the Entity List", "", "entity_list"),
        ("FCC adds Kaspersky to Covered List", "", "covered_list"),
        ("Treasury sanctions Kaspersky Lab executives", "", "sanction"),
        ("Commerce bans Kaspersky software sales in the US", "", "ban"),
        ("Lithuania prohibits Kaspersky products in critical infrastructure", "", "ban"),
        ("BSI warnt vor dem Einsatz von Kaspersky-Virenschutzprodukten", "", "guidance"),
        ("Минцифры ввело запрет на закупку", "", "ban"),
        ("SEC fined the company $10m", "", "fine"),
        ("Kaspersky uncovers new APT campaign targeting banks", "Researchers found malware.", None),
        ("Urban planning news", "nothing to see", None),
        ("Quarterly results", "The FCC issued guidance on supply chain risk.", "guidance"),
        ("Police open investigation into burglary", "Officers are investigating.", None),
        ("Continuation of U.S. Drug Interdiction Assistance", "", None),
        ("Meetings: Advisory Committee on Historical Documentation", "Notice — State Department.", None),
    ],
)
def test_classify(title, text, expected):
    assert classify(title, text) == expected


def test_action_types_cover_the_query_language():
    assert set(ACTION_TYPES) == {
        "ban",
        "directive",
        "sanction",
        "entity_list",
        "covered_list",
        "guidance",
        "fine",
        "investigation",
    }


def test_an_action_against_a_vendor_names_issuer_jurisdiction_target_and_severity():
    got = classify_item(
        "Commerce Department Prohibits Russian Kaspersky Software for U.S. Customers",
        "The Department of Commerce's Bureau of Industry and Security announced a Final Determination.",
        CATALOG,
    )
    assert (got.action, got.issuer, got.jurisdiction, got.targets, got.severity) == (
        "ban",
        "BIS",
        "US",
        ("Kaspersky",),
        "high",
    )
    assert (
        got.reasons[0] == 'action=ban: "prohibits" in title (score 5)'
    )  # + "final determination" (weak) in text
    assert 'target=Kaspersky: "kaspersky" in title' in got.reasons
    assert got.summary() == "ban · BIS (US) · against Kaspersky"


def test_a_vendor_research_post_is_no_action_against_the_vendor():
    got = classify_item(
        "Kaspersky warns of new Android banking trojan spreading through fake apps",
        "Kaspersky experts have discovered a new banking trojan.",
        CATALOG,
    )
    assert got == Classification(reasons=got.reasons)
    assert got.action is None and got.targets == ()


def test_a_vendor_reacting_to_an_action_is_not_its_target():
    got = classify_item("Kaspersky sues U.S. government over software ban", "", CATALOG)
    assert got.action is None
    assert got.reasons[0].startswith("no action: the title's subject Kaspersky reports or reacts")


def test_a_company_policy_is_no_regulatory_ban():
    got = classify_item("Facebook bans cryptocurrency adverts because so many are scams", "", CATALOG)
    assert got.action is None
    assert got.reasons == ('ban cue "bans" in title ignored: no issuer or regulatory context',)


def test_a_reporter_named_in_the_lead_is_not_a_target():
    got = classify_item(
        "CISA warns agencies about a botnet",
        "The agency cited findings by Kaspersky researchers and a Huawei router flaw.",
        CATALOG,
    )
    assert got.action == "guidance"
    assert got.targets == ("Huawei",)
    assert any(reason.startswith("Kaspersky not a target") for reason in got.reasons)


@pytest.mark.parametrize(
    ("title", "action", "issuer", "targets"),
    [
        ("美国商务部将华为列入实体清单", "entity_list", "BIS", ("Huawei",)),
        (
            "Україна запровадила санкції проти «Лабораторії Касперського»",
            "sanction",
            "Ukrainian government",
            ("Kaspersky",),
        ),
        (
            "Komisja Europejska zawiesza korzystanie z TikToka na służbowych urządzeniach",
            "ban",
            "EU Commission",
            ("ByteDance",),
        ),
        (
            "Lietuva uždraudė „Kaspersky Lab“ programinę įrangą",
            "ban",
            "Lithuanian government",
            ("Kaspersky",),
        ),
        (
            "Les États-Unis sanctionnent douze dirigeants de Kaspersky",
            "sanction",
            "US government",
            ("Kaspersky",),
        ),
        ("Роскомнадзор заблокировал LinkedIn в России", "ban", "Roskomnadzor", ()),
        ("Cookies : la CNIL sanctionne GOOGLE à hauteur de 150 millions d'euros", "fine", "CNIL", ()),
    ],
)
def test_multilingual_cues(title, action, issuer, targets):
    got = classify_item(title, "", CATALOG)
    assert (got.action, got.issuer, got.targets) == (action, issuer, targets)


def test_a_generic_blacklist_takes_the_issuers_list():
    got = classify_item("Xiaomi blacklisted by Pentagon over alleged China military ties", "", CATALOG)
    assert (got.action, got.issuer) == ("sanction", "US Department of Defense")


@pytest.mark.parametrize(
    ("title", "severity"),
    [
        ("FCC adds Kaspersky to Covered List", "high"),  # listing, issuer, vendor
        ("FCC adds three companies to Covered List", "medium"),  # no catalog vendor
        ("BSI warnt vor Kaspersky", "medium"),  # guidance against a vendor
        ("CISA releases guidance on memory safety", "low"),
        ("Commission opens formal proceedings", "medium"),
    ],
)
def test_severity_follows_type_issuer_and_target(title, severity):
    assert classify_item(title, "", CATALOG).severity == severity


def test_without_a_catalog_no_vendor_is_a_target():
    got = classify_item("FCC adds Kaspersky to Covered List", "", None)
    assert got.action == "covered_list" and got.targets == ()


def test_only_the_lead_of_a_long_text_counts():
    text = "Quarterly results were strong. " * 40 + "The ministry banned the product."
    assert classify_item("Results", text, CATALOG).action is None


def test_a_vulnerability_notice_is_no_action_unless_its_title_names_one():
    kev = classify_item(
        "CVE-2025-48384 — Git: Link Following Vulnerability",
        "Required action: Apply mitigations per vendor instructions, follow applicable BOD 22-01 guidance.",
        CATALOG,
    )
    assert kev.action is None
    # The KEV "BOD 22-01" sentence is boilerplate now, masked before the notice rule is reached.
    assert kev.reasons[0].endswith("ignored: a boilerplate paragraph")
    emergency = classify_item("ED 24-01: CVE-2023-46805 in Ivanti Connect Secure", "", CATALOG)
    assert emergency.action == "directive"
