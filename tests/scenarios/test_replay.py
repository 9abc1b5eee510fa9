"""Every real event of tests/scenarios alerts as labelled; negatives stay silent (docs/replay.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.harness import (
    Scenario,
    load_scenarios,
    parse_alerts,
    replay,
    sources_toml,
    vendor_names,
    vendor_subscription,
)

SCENARIOS = load_scenarios()

# Scenarios that regwatch misses today, each with the reason: a strict xfail, so a fix shows up as
# an XPASS that fails the run until its line goes. None at the moment.
KNOWN_MISSES: dict[str, str] = {}


def _param(scenario: Scenario) -> object:
    reason = KNOWN_MISSES.get(scenario.slug)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(scenario, id=scenario.slug, marks=marks)


def test_the_suite_covers_what_the_issue_asks():
    positives = [s for s in SCENARIOS if not s.negative]
    negatives = [s for s in SCENARIOS if s.negative]
    assert len(positives) >= 15
    assert len(negatives) >= 5
    assert len({s.jurisdiction for s in positives}) >= 6
    assert set(KNOWN_MISSES) <= {s.slug for s in SCENARIOS}
    for s in SCENARIOS:
        assert s.provenance and all(p.startswith(("https://", "http://")) for p in s.provenance), s.slug
        assert s.vendors, s.slug


def test_expected_vendors_are_catalog_vendors_or_named_as_missing():
    catalog = vendor_names()
    unknown = {v for s in SCENARIOS for v in s.vendors if v not in catalog}
    assert not unknown, f"expected vendors missing from bot/data/vendors.toml: {unknown}"


def test_console_alerts_are_parsed_with_their_label_and_action():
    output = (
        "ALERT [va-kaspersky] FCC Covered List (127.0.0.1) · no date\n"
        "  Information security products ... AO Kaspersky Lab ...\n"
        "  matched: Kaspersky Lab · action: ban\n"
        "\n"
        "ALSO REPORTED BY DHS news (127.0.0.1) [starter] · same story as alert 1: X\n"
        "  Y\n"
        "\n"
        "polled 1 sources (0 failed); recorded 1 new items; delivered 2 alerts.\n"
    )
    alerts = parse_alerts(output)
    assert [(a.label, a.action) for a in alerts] == [("va-kaspersky", "ban"), ("starter", None)]
    assert alerts[0].title.startswith("Information security products")


def test_probe_files_quote_multiword_vendors_and_point_the_source_at_loopback():
    assert 'query = "vendor:\\"China Mobile\\" action:any"' in vendor_subscription("China Mobile")
    scenario = next(s for s in SCENARIOS if s.kind == "federal_register")
    text = sources_toml(scenario, "http://127.0.0.1:9")
    assert 'url = "http://127.0.0.1:9/api/v1/documents.json?' in text
    assert 'kind = "federal_register"' in text


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS])
async def test_scenario_alerts_as_labelled(scenario: Scenario, tmp_path: Path):
    result = await replay(scenario, tmp_path)
    assert result.new_items, "the second poll stored nothing new: the before/after pair is broken"
    assert result.passed, "\n".join(result.failures())
