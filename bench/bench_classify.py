"""Benchmark the action classifier alone and as part of matching.

1. classify_item over the seeded bench_match corpus (title + ~1.5 kB summary, vendor names
   injected) and over the real headlines of tests/data/classifier_eval.toml: items/s, µs/item.
2. Matching with and without the classifier at 100,000 subscriptions (`--mix rare`, the default:
   the term mix of performance.md, where matching is fastest and so the ratio strictest; `--mix
   mixed`: every query shape, including `action:` terms): per item, "without" is
   matcher.match(doc) with no action; "with" is classify_item + matcher.match(doc with that
   action), as the poller and `regwatch match` do. The issue requires "with" to stay within 2x
   of "without"; the full run fails otherwise (the --quick smoke run only reports it).

    python bench/bench_classify.py            # 10,000 items, 100,000 subscriptions
    python bench/bench_classify.py --mix mixed
    python bench/bench_classify.py --quick    # 500 items, 1,000 subscriptions, a few seconds
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_match import SEED, World, make_corpus, make_subscriptions
from bench.classifier_scoring import load_items
from bot.domain.classifier import classify_item
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.query import parse_query

EVAL_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "classifier_eval.toml"
LIMIT = 2.0


def _time_per_item(run: object, count: int, repeat: int = 3) -> float:
    """Return the best CPU seconds per item over `repeat` runs of `run()`."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best / count


def main() -> int:
    """Measure, print the table, fail if matching with the classifier is over 2x slower."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument(
        "--mix",
        choices=("rare", "mixed"),
        default="rare",
        help="subscription mix of bench_match (rare: the fast matcher, so the strictest ratio)",
    )
    args = parser.parse_args()
    items = 500 if args.quick else 10_000
    subscriptions = 1_000 if args.quick else 100_000
    world = World(SEED, 20_000, 5_000) if args.quick else World(SEED)
    catalog = world.catalog
    docs = [MatchDoc(title=d.title, summary=d.summary, source=d.source) for d in make_corpus(world, items)]
    real = load_items(EVAL_SET.read_text(encoding="utf-8"))

    classify_item("warm up", "", catalog)  # builds the automaton once
    synthetic_s = _time_per_item(
        lambda: [classify_item(d.title, d.summary, catalog) for d in docs], len(docs)
    )
    real_s = _time_per_item(
        lambda: [classify_item(i.title, i.text, catalog) for i in real * 20], len(real) * 20
    )
    actions = sum(classify_item(d.title, d.summary, catalog).action is not None for d in docs)

    texts = make_subscriptions(world, subscriptions, args.mix)
    matcher = Matcher((sid, parse_query(text, catalog)) for sid, text in enumerate(texts))
    for doc in docs[:50]:
        matcher.match(doc)

    # Interleave blocks of items (without, with, without, ...) so that load from other jobs on a
    # shared machine hits both sides alike; best of two passes.
    without_s = with_s = float("inf")
    for _ in range(2):
        spent_without = spent_with = 0.0
        for first in range(0, len(docs), 100):
            block = docs[first : first + 100]
            started = time.process_time()
            for doc in block:
                matcher.match(doc)
            spent_without += time.process_time() - started
            started = time.process_time()
            for doc in block:
                action = classify_item(doc.title, doc.summary, catalog).action
                matcher.match(
                    MatchDoc(title=doc.title, summary=doc.summary, source=doc.source, action=action)
                )
            spent_with += time.process_time() - started
        without_s = min(without_s, spent_without / len(docs))
        with_s = min(with_s, spent_with / len(docs))
    ratio = with_s / without_s

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Classifier: {items:,} synthetic items (title + ~1.5 kB summary), {len(real)} real headlines; "
        f"{subscriptions:,} subscriptions; machine: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.machine()}, load average {load}. "
        "CPU time of one process, best of 2-3 runs; with and without interleaved in blocks of 100 items.\n"
    )
    print("| measurement | items/s | µs/item |")
    print("|---|---:|---:|")
    print(f"| classify_item, synthetic corpus | {1 / synthetic_s:,.0f} | {synthetic_s * 1e6:.1f} |")
    print(f"| classify_item, real headlines (eval set) | {1 / real_s:,.0f} | {real_s * 1e6:.1f} |")
    print(f"| match, {subscriptions:,} subs, no classifier | {1 / without_s:,.0f} | {without_s * 1e6:.1f} |")
    print(f"| classify + match, {subscriptions:,} subs | {1 / with_s:,.0f} | {with_s * 1e6:.1f} |")
    print(
        f"\n- with/without classifier: {ratio:.2f}x (limit {LIMIT:.0f}x); the classifier costs "
        f"{(with_s - without_s) / without_s:.0%} of matching time."
        f"\n- synthetic items the classifier gave an action: {actions / len(docs):.1%} (random text; "
        "the real set is scored by bench/eval_classifier.py)."
    )
    if ratio > LIMIT and not args.quick:
        print(f"FAIL: matching with the classifier is {ratio:.2f}x slower (limit {LIMIT}x)", file=sys.stderr)
        return 1
    if ratio > LIMIT:
        # The smoke run in CI only checks that the benchmark works: timings of 500 items on a
        # shared runner are too noisy to gate on. The full run enforces the limit.
        print(f"note: {ratio:.2f}x is over the {LIMIT:.0f}x limit in this small run; run it without --quick")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
