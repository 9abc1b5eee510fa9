"""The classifier holds its scores on the labelled set in tests/data (see docs/classifier.md)."""

from collections import Counter
from pathlib import Path

import pytest

from bench.classifier_scoring import evaluate, load_items, render
from bot.domain.errors import ConfigError
from bot.domain.vendors import VendorCatalog

DATA = Path(__file__).resolve().parent / "data" / "classifier_eval.toml"
ITEMS = load_items(DATA.read_text(encoding="utf-8"))


def test_the_set_is_large_balanced_multilingual_and_sourced():
    assert len(ITEMS) >= 150
    assert len({item.id for item in ITEMS}) == len(ITEMS)
    groups = Counter(item.group for item in ITEMS)
    assert set(groups) == {"vendor_action", "vendor_news", "other_action", "other_news"}
    # Actions against vendors, the same vendors in other news, actions against others: 40+ each.
    assert min(groups["vendor_action"], groups["vendor_news"], groups["other_action"]) >= 40
    langs = Counter(item.lang for item in ITEMS)
    assert {"en", "de", "fr", "ru", "uk", "lt", "pl", "zh"} <= set(langs)
    assert all(item.source for item in ITEMS)
    catalog = VendorCatalog.load_default()
    assert all(catalog.lookup(name) is not None for item in ITEMS for name in item.targets)


def test_the_classifier_holds_its_scores():
    # Measured on this set: accuracy 97.5 %, precision 99.1 %, recall 95.8 %, targets 98.6 %,
    # vendor pairs precision 100 % / recall 99.0 %, jurisdiction 93.3 %. The floors sit a little
    # below, so a real regression fails.
    result = evaluate(ITEMS, VendorCatalog.load_default())
    report = render(result)
    assert result.accuracy >= 0.95, report
    assert result.overall.precision >= 0.97, report
    assert result.overall.recall >= 0.92, report
    assert result.detection.precision >= 0.97, report
    assert result.target_accuracy >= 0.95, report
    assert result.vendors.precision >= 0.98, report
    assert result.jurisdiction_accuracy >= 0.85, report
    assert result.confusion[("none", "none")] == sum(1 for item in ITEMS if item.action is None), report
    for action, scores in result.per_action.items():
        assert scores.f1 >= 0.9, f"{action}: {report}"


def test_render_lists_the_confusion_table_and_misses():
    text = render(evaluate(ITEMS[:5], VendorCatalog.load_default()))
    assert "| label \\ got | entity | covered |" in text
    assert "**overall (right type)**" in text


def test_a_bad_label_is_refused():
    with pytest.raises(ConfigError, match="unknown action 'embargo'"):
        load_items(
            '[[item]]\nid = "x"\ngroup = "g"\nlang = "en"\ntitle = "t"\naction = "embargo"\nsource = "s"\n'
        )


def test_the_classifier_holds_its_scores_on_the_hold_out_set():
    # Scored once after the rules were written (accuracy 89.1 %, precision 96.3 %, recall 83.9 %,
    # targets 77.8 %, 46 items); classifier v2 (issue 12, not tuned on this set): accuracy 91.3 %,
    # precision 96.4 %, recall 87.1 %, targets 83.3 %, vendor pairs precision 100 %. Floors a
    # little below.
    items = load_items((DATA.parent / "classifier_holdout.toml").read_text(encoding="utf-8"))
    assert len(items) >= 40
    result = evaluate(items, VendorCatalog.load_default())
    report = render(result)
    assert result.accuracy >= 0.88, report
    assert result.overall.precision >= 0.93, report
    assert result.overall.recall >= 0.84, report
    assert result.target_accuracy >= 0.80, report
    assert result.vendors.precision >= 0.98, report


def test_hold_out_batch_2_is_real_multilingual_and_scored():
    # Labelled before classifier v2 (issue 12). Before v2: accuracy 36.8 %, precision 76.9 %,
    # recall 32.3 %, targets 25.0 %, vendor pairs precision 90.9 %. After v2: 100 % on all, but
    # v2's rules were written knowing these misses (and the issue's list of failures), so this set
    # is now a regression guard, not a blind score; the next batch must be labelled before it.
    items = load_items((DATA.parent / "classifier_holdout2.toml").read_text(encoding="utf-8"))
    assert len(items) >= 30 and len({item.id for item in items}) == len(items)
    assert {"en", "nl", "it", "es", "ko", "ja"} <= {item.lang for item in items}
    assert sum(item.action is None for item in items) >= 5
    assert all("http" in item.source for item in items)
    catalog = VendorCatalog.load_default()
    assert all(catalog.lookup(name) is not None for item in items for name in item.targets)
    result = evaluate(items, catalog)
    report = render(result)
    assert result.accuracy >= 0.92, report
    assert result.overall.precision >= 0.95, report
    assert result.overall.recall >= 0.92, report
    assert result.vendors.precision >= 0.95, report
    assert result.jurisdiction_accuracy >= 0.9, report


def test_an_item_context_is_parsed_and_checked():
    items = load_items(
        '[[item]]\nid = "x"\ngroup = "g"\nlang = "en"\ntitle = "t"\nsource = "s"\n'
        'context = { issuer = "FCC", action = "covered_list" }\n'
    )
    assert items[0].context is not None and items[0].context.action == "covered_list"
    with pytest.raises(ConfigError, match="context takes"):
        load_items(
            '[[item]]\nid = "x"\ngroup = "g"\nlang = "en"\ntitle = "t"\nsource = "s"\n'
            'context = { who = "FCC" }\n'
        )
