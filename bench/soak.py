"""Soak test: `regwatch run` for N minutes against 200 local feeds with random faults.

Opt-in (not part of the test suite). The feeds are served from this process (tests/feedserver.py)
and `regwatch run` runs as a separate process with the console sink, 20 subscriptions and the
minimum poll interval. Each second a few feeds publish an item (each item matches exactly one
subscription) or misbehave: 500, slow past the HTTP timeout, connection reset mid-body, or a
malformed body. After the publishing phase the faults stop and the service gets time to catch up
(longer than the maximum backoff), then SIGTERM. The report: alerts expected vs delivered (must be
equal, no duplicates), and the service's RSS and open file descriptors over time.

    python bench/soak.py --minutes 10        # the full run
    python bench/soak.py --minutes 1         # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.feedserver import FeedServer
from tests.helpers import rss_item

FEEDS = 200
SUBSCRIPTIONS = 20
CATCH_UP_SECONDS = 90  # > REGWATCH_MAX_BACKOFF_SECONDS (60) + a poll interval and its jitter
TOKEN = re.compile(r"soak-(\d+)-(\d+)")


def feed_body(items: list[str]) -> bytes:
    """Return an RSS document with these items, newest first."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>soak</title>'
        "<link>https://soak.example/</link><description>d</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def proc_sample(pid: int) -> tuple[int, int]:
    """Return (RSS in KiB, open file descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def soak(minutes: float, seed: int) -> int:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="regwatch-soak-"))
    items: dict[int, list[str]] = {n: [] for n in range(FEEDS)}
    expected: set[str] = set()
    faults: Counter[str] = Counter()
    async with FeedServer() as server:
        for n in range(FEEDS):
            server.set(f"/f{n}.xml", feed_body([]))
        (workdir / "sources.toml").write_text(
            "".join(
                f'[[source]]\nname = "feed {n}"\nurl = "{server.url(f"/f{n}.xml")}"\n' for n in range(FEEDS)
            )
        )
        (workdir / "subs.toml").write_text(
            "".join(
                f'[[subscription]]\nname = "s{i}"\nquery = "vendor{i:02d}"\n' for i in range(SUBSCRIPTIONS)
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGWATCH_")}
        env.update(
            REGWATCH_DATABASE_PATH=str(workdir / "regwatch.db"),
            REGWATCH_SOURCES_FILE=str(workdir / "sources.toml"),
            REGWATCH_SUBSCRIPTIONS_FILE=str(workdir / "subs.toml"),
            REGWATCH_ALLOW_PRIVATE_NETWORKS="true",
            REGWATCH_POLL_INTERVAL_SECONDS="5",
            REGWATCH_HTTP_TIMEOUT_SECONDS="2",
            REGWATCH_MAX_BACKOFF_SECONDS="60",
            REGWATCH_POLL_CONCURRENCY="16",
            REGWATCH_LOG_LEVEL="ERROR",
        )
        out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=workdir, env=env, stdout=out, stderr=err
            )
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()

        def sample() -> None:
            rss, fds = proc_sample(proc.pid)
            samples.append((time.monotonic() - started, rss, fds))

        # Every feed primed (first poll records, alerts nothing) before anything is published.
        while len({r.path for r in server.requests if r.status == 200}) < FEEDS:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        await asyncio.sleep(6)
        sample()
        print(
            f"all {FEEDS} feeds primed after {time.monotonic() - started:.0f} s; publishing for {minutes} min"
        )
        dirty: set[int] = set()
        end = time.monotonic() + minutes * 60
        next_sample = time.monotonic() + 10
        counter = 0
        while time.monotonic() < end:
            for n in dirty:  # undo last second's slow or malformed bodies
                server.set(f"/f{n}.xml", feed_body(items[n]))
            dirty.clear()
            for n in rng.sample(range(FEEDS), 8):
                roll = rng.random()
                path = f"/f{n}.xml"
                if roll < 0.6:
                    counter += 1
                    sub = rng.randrange(SUBSCRIPTIONS)
                    token = f"soak-{n}-{counter}"
                    title = f"Notice {token} about vendor{sub:02d}"
                    items[n].insert(0, rss_item(title, f"https://soak.example/{token}", guid=token))
                    server.set(path, feed_body(items[n]))
                    expected.add(token)
                elif roll < 0.7:
                    server.fail(path, 500)
                    faults["500"] += 1
                elif roll < 0.8:
                    server.set(path, feed_body(items[n]), delay=3)  # past the 2 s timeout
                    dirty.add(n)
                    faults["slow"] += 1
                elif roll < 0.9:
                    server.reset(path)
                    faults["reset"] += 1
                else:
                    server.set(path, b"\x00\x01garbage, not a feed", content_type="application/rss+xml")
                    dirty.add(n)
                    faults["malformed"] += 1
            await asyncio.sleep(1)
            if time.monotonic() >= next_sample:
                sample()
                next_sample += 10
        for n in dirty:
            server.set(f"/f{n}.xml", feed_body(items[n]))
        print(
            f"published {len(expected)} items; faults injected: {dict(faults)};"
            f" catching up {CATCH_UP_SECONDS} s"
        )
        catch_up_end = time.monotonic() + CATCH_UP_SECONDS
        while time.monotonic() < catch_up_end:
            await asyncio.sleep(5)
            sample()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)

    delivered = Counter(
        m.group(0)
        for line in out_path.read_text().splitlines()
        if line.startswith("  Notice ")
        for m in [TOKEN.search(line)]
        if m
    )
    duplicates = {t: c for t, c in delivered.items() if c > 1}
    missing = expected - set(delivered)
    extra = set(delivered) - expected
    print(f"\nservice exit code {code}; work dir {workdir}")
    print(f"{'t (s)':>7} {'RSS (MiB)':>10} {'open fds':>9}")
    step = max(1, len(samples) // 20)
    for t, rss, fds in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"{t:7.0f} {rss / 1024:10.1f} {fds:9d}")
    print(
        f"peak RSS {max(s[1] for s in samples) / 1024:.1f} MiB; open fds min {min(s[2] for s in samples)}, "
        f"max {max(s[2] for s in samples)}"
    )
    print(
        f"alerts expected {len(expected)}, delivered {sum(delivered.values())} "
        f"({len(delivered)} distinct), duplicates {len(duplicates)}, missing {len(missing)},"
        f" unexpected {len(extra)}"
    )
    ok = code == 0 and not duplicates and not missing and not extra
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    """Run the soak test and print its report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="publishing phase length (default 10)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    return asyncio.run(soak(args.minutes, args.seed))


if __name__ == "__main__":
    sys.exit(main())
