"""Score the story rule on labelled headline pairs: `python bench/story_pairs.py [--sweep]`.

Every pair of headlines in tests/data/story_headlines.json is labelled: same story (both in one
story) or not. Prints pairwise precision, recall and F1 at the shipped threshold, the same for
pairs about one vendor only (the hard case), and with --sweep a table over thresholds.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.classifier import classify  # noqa: E402
from bot.domain.story import SAME_STORY_THRESHOLD, same_story, story_key  # noqa: E402

WINDOW_HOURS = 48  # the default of REGWATCH_STORY_WINDOW_HOURS
DATA = ROOT / "tests" / "data" / "story_headlines.json"


def labelled_pairs(path: Path = DATA) -> list[tuple[dict, dict, bool]]:
    """Return (item, item, same story?) for every pair of headlines in the file."""
    stories = json.loads(path.read_text(encoding="utf-8"))["stories"]
    items = [
        {**item, "story": s["id"], "vendor": s["vendor"], "date": date.fromisoformat(s["date"])}
        for s in stories
        for item in s["items"]
    ]
    return [(a, b, a["story"] == b["story"]) for a, b in combinations(items, 2)]


def within_window(a: dict, b: dict, hours: int = WINDOW_HOURS) -> bool:
    """Tell whether two items' days are close enough for the pipeline to compare them."""
    return abs((a["date"] - b["date"]).days) * 24 <= hours


def score(pairs: list[tuple[dict, dict, bool]], threshold: float, *, window: bool = True) -> dict[str, float]:
    """Return tp, fp, fn, tn, precision, recall and F1 of the rule at a threshold."""
    tp = fp = fn = tn = 0
    for a, b, same in pairs:
        ka = story_key(a["title"], classify(a["title"], ""))
        kb = story_key(b["title"], classify(b["title"], ""))
        said = (not window or within_window(a, b)) and same_story(ka, kb, threshold)
        tp += said and same
        fp += said and not same
        fn += same and not said
        tn += not said and not same
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1}


def _row(name: str, s: dict[str, float]) -> str:
    return (
        f"| {name} | {s['tp']} | {s['fp']} | {s['fn']} | {s['tn']} |"
        f" {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |"
    )


def main() -> int:
    """Print the table."""
    pairs = labelled_pairs()
    same_vendor = [p for p in pairs if p[0]["vendor"] == p[1]["vendor"]]
    same = sum(p[2] for p in pairs)
    print(f"{len(pairs)} labelled pairs ({same} same story); {len(same_vendor)} about one vendor")
    print("| pairs | tp | fp | fn | tn | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|---|")
    t = SAME_STORY_THRESHOLD
    print(_row(f"all, {WINDOW_HOURS} h window, threshold {t}", score(pairs, t)))
    print(_row(f"same vendor, {WINDOW_HOURS} h window", score(same_vendor, t)))
    print(_row("all, no window (text alone)", score(pairs, t, window=False)))
    print(_row("same vendor, no window", score(same_vendor, t, window=False)))
    if "--sweep" in sys.argv:
        for step in range(3, 9):
            threshold = step / 10
            print(_row(f"all, window, threshold {threshold}", score(pairs, threshold)))
            print(_row(f"all, no window, threshold {threshold}", score(pairs, threshold, window=False)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
