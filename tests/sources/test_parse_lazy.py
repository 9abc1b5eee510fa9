"""Parse once, convert only what is new: lazily converted entries give the eager answers."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot.app import build_services
from bot.domain.identity import assign_identities
from bot.sources import parse as parse_module
from bot.sources.entries import LazyEntries, identities_of
from bot.sources.parse import parse_feed
from tests.helpers import local_settings, rss_item, sources_toml, with_items

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
# Real captures taking the fast path: guids unique, no guids at all, two guids in one item,
# items without titles, gzip + windows-1251.
FAST = [
    "edge_aktuality_sk_image_inside_item.rss",
    "edge_biorxiv_rss10.rdf",
    "edge_gzip_windows1251_userland_ns.rss.gz",
    "edge_item_with_two_guid_elements.rss",
    "edge_monkeydom_guid_permalink_false_claim.rss",
    "edge_scriptingnews_items_without_titles.rss",
    "news_guardian_us_2018.rss",
    "news_heise_developer_2016.atom",
    "news_macworld_no_guids.rss",
    "spec_rss2sample_nasa_liftoff.xml",
]


@pytest.mark.parametrize("name", FAST)
def test_lazy_identities_and_entries_equal_the_eager_ones(name):
    body = (FIXTURES / name).read_bytes()
    lazy = parse_feed(body, url="https://example.org/feed").entries
    assert isinstance(lazy, LazyEntries)
    ids = identities_of(lazy)
    eager = list(parse_feed(body, url="https://example.org/feed").entries)
    assert ids == assign_identities(eager)
    assert list(lazy) == eager and lazy == eager


def _counting(monkeypatch):
    calls = {"text": 0, "title": 0}
    real_text, real_title = parse_module._Item.text, parse_module._Item.title_text

    def text(self):
        calls["text"] += 1
        return real_text(self)

    def title_text(self):
        calls["title"] += 1
        return real_title(self)

    monkeypatch.setattr(parse_module._Item, "text", text)
    monkeypatch.setattr(parse_module._Item, "title_text", title_text)
    return calls


def test_unique_guids_give_identities_without_converting_anything(monkeypatch):
    calls = _counting(monkeypatch)
    entries = parse_feed((FIXTURES / "news_guardian_us_2018.rss").read_bytes()).entries
    identities_of(entries)
    assert calls == {"text": 0, "title": 0}
    entries[3]
    assert calls == {"text": 1, "title": 1}
    assert isinstance(entries, LazyEntries) and entries.converted() == 1


def test_slices_stay_lazy_and_compare_by_value():
    entries = parse_feed((FIXTURES / "news_guardian_us_2018.rss").read_bytes()).entries
    head = entries[:5]
    assert isinstance(head, LazyEntries) and len(head) == 5 and head.converted() == 0
    assert head == list(entries)[:5]


async def test_a_poll_converts_only_its_new_items(tmp_path, feed_server, monkeypatch):
    nasa = "spec_rss2sample_nasa_liftoff.xml"
    feed_server.set("/f.xml", with_items(nasa))
    settings = local_settings(tmp_path, sources_toml(("F", feed_server.url("/f.xml"))))
    calls = _counting(monkeypatch)
    async with build_services(settings) as services:
        [first] = await services.scheduler.poll_all()
        assert first.new_items == 4 and calls["text"] == 4  # a first poll: everything is new
        calls["text"] = 0
        feed_server.set(
            "/f.xml", with_items(nasa, rss_item("Kaspersky ban", "https://x.example/k", guid="k"))
        )
        [second] = await services.scheduler.poll_all()
        assert (second.entries, second.new_items) == (5, 1)
        assert calls["text"] == 1  # the 4 known items were identified by guid, never converted


def test_parsed_feed_survives_pickling_for_a_worker_process():
    # A worker process returns the ParsedFeed pickled; conversion then happens in the receiver.
    body = (FIXTURES / "news_macworld_no_guids.rss").read_bytes()
    feed = parse_feed(body)
    feed.entries[0]  # one converted before pickling, the rest not
    copy = pickle.loads(pickle.dumps(feed))
    assert identities_of(copy.entries) == identities_of(feed.entries)
    assert list(copy.entries) == list(feed.entries) and copy == feed
