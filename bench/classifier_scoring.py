"""Score the action classifier against a labelled set (tests/data/classifier_eval.toml).

Pure functions: the caller reads the file; `evaluate` classifies every item and returns the
counts, `render` prints them (precision and recall per action and overall, target and issuer
accuracy, the confusion table and the misses).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bot.domain.classifier import ACTION_TYPES, Classification, classify_item
from bot.domain.errors import ConfigError
from bot.domain.models import SourceContext
from bot.domain.vendors import VendorCatalog

NONE = "none"


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One labelled item of the evaluation set."""

    id: str
    group: str
    lang: str
    title: str
    text: str
    action: str | None
    issuer: str | None
    jurisdiction: str | None
    targets: tuple[str, ...]
    source: str
    context: SourceContext | None = None


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision and recall of one action type (or of "any action" overall)."""

    true_positives: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        """Return the share of predictions that were right (1.0 when nothing was predicted)."""
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Return the share of expected labels that were found (1.0 when none was expected)."""
        return self.true_positives / self.expected if self.expected else 1.0

    @property
    def f1(self) -> float:
        """Return the harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass
class Evaluation:
    """Everything measured on one run over the labelled set."""

    items: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_action: dict[str, Scores] = field(default_factory=dict)
    overall: Scores = field(default_factory=lambda: Scores(0, 0, 0))
    detection: Scores = field(default_factory=lambda: Scores(0, 0, 0))
    accuracy: float = 0.0
    target_accuracy: float = 0.0
    target_items: int = 0
    issuer_accuracy: float = 0.0
    jurisdiction_accuracy: float = 0.0
    issuer_items: int = 0
    # (item, vendor) pairs: labelled targets vs targets the classifier named, over all items.
    vendors: Scores = field(default_factory=lambda: Scores(0, 0, 0))
    by_group: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_lang: dict[str, tuple[int, int]] = field(default_factory=dict)
    misses: list[tuple[LabelledItem, Classification]] = field(default_factory=list)


def load_items(toml_text: str) -> list[LabelledItem]:
    """Parse the evaluation set's TOML text into items; raise ConfigError on a bad entry."""
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"evaluation set is not valid TOML: {exc}") from exc
    items = []
    for entry in data.get("item", []):
        action = entry.get("action", NONE)
        if action != NONE and action not in ACTION_TYPES:
            raise ConfigError(f"item {entry.get('id')}: unknown action {action!r}")
        if not entry.get("source"):
            raise ConfigError(f"item {entry.get('id')}: no source")
        context = entry.get("context")
        if context is not None and (not isinstance(context, dict) or set(context) - _CONTEXT_KEYS):
            raise ConfigError(f"item {entry.get('id')}: context takes {', '.join(sorted(_CONTEXT_KEYS))}")
        items.append(
            LabelledItem(
                id=entry["id"],
                group=entry["group"],
                lang=entry["lang"],
                title=entry["title"],
                text=entry.get("text", ""),
                action=None if action == NONE else action,
                issuer=entry.get("issuer"),
                jurisdiction=entry.get("jurisdiction"),
                targets=tuple(entry.get("targets", ())),
                source=entry["source"],
                context=SourceContext(**context) if context else None,
            )
        )
    return items


_CONTEXT_KEYS = frozenset({"issuer", "jurisdiction", "action", "title", "heading"})

Classifier = Callable[[str, str, VendorCatalog | None, SourceContext | None], Classification]


def evaluate(
    items: Iterable[LabelledItem], vendors: VendorCatalog, classifier: Classifier = classify_item
) -> Evaluation:
    """Classify every item and compare with its labels."""
    result = Evaluation()
    right = targets_right = issuer_right = jurisdiction_right = 0
    groups: dict[str, list[int]] = {}
    langs: dict[str, list[int]] = {}
    vendor_hits = vendor_named = vendor_labels = 0
    for item in items:
        got = classifier(item.title, item.text, vendors, item.context)
        vendor_hits += len(set(item.targets) & set(got.targets))
        vendor_named += len(set(got.targets))
        vendor_labels += len(set(item.targets))
        result.items += 1
        expected, predicted = item.action or NONE, got.action or NONE
        result.confusion[(expected, predicted)] += 1
        ok = expected == predicted
        right += ok
        for tally, key in ((groups, item.group), (langs, item.lang)):
            counts = tally.setdefault(key, [0, 0])
            counts[0] += ok
            counts[1] += 1
        if item.targets or got.targets:
            result.target_items += 1
            targets_right += set(item.targets) == set(got.targets)
        if item.issuer:
            result.issuer_items += 1
            issuer_right += item.issuer == got.issuer
            jurisdiction_right += item.jurisdiction == got.jurisdiction
        if not ok or set(item.targets) != set(got.targets):
            result.misses.append((item, got))
    pairs = result.confusion
    for action in ACTION_TYPES:
        result.per_action[action] = Scores(
            pairs[(action, action)],
            sum(n for (_, p), n in pairs.items() if p == action),
            sum(n for (e, _), n in pairs.items() if e == action),
        )
    result.overall = Scores(
        sum(pairs[(a, a)] for a in ACTION_TYPES),
        sum(n for (_, p), n in pairs.items() if p != NONE),
        sum(n for (e, _), n in pairs.items() if e != NONE),
    )
    result.detection = Scores(
        sum(n for (e, p), n in pairs.items() if NONE not in (e, p)),
        result.overall.predicted,
        result.overall.expected,
    )
    result.vendors = Scores(vendor_hits, vendor_named, vendor_labels)
    result.accuracy = right / result.items if result.items else 0.0
    result.target_accuracy = targets_right / result.target_items if result.target_items else 1.0
    result.issuer_accuracy = issuer_right / result.issuer_items if result.issuer_items else 1.0
    result.jurisdiction_accuracy = jurisdiction_right / result.issuer_items if result.issuer_items else 1.0
    result.by_group = {key: (ok, total) for key, (ok, total) in sorted(groups.items())}
    result.by_lang = {key: (ok, total) for key, (ok, total) in sorted(langs.items())}
    return result


def _pct(value: float) -> str:
    return f"{value:.1%}"


def render(result: Evaluation, misses: bool = True) -> str:
    """Return the evaluation as Markdown tables (scores, confusion, per group and language)."""
    lines = [f"Items: {result.items}. Accuracy (action type, none included): {_pct(result.accuracy)}.", ""]
    lines += ["| action | precision | recall | F1 | predicted | expected |", "|---|---:|---:|---:|---:|---:|"]
    for action, s in result.per_action.items():
        scores = f"{_pct(s.precision)} | {_pct(s.recall)} | {_pct(s.f1)}"
        lines.append(f"| {action} | {scores} | {s.predicted} | {s.expected} |")
    o, d = result.overall, result.detection
    lines.append(
        f"| **overall (right type)** | {_pct(o.precision)} | {_pct(o.recall)} | {_pct(o.f1)} "
        f"| {o.predicted} | {o.expected} |"
    )
    lines.append(
        f"| **any action vs none** | {_pct(d.precision)} | {_pct(d.recall)} | {_pct(d.f1)} "
        f"| {d.predicted} | {d.expected} |"
    )
    lines += [
        "",
        f"Target detection (exact set of targeted catalog vendors, on the {result.target_items} items "
        f"where the label or the classifier names one): {_pct(result.target_accuracy)}.",
        f"Vendors (item, vendor) pairs: precision {_pct(result.vendors.precision)}, recall "
        f"{_pct(result.vendors.recall)} ({result.vendors.true_positives} right of "
        f"{result.vendors.predicted} named, {result.vendors.expected} labelled).",
        f"Issuer exact: {_pct(result.issuer_accuracy)}; jurisdiction: {_pct(result.jurisdiction_accuracy)} "
        f"(on the {result.issuer_items} items whose label names an issuer).",
        "",
        "Confusion (rows: label, columns: classifier):",
        "",
    ]
    names = [*ACTION_TYPES, NONE]
    short = {
        "entity_list": "entity",
        "covered_list": "covered",
        "investigation": "invest.",
        "directive": "direct.",
    }
    lines.append("| label \\ got | " + " | ".join(short.get(n, n) for n in names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for expected in names:
        row = [str(result.confusion[(expected, got)] or ".") for got in names]
        lines.append(f"| {expected} | " + " | ".join(row) + " |")
    lines += ["", "| group | right | items |", "|---|---:|---:|"]
    lines += [f"| {key} | {ok} | {total} |" for key, (ok, total) in result.by_group.items()]
    lines += ["", "| language | right | items |", "|---|---:|---:|"]
    lines += [f"| {key} | {ok} | {total} |" for key, (ok, total) in result.by_lang.items()]
    if misses and result.misses:
        lines += ["", f"Misses ({len(result.misses)}): id, label -> classifier, title"]
        for item, got in result.misses:
            want = f"{item.action or NONE}{list(item.targets) if item.targets else ''}"
            have = f"{got.action or NONE}{list(got.targets) if got.targets else ''}"
            lines.append(f"- {item.id}: {want} -> {have}: {item.title[:90]}")
    return "\n".join(lines)
