"""A preview has its own work budget: a costly query previews fewer items and says so."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.query import parse_query
from bot.services.insight import preview
from bot.storage.items import StoredItem

WORDS = ["ban", "huawei", "fine", "sanction", "zte"]


def stored(n: int, text: str) -> StoredItem:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredItem(n, 1, "Local news", f"Item {n}", text, f"https://x.example/{n}", when, when, None)


def test_a_costly_preview_stops_at_its_budget_and_says_after_how_many_items() -> None:
    items = [stored(n, " ".join(WORDS * 200)) for n in range(50)]
    query = parse_query(" NEAR/50 ".join(WORDS))
    full = preview(items, query)
    assert full.stopped is None and full.scanned == 50 and full.total == 50
    cut = preview(items, query, budget=1)
    assert cut.scanned < 50 and cut.total == cut.scanned
    assert cut.stopped == (
        f"the preview stopped after {cut.scanned} of 50 items: the query is costly to evaluate"
        " (a preview may take 1 steps)"
    )


def test_a_cheap_query_previews_every_item() -> None:
    items = [stored(n, "Huawei is fined") for n in range(200)]
    result = preview(items, parse_query("huawei"), budget=1)
    assert result.stopped is None and result.scanned == 200 and result.total == 200
