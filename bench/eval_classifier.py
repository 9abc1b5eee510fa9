"""Score the action classifier on the labelled evaluation set and print the tables.

python bench/eval_classifier.py                  # tests/data/classifier_eval.toml
python bench/eval_classifier.py --no-misses      # without the list of misclassified items
python bench/eval_classifier.py --file other.toml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.classifier_eval import evaluate, load_items, render
from bot.domain.vendors import VendorCatalog

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "classifier_eval.toml"


def main() -> int:
    """Evaluate and print; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_SET, help="labelled set (TOML)")
    parser.add_argument("--no-misses", action="store_true", help="do not list the misclassified items")
    args = parser.parse_args()
    items = load_items(args.file.read_text(encoding="utf-8"))
    print(render(evaluate(items, VendorCatalog.load_default()), misses=not args.no_misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
