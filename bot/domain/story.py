"""One alert per story: tell whether two items report the same story (pure rules, no I/O).

Outlets syndicate and reword the same report ("US sanctions 12 Kaspersky Lab leaders",
"US Treasury sanctions 12 Kaspersky executives"). Two items are the same story when, in this
order:
1. if both headlines carry numbers, they share one ("update 5" and "update 6", two CVE ids and
   two directive numbers are different news);
2. their headlines share enough content words: the overlap of the two word sets over the
   smaller one, after folding, dropping stop words and cutting each word to a short stem
   ("sanctions", "sanctioned" -> "sanct"), is at least `SAME_STORY_THRESHOLD`;
3. they share at least `MIN_SHARED` stems, so two short headlines do not merge on a vendor's
   name alone ("Commerce bans Kaspersky Lab software" / "Kaspersky Lab appeal rejected").
The window (how far apart in time two copies may be) is a setting applied by the caller.
Headlines only: the lead sentences of two outlets differ more than their headlines do, and the
labelled pairs (tests/data/story_headlines.json, `bench/story_pairs.py`) scored best this way.
An earlier gate on contradicting classified actions was dropped with classifier v1: its finer
action types split more true copies (recall 0.67) than they kept wrong pairs apart (one).
The action stays in the key for explanations.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from bot.domain.text import NOSPACE_RANGES, WORD_CLASS, fold

SAME_STORY_THRESHOLD = 0.5
MIN_SHARED = 3
STEM_LENGTH = 5

_WORD = re.compile(rf"{WORD_CLASS}+|[{NOSPACE_RANGES}]+")
_NOSPACE_RUN = re.compile(f"[{NOSPACE_RANGES}]+")

# Words that say nothing about which story it is: function words of the languages regwatch
# reads, and headline filler. Kept small on purpose; names, numbers and verbs carry the story.
_STOP_WORDS = (
    "a an the of to in on at for from by with and or as is are was were be been it its this that",
    "these those over after before into about amid against than via says said will would can",
    "could may new report reports reported us u.s",
    "der die das und von zu mit für auf im den dem ein eine des nach über",  # German
    "le la les de du des et un une en au aux pour sur par",  # French
    "и в на по с о за к от для из не",  # Russian
    "і у на по з до від для та",  # Ukrainian
    "ir su del i is apie",  # Lithuanian
    "w z na do i o dla od",  # Polish
)
_STOP = frozenset(word for line in _STOP_WORDS for word in line.split())


# Words outlets use interchangeably for one regulatory fact, mapped to one stem.
_SYNONYMS = {
    stem[:STEM_LENGTH]: group
    for group, words in {
        "ban": "ban bans banned banning bar bars barred prohibit prohibits prohibited prohibition"
        " outlaw outlaws purge excludes exclude remove removes",
        "exec": "exec execs executive executives leader leaders leadership",
        "blist": "blacklist blacklists blacklisted entity covered",
        "shut": "shut shuts shutter shutters close closes closing exit exits wind",
        "sale": "sale sales sell sells selling sold",
    }.items()
    for stem in words.split()
}


@dataclass(frozen=True, slots=True)
class StoryKey:
    """What is compared between items: the headline's content stems and the classified action."""

    stems: frozenset[str]
    action: str | None = None
    numbers: frozenset[str] = frozenset()  # "12 executives", "BOD 22-01", "CVE-2024-3400"


def story_key(title: str, action: str | None = None) -> StoryKey:
    """Return the comparison key of an item from its headline and its classified action."""
    stems: set[str] = set()
    numbers: set[str] = set()
    for word in _WORD.findall(fold(title)):
        if word.isdigit():
            numbers.add(word)
        if _NOSPACE_RUN.fullmatch(word):
            # Chinese or Japanese: character pairs stand in for words.
            stems.update(word[i : i + 2] for i in range(max(1, len(word) - 1)))
            continue
        bare = word.strip("_")
        if not bare or bare in _STOP:
            continue
        stem = bare[:STEM_LENGTH]
        stems.add(_SYNONYMS.get(stem, stem))
    return StoryKey(frozenset(stems), action, frozenset(numbers))


def similarity(a: StoryKey, b: StoryKey) -> float:
    """Return how much two headlines share: common stems over the smaller set (0 to 1)."""
    if not a.stems or not b.stems:
        return 0.0
    return len(a.stems & b.stems) / min(len(a.stems), len(b.stems))


def same_story(a: StoryKey, b: StoryKey, threshold: float = SAME_STORY_THRESHOLD) -> bool:
    """Tell whether two items report the same story (the caller checks the time window)."""
    if a.numbers and b.numbers and a.numbers.isdisjoint(b.numbers):
        return False  # "update 5" and "update 6", two CVEs: different news, however alike
    if len(a.stems & b.stems) < MIN_SHARED:
        return False
    return similarity(a, b) >= threshold


_NO_IDS: frozenset[int] = frozenset()


class StoryIndex:
    """The first alerts of stories, per target, indexed by headline stem.

    A lookup walks only the alerts that share one of the headline's rarest stems, so its cost
    does not grow with the number of alerts in the window. `created_at` is sortable ISO-8601
    text (bot.domain.clock.iso); the window's start is compared with it.
    """

    __slots__ = ("_keys", "_size", "_stems")

    def __init__(self) -> None:
        self._keys: dict[str, dict[int, tuple[StoryKey, str]]] = {}  # target -> alert id -> key, created_at
        self._stems: dict[str, dict[str, set[int]]] = {}  # target -> stem -> alert ids
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, target: str, alert_id: int, key: StoryKey, created_at: str) -> None:
        """Remember an alert as the first of its story for `target`."""
        keys = self._keys.setdefault(target, {})
        if alert_id in keys:
            return
        keys[alert_id] = (key, created_at)
        self._size += 1
        stems = self._stems.setdefault(target, {})
        for stem in key.stems:
            ids = stems.get(stem)
            if ids is None:
                stems[stem] = {alert_id}
            else:
                ids.add(alert_id)

    def _shared(self, target: str, key: StoryKey) -> Iterator[int]:
        """Yield the alerts sharing at least MIN_SHARED stems with `key` (each once).

        An alert sharing that many appears in one of the stem sets left after dropping the
        MIN_SHARED - 1 largest, so the commonest words are never walked: the others are counted
        (in C), and an alert counted fewer times is looked up in the dropped ones.
        """
        stems = self._stems.get(target, {})
        sets = sorted((stems.get(stem, _NO_IDS) for stem in key.stems), key=len)
        walked = len(sets) - (MIN_SHARED - 1)
        if walked <= 0:
            return
        dropped = sets[walked:]
        for alert_id, walked_count in Counter(chain.from_iterable(sets[:walked])).items():
            shared = walked_count
            if shared < MIN_SHARED:
                for ids in dropped:
                    shared += alert_id in ids
                if shared < MIN_SHARED:
                    continue
            yield alert_id

    def matches(self, target: str, key: StoryKey, since: str) -> list[int]:
        """Return the alerts to `target` since `since` that report the same story, oldest first."""
        keys = self._keys.get(target)
        if not keys:
            return []
        found = []
        for alert_id in self._shared(target, key):
            other, created_at = keys[alert_id]
            if created_at >= since and same_story(key, other):
                found.append(alert_id)
        return sorted(found)

    def prune(self, since: str) -> StoryIndex:
        """Return a new index without the alerts older than `since`."""
        kept = StoryIndex()
        for target, keys in self._keys.items():
            for alert_id, (key, created_at) in keys.items():
                if created_at >= since:
                    kept.add(target, alert_id, key, created_at)
        return kept


@dataclass(frozen=True, slots=True)
class StoryLink:
    """Which earlier alert a new one adds to: one already stored, or one earlier in its batch."""

    stored: int | None = None  # the stored alert's id
    in_batch: int | None = None  # the position of the batch's alert


def link_batch(
    alerts: Sequence[tuple[str, StoryKey]], known: StoryIndex, since: str, alive: Callable[[int], bool]
) -> list[StoryLink | None]:
    """Decide, in order, which of a batch's alerts (target, key) add to an earlier story.

    Rules, in this order: an alert adds to the earliest stored first alert of the same story to
    the same target within the window that is still `alive` (not deleted meanwhile); else to the
    earliest alert of this batch to that target reporting it; else it is the first of its story
    (None) and later alerts may add to it.
    """
    batch = StoryIndex()
    later = Counter(target for target, _ in alerts)  # alerts of each target still to come
    links: list[StoryLink | None] = []
    for position, (target, key) in enumerate(alerts):
        later[target] -= 1
        link = next((StoryLink(stored=i) for i in known.matches(target, key, since) if alive(i)), None)
        if link is None:
            earlier = batch.matches(target, key, since)
            link = StoryLink(in_batch=earlier[0]) if earlier else None
        if link is None and later[target]:  # a first that a later alert of the batch may add to
            batch.add(target, position, key, since)
        links.append(link)
    return links
