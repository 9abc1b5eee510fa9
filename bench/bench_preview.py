"""Time `subs preview` over N stored items: `python bench/bench_preview.py [--items N]`.

Anchor in the same run: the previous console preview: the newest 500,000 candidates read, then
matched with every hit's terms put into words (now only the shown ones are, and the console reads
50,000 candidates like a server).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import PREVIEW_CLI_MAX_ITEMS
from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.prefilter import fts_filter
from bot.domain.query import parse_query
from bot.domain.semantics import source_field
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


# The console's cap before this change.
PREVIOUS_CLI_MAX_ITEMS = 500_000

QUERIES = {
    "vendor:Kaspersky OR vendor:Huawei": "half the items match",
    '"emergency directive"': "no item matches",
}


def run(db: Database, n: int, text: str) -> tuple[int, int, float, float, bool, bool]:
    """Time a preview like the command does: candidates from the index, then the exact query."""
    now = datetime.now(UTC)
    query = parse_query(text, VendorCatalog.load_default())
    started = time.process_time()
    stored, truncated, total = items.preview_candidates(
        db, now - timedelta(days=3650), PREVIEW_CLI_MAX_ITEMS, fts_filter(query)
    )
    loaded = time.process_time()
    result = preview(stored, query, truncated=truncated, scanned=total)
    done = time.process_time()
    said = any("only the newest" in note for note in result.notes)  # what the person is shown
    return result.total, result.searched, loaded - started, done - loaded, result.truncated, said


def run_anchor(db: Database, text: str) -> float:
    """Time the previous console preview (500,000 candidates, terms of every hit); return seconds."""
    now = datetime.now(UTC)
    query = parse_query(text, VendorCatalog.load_default())
    started = time.process_time()
    stored, _, _ = items.preview_candidates(
        db, now - timedelta(days=3650), PREVIOUS_CLI_MAX_ITEMS, fts_filter(query)
    )
    matcher = Matcher([(0, query)])
    hits = []
    for it in stored:
        doc = MatchDoc(it.title, it.text, source_field(it.source_name, None, None), it.action)
        if found := matcher.match(doc):
            hits.append((it, found[0].terms))
    Counter((it.published or it.fetched_at).strftime("%Y-%m-%d") for it, _ in hits)
    return time.process_time() - started


def fill(db: Database, n: int) -> None:
    """Store n items (ASCII, so the index decides which are read)."""
    now = datetime.now(UTC)
    src = add(db, SourceConfig("bench", "https://bench.example/feed", "feed", None), now)
    db.conn.executemany(
        "INSERT INTO items (source_id, identity, title, text, published, fetched_at, non_ascii)"
        " VALUES (?, ?, ?, ?, ?, ?, 0)",
        [
            (src.id, f"i{i}", TITLES[i % 4], "A paragraph of summary text. " * 10,
             (now - timedelta(minutes=i)).isoformat(), (now - timedelta(minutes=i)).isoformat())
            for i in range(n)
        ],
    )  # fmt: skip


def main() -> int:
    """Time previews at each size; print a table and the summary rows."""
    sizes = [100_000, 1_000_000]
    if "--quick" in sys.argv:
        sizes = [10_000]
    if "--items" in sys.argv:
        sizes = [int(sys.argv[sys.argv.index("--items") + 1])]
    repeat = 1 if "--quick" in sys.argv else 3
    if "--repeat" in sys.argv:
        repeat = int(sys.argv[sys.argv.index("--repeat") + 1])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Preview; {os.cpu_count()} cores; load average at start {load};"
        f" CPU seconds of this process, medians of {repeat} interleaved runs\n"
    )
    print("| items | query | matches | candidates read | read s | match s | total s | previous s | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    timings = []
    anchors: list[str] = []
    at_largest: list[float] = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            db = connect(Path(tmp) / "bench.db")
            fill(db, n)
            for text, what in QUERIES.items():
                # Medians of interleaved runs (the first pass warms the page cache for both).
                runs, anchor_runs = [], []
                for _ in range(repeat):
                    runs.append(run(db, n, text))
                    anchor_runs.append(run_anchor(db, text))
                total, searched, _, _, truncated, said = runs[0]
                load = statistics.median(r[2] for r in runs)
                match = statistics.median(r[3] for r in runs)
                anchor = statistics.median(anchor_runs)
                anchors.append(f"{anchor:.2f} s at {n:,} ({what})")
                note = "newest candidates only, said so" if truncated else ""
                print(
                    f"| {n:,} | `{text}` ({what}) | {total:,} | {searched:,} | {load:.2f} | {match:.2f}"
                    f" | {load + match:.2f} | {anchor:.2f} | {note} |"
                )
                if n == sizes[-1]:
                    # The goal: under 1 s, and never silently partial (a cut the note does not
                    # tell fails the row).
                    at_largest.append(load + match + (1e9 if truncated and not said else 0))
                timings.append(
                    f"{load + match:.2f} s at {n:,} ({what}" + (", partial, reported)" if truncated else ")")
                )
            db.conn.close()
    row = {
        "what": "`subs preview` over stored items",
        "now": ", ".join(timings),
        "anchor": "previous console preview (500,000 candidates, every hit's terms): " + ", ".join(anchors),
        "goal": "< 1 s at 1M, never silently partial",
        "met": None if len(sizes) == 1 else max(at_largest) < 1,
    }
    print("@row " + json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
