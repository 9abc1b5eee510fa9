"""The story index finds what comparing every alert finds; a batch links to stored and earlier alerts."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.story import StoryIndex, StoryKey, StoryLink, link_batch, same_story, story_key

HEADLINES = Path(__file__).resolve().parents[1] / "data" / "story_headlines.json"
SINCE = "2026-11-01T00:00:00+00:00"


def _titles() -> list[str]:
    stories = json.loads(HEADLINES.read_text(encoding="utf-8"))["stories"]
    return [item["title"] for story in stories for item in story["items"]]


def test_matches_equal_comparing_every_alert_of_the_window():
    titles = _titles()
    index = StoryIndex()
    stored = []
    for n, title in enumerate(titles):
        target = ("discord:1", "discord:2")[n % 2]
        created = "2026-10-01T00:00:00+00:00" if n % 5 == 0 else "2026-11-02T00:00:00+00:00"
        index.add(target, n + 1, story_key(title), created)
        stored.append((target, n + 1, story_key(title), created))
    assert len(index) == len(titles)
    found_any = False
    for title in titles:
        key = story_key(title)
        for target in ("discord:1", "discord:2"):
            expected = sorted(
                i
                for t, i, other, created in stored
                if t == target and created >= SINCE and same_story(key, other)
            )
            assert index.matches(target, key, SINCE) == expected
            found_any = found_any or bool(expected)
    assert found_any
    pruned = index.prune(SINCE)
    assert len(pruned) == sum(1 for *_, created in stored if created >= SINCE)


def test_a_batch_adds_to_the_earliest_live_stored_alert_else_to_its_own_first():
    known = StoryIndex()
    known.add("console", 7, story_key("US sanctions 12 Kaspersky Lab leaders"), SINCE)
    known.add("console", 9, story_key("US Treasury sanctions 12 Kaspersky executives"), SINCE)
    batch = [
        ("console", story_key("US sanctions 12 Kaspersky Lab leaders")),
        ("other", story_key("Biden to ban Kaspersky sales over its ties to Russia - Reuters")),
        ("other", story_key("Joe Biden bans US sales of Kaspersky software over Russia ties")),
        ("console", story_key("Joe Biden bans US sales of Kaspersky software over Russia ties")),
    ]
    links = link_batch(batch, known, SINCE, alive=lambda alert_id: alert_id != 7)  # 7 was deleted
    assert links == [StoryLink(stored=9), None, StoryLink(in_batch=1), None]
    assert link_batch(batch[:1], known, "2027-01-01T00:00:00+00:00", alive=lambda _: True) == [None]


# Keys over a few stems and numbers, so that many share two, three or more of them.
_KEYS = st.builds(
    StoryKey,
    st.frozensets(st.sampled_from("abcdefghij"), max_size=8),
    st.none(),
    st.frozensets(st.sampled_from(["1", "2"]), max_size=1),
)
_DATES = st.sampled_from(["2026-10-01T00:00:00+00:00", SINCE, "2026-11-02T00:00:00+00:00"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), _KEYS, _DATES), max_size=40), _KEYS)
def test_matches_equal_comparing_every_alert_on_random_keys(stored, key):
    index = StoryIndex()
    for n, (target, other, created) in enumerate(stored):
        index.add(target, n, other, created)
    for target in ("a", "b"):
        expected = [
            n
            for n, (t, other, created) in enumerate(stored)
            if t == target and created >= SINCE and same_story(key, other)
        ]
        assert index.matches(target, key, SINCE) == expected
