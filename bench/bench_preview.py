"""Time `subs preview` over N stored items: `python bench/bench_preview.py [--items N]`."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import PREVIEW_CLI_MAX_ITEMS
from bot.domain.query import parse_query
from bot.domain.vendors import VendorCatalog
from bot.services.insight import preview
from bot.storage import items
from bot.storage.db import connect
from bot.storage.sources import SourceConfig, add

TITLES = [  # real headlines (tests/data/story_headlines.json) mixed with filler
    "US sanctions 12 Kaspersky Lab leaders",
    "FCC bans Huawei and ZTE equipment from being sold in US",
    "CISA orders immediate disconnection of vulnerable Ivanti VPNs",
    "Quarterly results of a telecom operator",
]


def run(n: int) -> tuple[int, int, float, float, bool]:
    """Fill a database with n items, then time reading and matching like the command does."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        src = add(db, SourceConfig("bench", "https://bench.example/feed", "feed", None), now)
        db.conn.executemany(
            "INSERT INTO items (source_id, identity, title, text, published, fetched_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (src.id, f"i{i}", TITLES[i % 4], "A paragraph of summary text. " * 10,
                 (now - timedelta(minutes=i)).isoformat(), (now - timedelta(minutes=i)).isoformat())
                for i in range(n)
            ],
        )  # fmt: skip
        query = parse_query("vendor:Kaspersky OR vendor:Huawei", VendorCatalog.load_default())
        started = time.perf_counter()
        stored = items.recent(db, now - timedelta(days=3650), PREVIEW_CLI_MAX_ITEMS + 1)
        truncated = len(stored) > PREVIEW_CLI_MAX_ITEMS
        loaded = time.perf_counter()
        result = preview(stored[:PREVIEW_CLI_MAX_ITEMS], query, truncated=truncated)
        done = time.perf_counter()
        db.conn.close()
    return result.total, result.scanned, loaded - started, done - loaded, result.truncated


def main() -> int:
    """Time previews at each size; print a table and the summary rows."""
    sizes = [100_000, 1_000_000]
    if "--quick" in sys.argv:
        sizes = [10_000]
    if "--items" in sys.argv:
        sizes = [int(sys.argv[sys.argv.index("--items") + 1])]
    print("| items | matches | searched | load s | match s | total s | items/s | note |")
    print("|---|---|---|---|---|---|---|---|")
    timings = []
    for n in sizes:
        total, scanned, load, match, truncated = run(n)
        note = "newest only, said so" if truncated else ""
        print(
            f"| {n:,} | {total:,} | {scanned:,} | {load:.2f} | {match:.2f} | {load + match:.2f}"
            f" | {n / (load + match):,.0f} | {note} |"
        )
        timings.append(f"{load + match:.1f} s at {n:,}" + (" (partial, reported)" if truncated else ""))
    row = {
        "what": "`subs preview` over stored items",
        "now": ", ".join(timings),
        "anchor": "—",
        "goal": "< 1 s at 1M, never silently partial",
        "met": None if len(sizes) == 1 else False,
    }
    print("@row " + json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
