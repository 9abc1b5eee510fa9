import pytest

from bot.domain.classifier import ACTION_TYPES, classify


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
        ("Quarterly results", "The agency issued guidance on supply chain risk.", "guidance"),
    ],
)
def test_classify(title, text, expected):
    assert classify(title, text) == expected


def test_action_types_cover_the_query_language():
    assert set(ACTION_TYPES) >= {
        "ban",
        "directive",
        "sanction",
        "entity_list",
        "guidance",
        "fine",
        "investigation",
    }
