"""Latency of an alert, feed → Discord channel, through the real service and the fake Discord.

Two numbers, with the machine's load beside them:
- with the scheduler: an item published on a local feed until the alert is in the fake channel,
  including the wait for the source to be due (poll interval 5 s, the minimum);
- the pipeline alone: the same path triggered at once (fetch → parse → match → store → post).
Baseline in the same run: one plain aiohttp GET of the same feed.

    python bench/bench_latency.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import discord

from tests.chat.running import FEED, kaspersky_item, regwatch_at
from tests.fakediscord import FakeDiscord
from tests.fakediscord.harness import hook_values
from tests.feedserver import FeedServer


async def measure(rounds: int) -> list[tuple[str, list[float]]]:
    """Return (what, seconds per round) rows."""
    scheduled: list[float] = []
    triggered: list[float] = []
    plain: list[float] = []
    async with FakeDiscord() as fake, FeedServer() as feeds:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = hook_values(fake)
        with tempfile.TemporaryDirectory() as tmp:
            async with regwatch_at(fake, feeds, Path(tmp)) as app:
                await app.subscribe("vendor:Kaspersky")
                services = app.services
                delivery = asyncio.create_task(services.dispatcher.run(idle_seconds=1.0))
                services.scheduler.start()
                try:
                    await fake.wait_for(lambda: feeds.hits(FEED) >= 1, timeout=30, what="the priming poll")
                    posted = 0
                    for n in range(rounds):
                        app.publish(
                            kaspersky_item(title=f"Kaspersky Lab ban {n}", link=f"https://e.gov/s{n}")
                        )
                        started = time.monotonic()
                        posted += 1
                        await fake.wait_for_messages(fake.channel.id, posted, timeout=60)
                        scheduled.append(time.monotonic() - started)
                    for n in range(rounds):
                        app.publish(
                            kaspersky_item(
                                title=f"Court rejects Kaspersky Lab appeal {1000 + n}",
                                link=f"https://e.gov/t{n}",
                            )
                        )
                        started = time.monotonic()
                        posted += 1
                        await services.scheduler.poll_all()
                        await fake.wait_for_messages(fake.channel.id, posted, timeout=60)
                        triggered.append(time.monotonic() - started)
                    async with aiohttp.ClientSession() as session:
                        for _ in range(rounds):
                            started = time.monotonic()
                            async with session.get(feeds.url(FEED)) as resp:
                                await resp.read()
                            plain.append(time.monotonic() - started)
                finally:
                    await services.scheduler.stop(grace=2)
                    services.dispatcher.stop()
                    await asyncio.wait_for(delivery, 10)
    return [
        ("feed → channel, scheduler (interval 5 s)", scheduled),
        ("fetch → match → post, triggered", triggered),
        ("baseline: one plain aiohttp GET", plain),
    ]


def main() -> int:
    """Print the latency table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (CI smoke run)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = asyncio.run(measure(1 if args.quick else args.rounds))
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| what | rounds | median ms | max ms |\n|---|---:|---:|---:|")
    for what, values in rows:
        print(
            f"| {what} | {len(values)} | {statistics.median(values) * 1000:.0f} | {max(values) * 1000:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
