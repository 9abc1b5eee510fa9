"""Replay the real events of tests/scenarios and print what regwatch caught: `python bench/replay.py`.

Each scenario is served before/after by the loopback feed server and polled by `regwatch run --once`
(tests/scenarios/harness.py). The table has one row per event: expected vendors, whether the
starter subscriptions alerted, which `vendor:V action:any` probes alerted, and why not. Totals:
starter hits among the actions; for vendor+action, (event, vendor) pairs counted as true positives
(alerted on an action), false negatives (silent on an action) and false positives (alerted on a
negative), with recall and precision. `--only TEXT` replays the scenarios whose name contains TEXT;
`--markdown` prints the table as Markdown (docs/replay.md keeps one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scenarios.harness import Replay, load_scenarios, replay


def _mark(hit: bool) -> str:
    return "yes" if hit else "no"


def _row(r: Replay) -> list[str]:
    s = r.scenario
    vendors = ", ".join(f"{v} {_mark(p.hit)}" for v, p in r.vendor_action.items())
    if s.negative:
        why = "; ".join(f"{v}: {p.why_not}" for v, p in r.vendor_action.items() if p.hit)
    else:
        misses = [f"{v}: {p.why_not}" for v, p in r.vendor_action.items() if not p.hit]
        if not r.starter.hit:
            misses.insert(0, f"starter: {r.starter.why_not}")
        why = "; ".join(misses)
    label = "NEGATIVE " if s.negative else ""
    return [
        f"{label}{s.event}",
        f"{s.jurisdiction} {s.kind}",
        ", ".join(s.vendors),
        _mark(r.starter.hit),
        vendors,
        _mark(r.passed),
        why,
    ]


HEADER = ["event", "where", "expected vendors", "starter hit", "vendor+action hit", "as labelled", "why not"]


def _print_table(rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for row in rows:
            print("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
        return
    for n, row in enumerate(rows, 1):
        print(f"{n:2}. {row[0]}")
        print(
            f"    {row[1]} · vendors: {row[2]} · starter: {row[3]} · vendor+action: {row[4]}"
            f" · as labelled: {row[5]}"
        )
        if row[6]:
            print(f"    why: {row[6]}")


def totals(results: list[Replay]) -> dict[str, float]:
    """Return the counts and rates the table ends with."""
    actions = [r for r in results if not r.scenario.negative]
    negatives = [r for r in results if r.scenario.negative]
    tp = sum(p.hit for r in actions for p in r.vendor_action.values())
    fn = sum(not p.hit for r in actions for p in r.vendor_action.values())
    fp = sum(p.hit for r in negatives for p in r.vendor_action.values())
    return {
        "actions": len(actions),
        "negatives": len(negatives),
        "starter_hits": sum(r.starter.hit for r in actions),
        "starter_on_negatives": sum(r.starter.hit for r in negatives),
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "passed": sum(r.passed for r in results),
        "scenarios": len(results),
    }


async def _run(only: str | None) -> list[Replay]:
    results = []
    with tempfile.TemporaryDirectory(prefix="regwatch-replay-") as tmp:
        for s in load_scenarios():
            if only and only not in s.slug:
                continue
            results.append(await replay(s, Path(tmp) / s.slug))
    return results


def main(argv: list[str] | None = None) -> int:
    """Replay the scenarios, print the table and the totals; exit 0 (the numbers are the result)."""
    parser = argparse.ArgumentParser(prog="python bench/replay.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="replay only scenarios whose directory name contains this")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = asyncio.run(_run(args.only))
    _print_table([_row(r) for r in results], args.markdown)
    t = totals(results)
    print()
    print(
        f"actions: {t['actions']}, negatives: {t['negatives']}; "
        f"starter subscriptions alerted {t['starter_hits']}/{t['actions']} actions "
        f"(and {t['starter_on_negatives']}/{t['negatives']} negatives)"
    )
    print(
        f"vendor:V action:any over (event, vendor) pairs: TP {t['tp']}, FN {t['fn']}, FP {t['fp']}; "
        f"recall {t['recall']:.2f}, precision {t['precision']:.2f}"
    )
    print(
        f"scenarios as labelled: {t['passed']}/{t['scenarios']} "
        f"({time.perf_counter() - started:.0f} s, regwatch run --once per probe)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
