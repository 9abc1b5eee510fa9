"""The story rule: same story across outlets, different stories about one vendor kept apart."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bot.domain.story import same_story, similarity, story_key

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("story_pairs", ROOT / "bench" / "story_pairs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reworded_syndicated_headlines_are_one_story():
    a = story_key("US sanctions 12 Kaspersky Lab leaders", "sanction")
    b = story_key("US Treasury sanctions 12 Kaspersky executives", "sanction")
    assert same_story(a, b)


def test_different_stories_about_one_vendor_stay_apart():
    ban = story_key("Biden to ban Kaspersky sales over its ties to Russia - Reuters", "ban")
    sanctions = story_key("US sanctions 12 Kaspersky Lab leaders", "sanction")
    research = story_key("Russia blames US, Apple for hacking thousands of iPhones")
    assert not same_story(ban, sanctions)  # the actions differ
    assert not same_story(ban, research)
    assert not same_story(sanctions, research)


def test_one_shared_name_is_not_enough():
    ban = story_key("Commerce bans Kaspersky Lab software from US networks", "ban")
    assert not same_story(ban, story_key("Kaspersky Lab appeal rejected"))


def test_different_numbers_are_different_news():
    # Advisories and directives differ by their numbers only; a year added by one outlet is fine.
    assert not same_story(story_key("Kaspersky update number 5"), story_key("Kaspersky update number 6"))
    assert not same_story(
        story_key("CISA adds Ivanti flaw CVE-2024-21887 to KEV catalog"),
        story_key("CISA adds Ivanti flaw CVE-2023-46805 to KEV catalog"),
    )
    assert same_story(
        story_key("US sanctions 12 Kaspersky Lab leaders"),
        story_key("US sanctions 12 Kaspersky Lab leaders in 2024"),
    )


def test_chinese_headlines_compare_by_character_pairs():
    a = story_key("美国商务部将华为列入实体清单")
    b = story_key("华为被列入美国实体清单")
    assert similarity(a, b) >= 0.5 and same_story(a, b)


def test_labelled_pairs_score_holds():
    bench = _bench()
    pairs = bench.labelled_pairs()
    assert len(pairs) > 1000 and sum(same for _, _, same in pairs) > 100
    windowed = bench.score(pairs, bench.SAME_STORY_THRESHOLD)
    assert windowed["precision"] >= 0.95 and windowed["recall"] >= 0.70
    text_only = bench.score(pairs, bench.SAME_STORY_THRESHOLD, window=False)
    assert text_only["precision"] >= 0.75 and text_only["recall"] >= 0.70
