"""Composition root: settings → logging → storage, HTTP, matcher, poller, sinks, scheduler.

Everything is built here and injected; start and stop happen in a fixed order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlite_utils import Database

from bot.chores import Chores
from bot.config_files import load_sources, load_subscriptions
from bot.container import database_volume_problem
from bot.delivery.console import ConsoleSink
from bot.delivery.digest import DigestRunner, DigestScheduler
from bot.delivery.notices import NoticeBoard
from bot.delivery.pacing import PacedDispatcher
from bot.delivery.sink import Sink
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import ConfigError, RegwatchError
from bot.domain.query import Query
from bot.domain.vendors import VendorCatalog
from bot.health import HealthServer
from bot.metrics import CONTENT_TYPE, Metrics
from bot.pipeline.matching import MatcherCache
from bot.pipeline.poll_scheduler import PollScheduler
from bot.pipeline.poller import Poller, PollPolicy, PollResult
from bot.pipeline.retention import prune
from bot.settings import Settings
from bot.sources.adapters import supported_kinds
from bot.sources.http import Fetcher
from bot.sources.workers import InThread, Offload, WorkerPool, default_size
from bot.storage import leases, notices, sources, subscriptions
from bot.storage.db import AsyncDatabase, connect
from bot.storage.probes import write_probe

if TYPE_CHECKING:
    import discord

    from bot.chat.client import RegwatchBot

log = logging.getLogger(__name__)


def open_database(settings: Settings) -> Database:
    """Open (and migrate) the database named by the settings."""
    return connect(settings.database_location)


def sync_configuration(db: Database, settings: Settings, vendors: VendorCatalog) -> dict[str, Query]:
    """Load the configured sources and console subscriptions into the database.

    Returns the file's queries, parsed, by text: the first matcher build need not parse them again.
    """
    now = utcnow()
    kinds = supported_kinds()
    configs = [c for c in load_sources(settings.sources_file) if c.kind in kinds]
    added, disabled = sources.sync_config(db, configs, now)
    own = load_subscriptions(settings.subscriptions_file, vendors) if settings.subscriptions_file else []
    subs_added, subs_removed = subscriptions.sync_file(db, ((e.name, e.query) for e in own), now)
    wanted = starters_wanted(db, settings)
    starters = load_subscriptions(None, vendors) if wanted else []
    seeded, dropped = subscriptions.sync_starters(
        db, [(e.name, e.query) for e in starters], now, wanted=wanted
    )
    log.info(
        "configuration: %d sources (%d new, %d disabled), console subscriptions +%d -%d,"
        " starter subscriptions %s (+%d -%d)",
        len(configs),
        added,
        disabled,
        subs_added + seeded,
        subs_removed + dropped,
        "on" if wanted else "off",
        seeded,
        dropped,
    )
    return {entry.query: entry.parsed for entry in [*own, *starters]}


def starters_wanted(db: Database, settings: Settings) -> bool:
    """Decide whether the starter subscriptions exist (REGWATCH_STARTER_SUBSCRIPTIONS, docs/configuration.md).

    auto: only in pure console mode: no Discord token, no subscriptions file, none of the user's own.
    """
    if settings.starter_subscriptions != "auto":
        return settings.starter_subscriptions == "on"
    if settings.discord_token is not None or settings.subscriptions_file is not None:
        return False
    return not subscriptions.count_own(db)


def make_fetcher(settings: Settings) -> Fetcher:
    """Build the one shared HTTP client from the settings."""
    return Fetcher(
        user_agent=settings.user_agent,
        timeout=settings.http_timeout_seconds,
        connect_timeout=min(10.0, settings.http_timeout_seconds),
        max_bytes=settings.max_response_bytes,
        per_host=settings.http_per_host,
        allow_private=settings.allow_private_networks,
    )


async def check_sources(adb: AsyncDatabase, settings: Settings, board: NoticeBoard, clock: Clock) -> int:
    """Raise due notices about failing or silent sources and deliver what can be; return sent."""
    silent = timedelta(days=settings.source_silent_days) if settings.source_silent_days else None
    await adb.call(
        notices.raise_due,
        clock(),
        failing_after=timedelta(hours=settings.source_failing_notice_hours),
        silent_after=silent,
        retry_cap=timedelta(seconds=settings.max_backoff_seconds),
    )
    return await board.drain()


@dataclass
class Services:
    """The running parts of the service, built once and shared."""

    settings: Settings
    adb: AsyncDatabase
    fetcher: Fetcher
    vendors: VendorCatalog
    matchers: MatcherCache
    poller: Poller
    dispatcher: PacedDispatcher
    scheduler: PollScheduler
    metrics: Metrics
    digests: DigestScheduler
    notices: NoticeBoard
    clock: Clock = utcnow
    workers: Offload = field(default_factory=InThread)
    chores: Chores = field(default_factory=Chores)  # shared under leases by workers (bot/roles.py)
    role: str = "run"  # run: the one process; worker: one of several (bot/roles.py)

    async def check_sources(self) -> int:
        """Raise due notices about failing or silent sources and deliver what can be; return sent."""
        return await check_sources(self.adb, self.settings, self.notices, self.clock)


@asynccontextmanager
async def build_services(
    settings: Settings, *, sinks: dict[str, Sink] | None = None, clock: Clock = utcnow
) -> AsyncIterator[Services]:
    """Build every part in order and close them in reverse order."""
    vendors = VendorCatalog.load_default()
    db = open_database(settings)
    with leases.exclusive(db, "configuration"):  # workers starting together load it one at a time
        parsed = sync_configuration(db, settings, vendors)
    adb = AsyncDatabase(db)
    try:
        async with (
            make_fetcher(settings) as fetcher,
            WorkerPool(settings.parse_workers or default_size(), settings.parse_timeout_seconds) as pool,
        ):
            matchers = MatcherCache(adb, vendors, parsed)
            policy = PollPolicy(
                interval_seconds=settings.poll_interval_seconds,
                max_backoff_seconds=settings.max_backoff_seconds,
                max_item_age_hours=settings.max_item_age_hours,
                max_decompressed_bytes=max(settings.max_response_bytes * 5, 20 * 1024 * 1024),
                story_window_hours=settings.story_window_hours,
            )
            metrics = Metrics()
            poller = Poller(adb, fetcher, matchers, policy, clock=clock, offload=pool)
            dispatcher = PacedDispatcher(
                adb, sinks or {"console": ConsoleSink()}, clock=clock, on_outcome=metrics.observe_delivery
            )

            def on_result(result: PollResult) -> None:
                metrics.observe_poll(result)
                if result.alerts:
                    dispatcher.wake()

            # Never forget an item that could still alert: retention covers the alerting age.
            keep_days = max(settings.retention_days, -(-settings.max_item_age_hours // 24))

            chores = Chores()

            async def daily() -> None:
                await chores.run("prune", lambda: prune(adb, clock(), days=keep_days))

            # Notices go where console alerts go.
            console = (sinks or {}).get("console")
            stream = console.stream if isinstance(console, ConsoleSink) else None
            board = NoticeBoard(adb, stream=stream, clock=clock)
            digests = DigestScheduler(DigestRunner(adb, dispatcher, vendors, clock=clock), adb)

            async def after_tick() -> None:
                await chores.run("notices", partial(check_sources, adb, settings, board, clock))
                if chores.shared:  # workers send due digests as a chore; `run` has its digest timers
                    await chores.run("digests", digests.runner.run_due)

            scheduler = PollScheduler(
                adb,
                poller,
                concurrency=settings.poll_concurrency,
                tick_seconds=min(30.0, max(1.0, settings.poll_interval_seconds / 5)),
                clock=clock,
                on_result=on_result,
                daily=daily,
                after_tick=after_tick,
                on_round=partial(report_round, adb),
            )
            yield Services(
                settings,
                adb,
                fetcher,
                vendors,
                matchers,
                poller,
                dispatcher,
                scheduler,
                metrics,
                digests,
                board,
                clock=clock,
                workers=pool,
                chores=chores,
            )
    finally:
        await adb.close()


EVERY_SOURCE_FAILING = (
    "Every source failed: regwatch cannot reach the internet from here; check DNS/proxy and"
    " firewall settings (`regwatch sources check` retries them)"
)


def all_failed(results: list[PollResult]) -> bool:
    """Tell whether a round had sources and every one of them failed."""
    return bool(results) and all(r.status == "failed" for r in results)


def round_line(results: list[PollResult]) -> str:
    """Return the service's one-line summary of a round of polls."""
    failed = sum(1 for r in results if r.status == "failed")
    new = sum(r.new_items for r in results)
    alerts = sum(r.alerts for r in results)
    return f"round: polled {len(results)} sources ({failed} failed), {new} new items, {alerts} alerts"


async def report_round(adb: AsyncDatabase, results: list[PollResult]) -> None:
    """Log the round's summary; say plainly when every enabled source is failing."""
    log.info("%s", round_line(results))
    enabled = await adb.call(sources.list_sources, enabled_only=True)
    if enabled and all(s.failures for s in enabled):
        log.error(
            "%s: all %d sources are failing (latest error: %s).",
            EVERY_SOURCE_FAILING,
            len(enabled),
            enabled[0].last_error,
        )


def summarize(results: list[PollResult], delivered: int, pending: int, waiting: int = 0) -> str:
    """Return the one-line summary of a `run --once`, telling a new user what happened and what next."""
    failed = [r for r in results if r.status == "failed"]
    primed = [r for r in results if r.status == "primed"]
    recorded = sum(r.new_items for r in results)
    parts = [f"polled {len(results)} sources ({len(failed)} failed)", f"recorded {recorded} new items"]
    parts.append(f"delivered {delivered} alerts" + (f", {pending} still pending" if pending else ""))
    if waiting:
        parts.append(f"{waiting} alerts wait for their digest (`regwatch digest run` sends them now)")
    line = "; ".join(parts) + "."
    if primed:
        line += (
            f" First poll of {len(primed)} sources: their existing items are recorded, not alerted;"
            " run `regwatch run` to keep watching and get alerts for new items,"
            " or `regwatch match --subscriptions FILE URL` to see what matches today."
        )
    elif all_failed(results):
        line += f" {EVERY_SOURCE_FAILING} (first error: {failed[0].error})."
    elif failed:
        line += " See `regwatch sources list` for why sources failed."
    elif not delivered and not waiting:
        line += " Nothing new matched your subscriptions; `regwatch subs list` shows them."
    return line


async def start_discord_rest(services: Services) -> discord.Client:
    """Log in to Discord's REST API only and add the Discord sink: no gateway session.

    For one-shot commands (`run --once`, `digest run`): a second gateway session beside the
    running service would take its events, and the sink needs nothing but REST.
    """
    import discord

    from bot.chat.client import point_at
    from bot.delivery.discord_sink import DiscordSink

    settings = services.settings
    assert settings.discord_token is not None
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    client = discord.Client(intents=discord.Intents.none())
    await _login(client, settings)
    services.dispatcher.add_sink(DiscordSink(client, services.adb, clock=services.clock))
    return client


async def _login(client: discord.Client, settings: Settings) -> None:
    import discord

    assert settings.discord_token is not None
    try:
        await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        await client.close()
        raise ConfigError("REGWATCH_DISCORD_TOKEN: Discord rejected the token (401 Unauthorized)") from None
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        await client.close()
        raise RegwatchError(f"could not reach Discord at {settings.discord_api_base}: {exc}") from None


async def start_discord(services: Services, *, guild_ready_timeout: float = 2.0) -> RegwatchBot:
    """Log in to Discord, add the Discord sink, and connect the gateway in the background."""
    from bot.chat.client import RegwatchBot, ShardedRegwatchBot, point_at
    from bot.delivery.discord_sink import DiscordSink, post_guild_notice
    from bot.services.delivery_settings import ScheduleService
    from bot.services.guild import GuildService, Limits
    from bot.services.triage import TriageService
    from bot.services.webhooks import WebhookService

    settings = services.settings
    assert settings.discord_token is not None
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    limits = Limits(
        max_subscriptions=settings.max_subscriptions_per_guild,
        max_sources=settings.max_sources_per_guild,
        allow_private=settings.allow_private_networks,
        max_item_age_hours=settings.max_item_age_hours,
    )
    service = GuildService(
        services.adb,
        services.vendors,
        services.fetcher,
        limits,
        clock=services.clock,
        offload=services.workers,
    )
    # REGWATCH_DISCORD_SHARD_COUNT set: discord.py's AutoShardedClient runs this process's shards.
    sharded = settings.discord_shard_count is not None
    shards = (
        {"shard_count": settings.discord_shard_count, "shard_ids": settings.shard_ids} if sharded else None
    )
    bot = (ShardedRegwatchBot if sharded else RegwatchBot)(
        service,
        shards=shards,
        dev_guild_id=settings.discord_dev_guild_id,
        guild_ready_timeout=guild_ready_timeout,
        http_trace=services.metrics.discord_trace(),
        schedules=ScheduleService(services.adb, clock=services.clock),
        triage=TriageService(
            services.adb, services.vendors, settings.max_item_age_hours, clock=services.clock
        ),
        webhooks=WebhookService(services.adb, clock=services.clock),
    )
    await _login(bot, settings)
    services.dispatcher.add_sink(DiscordSink(bot, services.adb, clock=services.clock))
    services.notices.set_poster(partial(post_guild_notice, bot))
    bot.connection_task = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
    return bot


async def run_service(settings: Settings, *, once: bool = False, clock: Clock = utcnow) -> int:
    """Run the service until SIGTERM/SIGINT (or one round with once=True); return the exit code."""
    async with build_services(settings, clock=clock) as services:
        if once:
            return await _run_once(services)
        bot = await start_discord(services) if settings.discord_token is not None else None
        try:
            await _serve(services, bot)
            return 0
        finally:
            if bot is not None:
                await bot.close()


async def _run_once(services: Services) -> int:
    """One round (`run --once`): poll everything, deliver, print the summary; 1 when every source failed."""
    client = await start_discord_rest(services) if services.settings.discord_token is not None else None
    try:
        results = await services.scheduler.poll_all()
        drained = await services.dispatcher.drain_through_caps()
        await services.digests.runner.run_due()  # digests missed while nothing ran
        await services.check_sources()
        pending = await services.adb.call(_pending_count)
        waiting = await services.adb.call(_waiting_count)
        print(summarize(results, drained.sent, pending, waiting), flush=True)
        return 1 if all_failed(results) else 0
    finally:
        if client is not None:
            await client.close()


async def _serve(services: Services, bot: RegwatchBot | None) -> None:
    health = None
    if services.settings.health_port:  # first: a port in use stops the start before anything runs
        health = HealthServer(
            services.settings.health_host,
            services.settings.health_port,
            _readiness(services, bot),
            metrics=lambda: services.metrics.exposition(services.adb),
            metrics_content_type=CONTENT_TYPE,
        )
        try:
            await health.start()
        except OSError as exc:
            raise ConfigError(
                f"REGWATCH_HEALTH_PORT: cannot listen on {services.settings.health_host}:"
                f"{services.settings.health_port} ({exc.strerror or exc})"
            ) from None
        log.info("health endpoint on http://%s:%d/healthz", services.settings.health_host, health.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop)
    if isinstance(services.workers, WorkerPool):
        await services.workers.warm()
    # What start-up made (the catalog, configuration, modules, sessions) lives to the end: out of
    # the collector's generations, a full collection during a poll round need not walk it.
    gc.freeze()
    services.scheduler.start()
    delivery = asyncio.create_task(services.dispatcher.run(), name="dispatcher")
    if services.role == "run":  # workers run due digests as a chore after each tick (bot/roles.py)
        await services.digests.start()
    log.info(
        "regwatch running: polling every %d s, alerts to %s; Ctrl-C stops",
        services.settings.poll_interval_seconds,
        "Discord and the console" if bot else "the console",
    )
    problem = (
        None if services.settings.database_url else database_volume_problem(services.settings.database_path)
    )
    if problem is not None:
        # Another container than regwatch's image (which refuses to start): said loudly, once up.
        log.warning("%s", problem.message)
    stopper: asyncio.Task[object] = asyncio.create_task(stop.wait())
    waiters: set[asyncio.Task[Any]] = {stopper}
    gateway = bot.connection_task if bot is not None else None
    if gateway is not None:
        waiters.add(gateway)
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if gateway is not None and gateway in done and gateway.exception():
        log.error("the Discord connection ended: %s", gateway.exception())
    grace = services.settings.shutdown_grace_seconds
    log.info("stopping: no new polls, finishing the ones in flight (up to %g s)", grace)
    # Parses are abandoned at once (their sources stay due and are polled on the next start):
    # a hostile document must not hold the shutdown for its whole deadline.
    await services.workers.close()
    await services.scheduler.stop(grace=grace)
    await services.digests.stop()
    services.dispatcher.stop()
    try:
        # The alert being sent finishes (sent, then marked); the rest stay pending for next time.
        await asyncio.wait_for(delivery, timeout=max(grace, 1))
    except TimeoutError:
        delivery.cancel()
    stopper.cancel()
    if health is not None:
        await health.stop()
    log.info("stopped cleanly")


def _readiness(services: Services, bot: RegwatchBot | None) -> Callable[[], Awaitable[dict[str, bool]]]:
    async def check() -> dict[str, bool]:
        checks = {"scheduler": services.scheduler.running}
        try:
            await services.adb.call(write_probe)
            checks["database"] = True
        except Exception:
            checks["database"] = False
        if bot is not None:
            checks["discord"] = bot.is_ready() and not bot.is_closed()
        return checks

    return check


async def run_digests(
    settings: Settings, subscription_id: int | None = None, *, clock: Clock = utcnow
) -> int:
    """Send every digest's waiting alerts now (or one subscription's); print what went out."""
    async with build_services(settings, clock=clock) as services:
        bot = await start_discord_rest(services) if settings.discord_token is not None else None
        try:
            if (
                subscription_id is not None
                and await services.adb.call(subscriptions.get, subscription_id) is None
            ):
                raise ConfigError(
                    f"no subscription with id {subscription_id}; `regwatch subs list` shows them"
                )
            sent = await services.digests.runner.run_now(subscription_id)  # REST only
            alerts = sum(d.alerts for d in sent)
            print(f"sent {sum(1 for d in sent if d.alerts)} digests with {alerts} alerts.", flush=True)
            return 0
        finally:
            if bot is not None:
                await bot.close()


def _waiting_count(db: Database) -> int:
    from bot.storage import outbox

    return outbox.counts(db).get("digest", 0)


def _pending_count(db: Database) -> int:
    from bot.storage import outbox

    return outbox.counts(db)["pending"]


def _on_signal(stop: asyncio.Event) -> None:
    if stop.is_set():
        # A second signal: the operator wants out now. Transactions make this safe: an unfinished
        # poll stores nothing, and an alert sent but not yet marked is re-sent idempotently.
        log.warning("second signal: exiting at once")
        raise SystemExit(1)
    stop.set()
