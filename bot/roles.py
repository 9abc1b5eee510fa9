"""Scale-out roles: `regwatch worker` (poll, deliver, chores; Discord REST only) and `regwatch gateway`.

`regwatch run` stays the one process doing everything (bot/app.py). Several workers share one
database, PostgreSQL in practice (docs/scaling.md), and stay correct there because:
- due sources are claimed (storage/sources.py `claim_due`): a source is polled by one worker,
  and is due again only after the claim's hold if that worker dies mid-poll;
- a channel is delivered by the worker holding its lease, and "sent" is recorded only under it
  (delivery/claims.py, storage/outbox/write.py);
- chores (pruning, source notices, digests) run under a lease each (bot/chores.py);
- new items are found by the INSERT's RETURNING, so two polls never both take one item;
- on PostgreSQL each request takes one of its host's shared slots (storage/leases.py HostSlots),
  so REGWATCH_HTTP_PER_HOST holds across workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING

from sqlite_utils import Database

from bot.app import Services, _serve, all_failed, build_services, start_discord, start_discord_rest
from bot.delivery.claims import ChannelClaims
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import ConfigError
from bot.pipeline.poller import PollResult
from bot.settings import Settings
from bot.storage import leases, outbox, sources
from bot.storage.db import is_postgres
from bot.storage.sources import Source

if TYPE_CHECKING:
    from bot.chat.client import RegwatchBot

log = logging.getLogger(__name__)

# The sink kinds a worker may deliver to (the Discord sink only with a token).
_KINDS = ("console", "discord", "webhook")


def share_work(services: Services, owner: str) -> None:
    """Make a built service one worker among several: claims for sources, leases for channels and chores."""
    settings = services.settings
    hold = settings.source_claim_seconds
    services.role = "worker"

    def claim(db: Database, now: datetime) -> list[Source]:
        # Only as many as this worker can start now: a claimed source waiting behind its own
        # polls would be a backlog the other workers cannot take. The scheduler claims one at a
        # time, so `busy` does not grow while this runs.
        free = settings.poll_concurrency - services.scheduler.busy
        return sources.claim_due(db, now, hold, limit=free) if free > 0 else []

    services.scheduler.select_due = claim
    # ...and claims again as each poll ends: claiming at ticks alone, a worker polled at most
    # REGWATCH_POLL_CONCURRENCY sources per tick, idle in between.
    services.scheduler.refill = True
    services.dispatcher.claims = ChannelClaims(
        services.adb, owner, settings.lease_seconds, clock=services.clock
    )
    services.chores.share(services.adb, owner, settings.lease_seconds, services.clock)
    services.digests.runner.share(owner, settings.lease_seconds)


@contextlib.asynccontextmanager
async def shared_hosts(services: Services, owner: str) -> AsyncIterator[None]:
    """On PostgreSQL, make the fetcher take each host's request slots in the database for the block."""
    if not is_postgres(services.adb.db):
        yield
        return
    async with leases.host_slots(str(services.settings.database_location), owner) as slots:
        services.fetcher.share_hosts(slots)
        try:
            yield
        finally:
            services.fetcher.share_hosts(None)


async def run_worker(settings: Settings, *, once: bool = False, clock: Clock = utcnow) -> int:
    """Run one worker until SIGTERM/SIGINT (or one round with once=True); return the exit code."""
    owner = leases.new_owner("worker")
    async with build_services(settings, clock=clock) as services, shared_hosts(services, owner):
        share_work(services, owner)
        # Discord REST only: the sink posts messages; slash commands are the gateway role's.
        client = await start_discord_rest(services) if settings.discord_token is not None else None
        try:
            if once:
                return await _worker_once(services)
            await _serve(services, None)
            return 0
        finally:
            released = await services.adb.call(leases.release_owner, owner)
            log.info("worker %s stopped; released %d leases", owner, released)
            if client is not None:
                await client.close()


async def poll_claimed(services: Services) -> list[PollResult]:
    """Poll every source this worker can claim now, in batches of the concurrency; return the results."""
    settings = services.settings
    limit = asyncio.Semaphore(settings.poll_concurrency)
    results: list[PollResult] = []

    async def one(source: Source) -> PollResult:
        async with limit:
            try:
                return await services.poller.poll(source)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one source's bug must not end the round
                log.exception("poll of source %d (%s) crashed", source.id, source.name)
                return PollResult(source.id, source.name, "failed", error=f"internal error: {exc!r}")

    while True:
        batch = await services.adb.call(
            sources.claim_due, services.clock(), settings.source_claim_seconds, settings.poll_concurrency
        )
        if not batch:
            return results
        results += await asyncio.gather(*(one(s) for s in batch))


async def deliver_all(services: Services, *, patience: float) -> int:
    """Deliver until nothing this worker could send is due; wait up to `patience` s for others' channels.

    A channel leased by another worker is its to deliver; when that worker stops it releases the
    lease (or it expires), and what is still due is delivered here.
    """
    kinds = tuple(k for k in _KINDS if services.dispatcher.sink(k) is not None)
    give_up = time.monotonic() + patience
    sent = 0
    while True:
        wait = max(0.0, give_up - time.monotonic())
        sent += (await services.dispatcher.drain_through_caps(max_wait=wait)).sent
        left = await services.adb.call(outbox.due, services.clock(), 1, kinds=kinds)
        if not left or time.monotonic() >= give_up:
            return sent
        await asyncio.sleep(0.1)


async def _worker_once(services: Services) -> int:
    """One round as a worker: poll what can be claimed, deliver, chores; print the summary."""
    results = await poll_claimed(services)
    claims = services.dispatcher.claims
    patience = 2 * services.settings.lease_seconds
    sent = await deliver_all(services, patience=patience)
    await services.chores.run("digests", services.digests.runner.run_due)
    await services.chores.run("notices", services.check_sources)
    if claims is not None:
        await claims.release_all()
    pending = (await services.adb.call(outbox.counts))["pending"]
    print(worker_line(results, sent, pending), flush=True)
    return 1 if all_failed(results) else 0


def worker_line(results: list[PollResult], delivered: int, pending: int) -> str:
    """Return the one-line summary of a `worker --once`: what this worker did of the shared work."""
    failed = sum(1 for r in results if r.status == "failed")
    primed = sum(1 for r in results if r.status == "primed")
    line = (
        f"worker: polled {len(results)} sources ({failed} failed, {primed} first polls recording only);"
        f" recorded {sum(r.new_items for r in results)} new items; enqueued {sum(r.alerts for r in results)}"
        f" alerts; delivered {delivered} alerts"
    )
    return line + (f"; {pending} alerts still pending in the database." if pending else ".")


async def run_gateway(settings: Settings, *, clock: Clock = utcnow) -> int:
    """Run the Discord client answering slash commands until SIGTERM/SIGINT: no polling, no delivery.

    The commands write to the shared database (subscriptions, sources, settings); the workers
    poll and deliver. With REGWATCH_DISCORD_SHARD_COUNT (and _SHARD_IDS) this process runs a
    range of the bot's gateway shards.
    """
    if settings.discord_token is None:
        raise ConfigError(
            "REGWATCH_DISCORD_TOKEN: regwatch gateway is the Discord client and needs the token"
        )
    async with build_services(settings, clock=clock) as services:
        services.role = "gateway"
        bot = await start_discord(services)
        owner = leases.new_owner("gateway")
        notices = start_gateway_notices(services, bot, owner)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await serve_gateway(bot, stop)
        finally:
            notices.cancel()
            await bot.close()
            await services.adb.call(leases.release_owner, owner)


def on_my_shards(bot: RegwatchBot, guild_id: int) -> bool:
    """Tell whether a server is on one of this gateway's shards (every server when unsharded)."""
    count = bot.shard_count
    mine = getattr(bot, "shard_ids", None)
    if not count or mine is None:
        return True
    return (guild_id >> 22) % count in mine  # Discord's shard formula


def start_gateway_notices(services: Services, bot: RegwatchBot, owner: str) -> asyncio.Task[None]:
    """Post servers' source notices from this gateway (the workers raise them and keep them).

    The gateway has the guild cache that picks a server's channel. Once the cache is ready, and
    then after each tick, it posts the waiting notices of servers on its shards, each claimed in
    the database so that one gateway posts it (storage/notices.py `claim`).
    """
    settings = services.settings
    services.notices.share(owner, settings.lease_seconds, lambda guild_id: on_my_shards(bot, guild_id))
    every = min(30.0, max(1.0, settings.poll_interval_seconds / 5))  # the workers' tick

    async def loop() -> None:
        await bot.wait_until_ready()
        while True:
            try:
                await services.notices.drain()
            except Exception:
                log.exception("posting source notices failed; will try again")
            await asyncio.sleep(every)

    return asyncio.create_task(loop(), name="gateway-notices")


async def serve_gateway(bot: RegwatchBot, stop: asyncio.Event) -> int:
    """Wait until asked to stop (0) or until the Discord connection ended (1)."""
    assert bot.connection_task is not None
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopper, bot.connection_task}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if bot.connection_task in done:
        log.error("the Discord connection ended: %s", bot.connection_task.exception())
        return 1
    log.info("gateway stopping")
    return 0
