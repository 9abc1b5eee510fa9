"""The built-in source catalog: well-formed, every enabled kind supported, options usable."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from bot.config_files import load_sources, parse_sources
from bot.domain.errors import ParseError
from bot.sources.adapters import parse_document, supported_kinds


def raw_catalog() -> list[dict]:
    text = resources.files("bot.data").joinpath("sources.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["source"]


def test_at_least_fifteen_sources_ship_enabled_across_kinds():
    enabled = load_sources(None)
    assert len(enabled) >= 15
    assert {s.kind for s in enabled} == set(supported_kinds())


def test_every_disabled_source_says_why():
    text = resources.files("bot.data").joinpath("sources.toml").read_text(encoding="utf-8")
    for block in text.split("[[source]]")[1:]:
        if "enabled = false" in block:
            before = block.split("enabled = false")[0]
            assert "\n#" in before, f"no reason given for a disabled source: {block.splitlines()[1]}"


def test_no_host_is_polled_by_too_many_sources():
    hosts = Counter(s.url.split("/")[2] for s in load_sources(None))
    assert max(hosts.values()) <= 5, hosts


@pytest.mark.parametrize("source", [s for s in raw_catalog() if s["kind"] == "html"], ids=lambda s: s["name"])
def test_page_watch_selectors_are_valid_css(source):
    # An empty page: a valid selector matches nothing; an invalid one would say so instead.
    with pytest.raises(ParseError, match="matched nothing on the page"):
        parse_document("html", b"<html><body></body></html>", url=source["url"], options=source["options"])


def test_the_kev_source_has_its_mirror():
    [kev] = [s for s in load_sources(None) if s.kind == "cisa_kev"]
    assert kev.options["mirror"].startswith("https://raw.githubusercontent.com/cisagov/kev-data/")


def test_the_documented_source_examples_are_valid():
    page = (Path(__file__).parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in page.split("```toml\n")[1:] if "[[source]]" in b]
    assert blocks, "docs/sources.md has no sources example"
    configs = [c for block in blocks for c in parse_sources(block, "docs/sources.md")]
    assert {c.kind for c in configs} == set(supported_kinds())
    for config in configs:
        if config.kind == "html":
            with pytest.raises(ParseError, match="matched nothing"):
                parse_document("html", b"<html></html>", options=config.options)


def test_official_sources_declare_what_their_items_mean():
    by_name = {s.name: s.options for s in load_sources(None)}
    fcc = by_name["FCC Covered List"]
    assert (fcc["issuer"], fcc["jurisdiction"], fcc["action"]) == ("FCC", "US", "covered_list")
    bis = by_name["Federal Register: BIS rules and notices"]
    assert bis["body_agencies"] == ["industry-and-security-bureau"]
    [bis_url] = [s.url for s in load_sources(None) if s.name == "Federal Register: BIS rules and notices"]
    assert "%5Btype%5D%5B%5D=NOTICE" in bis_url and "%5Btype%5D%5B%5D=RULE" in bis_url
    assert by_name["UK NCSC"]["full_text"] is True
    assert "https://eur-lex.europa.eu/EN/display-feed.rss?rssId=222" in {s.url for s in load_sources(None)}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('action = "blacklist"', "not an action type"),
        ('issuer = ""', "options.issuer must be"),
        ("jurisdiction = 3", "options.jurisdiction must be"),
    ],
)
def test_malformed_semantics_are_configuration_errors(options, message):
    from bot.domain.errors import ConfigError

    text = f'[[source]]\nname = "x"\nurl = "https://x.example/f"\n[source.options]\n{options}\n'
    with pytest.raises(ConfigError, match=message):
        parse_sources(text, "test")
