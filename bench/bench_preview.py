"""Time `subs preview` over N stored items: `python bench/bench_preview.py [--items N]`."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> int:
    """Fill a database, then time loading and matching like the command does."""
    n = int(sys.argv[sys.argv.index("--items") + 1]) if "--items" in sys.argv else 100_000
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
        stored = items.recent(db, now - timedelta(days=365), 500_000)
        loaded = time.perf_counter()
        result = preview(stored, query)
        done = time.perf_counter()
    print("| items | matches | load s | match s | total s | items/s |")
    print("|---|---|---|---|---|---|")
    total = done - started
    print(
        f"| {n} | {result.total} | {loaded - started:.2f} | {done - loaded:.2f} | {total:.2f}"
        f" | {n / total:,.0f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
