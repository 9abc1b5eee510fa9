"""Score the action classifier on the labelled sets and print the tables.

python bench/eval_classifier.py                  # in-sample set and both hold-out sets
python bench/eval_classifier.py --no-misses      # without the list of misclassified items
python bench/eval_classifier.py --summary        # one line per set
python bench/eval_classifier.py --file other.toml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.classifier_scoring import evaluate, load_items, render
from bot.domain.vendors import VendorCatalog

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
# In-sample (rules tuned on it), then the hold-outs (labelled before the rules they score).
DEFAULT_SETS = (
    DATA / "classifier_eval.toml",
    DATA / "classifier_holdout.toml",
    DATA / "classifier_holdout2.toml",
)


def main() -> int:
    """Evaluate and print; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, action="append", help="labelled set (TOML); repeatable")
    parser.add_argument("--no-misses", action="store_true", help="do not list the misclassified items")
    parser.add_argument("--summary", action="store_true", help="print one line per set")
    args = parser.parse_args()
    catalog = VendorCatalog.load_default()
    if args.summary:
        print("| set | items | accuracy | precision | recall | targets | vendor precision | vendor recall |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.file or DEFAULT_SETS:
        result = evaluate(load_items(path.read_text(encoding="utf-8")), catalog)
        if args.summary:
            o, v = result.overall, result.vendors
            print(
                f"| {path.name} | {result.items} | {result.accuracy:.1%} | {o.precision:.1%} | "
                f"{o.recall:.1%} | {result.target_accuracy:.1%} | {v.precision:.1%} | {v.recall:.1%} |"
            )
        else:
            print(f"## {path.name}\n")
            print(render(result, misses=not args.no_misses))
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
