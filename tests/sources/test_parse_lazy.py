"""Parse once, convert only what is new: lazily converted entries give the eager answers."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot.app import build_services
from bot.domain.identity import assign_identities, canonical_link, link_key
from bot.pipeline.fresh import select_new
from bot.sources import parse as parse_module
from bot.sources.entries import LazyEntries, NotSent, Preselected, identities_of, preselect
from bot.sources.parse import parse_feed
from bot.sources.workers import InThread
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
        # The worker knew the 4 items of the last document: it converted and sent only the new
        # one, so this process converted nothing (a pool) or that one only (threads).
        assert calls["text"] == (1 if isinstance(services.workers, InThread) else 0)


def test_a_preselection_sends_only_the_entries_not_known(monkeypatch):
    body = (FIXTURES / "news_guardian_us_2018.rss").read_bytes()
    everything = identities_of(parse_feed(body).entries)
    calls = _counting(monkeypatch)
    feed = preselect(set(everything[1:]), parse_feed, body)
    assert calls["text"] == 1  # only the entry not known was converted
    entries = feed.entries
    assert isinstance(entries, Preselected) and entries.sent_count() == 1
    assert identities_of(entries) == everything and len(entries) == len(everything)
    copy = pickle.loads(pickle.dumps(entries))
    entry, canonical, key = copy.sent(0)
    assert entry == parse_feed(body).entries[0]
    assert (canonical, key) == (canonical_link(entry.link), link_key(entry.link))
    with pytest.raises(NotSent):
        copy[1]
    with pytest.raises(NotSent):
        select_new(copy, everything, set())  # the stored set calls new what was not sent
    assert [n.identity for n in select_new(copy, everything, set(everything[1:]))] == everything[:1]


async def test_a_wrong_hint_parses_again_and_loses_nothing(tmp_path, feed_server):
    nasa = "spec_rss2sample_nasa_liftoff.xml"
    kaspersky = rss_item("Kaspersky ban", "https://x.example/k", guid="k")
    feed_server.set("/f.xml", with_items(nasa, kaspersky))
    settings = local_settings(tmp_path, sources_toml(("F", feed_server.url("/f.xml"))))
    async with build_services(settings) as services:
        [first] = await services.scheduler.poll_all()
        assert first.new_items == 5
        # The stored set forgets one item the last document held (as pruning would).
        await services.adb.call(lambda db: db.execute("DELETE FROM items WHERE identity = 'guid:k'"))
        feed_server.set(
            "/f.xml", with_items(nasa, rss_item("Huawei ban", "https://x.example/h", guid="h"), kaspersky)
        )
        [second] = await services.scheduler.poll_all()
        assert (second.status, second.entries, second.new_items) == ("new", 6, 2)
        stored = await services.adb.call(
            lambda db: {r[0] for r in db.execute("SELECT identity FROM items").fetchall()}
        )
        assert {"guid:h", "guid:k"} <= stored and len(stored) == 6


def test_parsed_feed_survives_pickling_for_a_worker_process():
    # A worker process returns the ParsedFeed pickled; conversion then happens in the receiver.
    body = (FIXTURES / "news_macworld_no_guids.rss").read_bytes()
    feed = parse_feed(body)
    feed.entries[0]  # one converted before pickling, the rest not
    copy = pickle.loads(pickle.dumps(feed))
    assert identities_of(copy.entries) == identities_of(feed.entries)
    assert list(copy.entries) == list(feed.entries) and copy == feed
