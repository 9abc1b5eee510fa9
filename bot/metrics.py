"""Prometheus metrics for /metrics: one registry per service, built in the composition root.

Counters move where the work happens (the poll result callback, the dispatcher's outcome
callback, an aiohttp trace on Discord's HTTP client); gauges of stored state (the outbox, source
health) are read from the database when Prometheus scrapes, so they are never stale.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace

import aiohttp
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

from bot import __version__
from bot.pipeline.poller import PollResult
from bot.storage import outbox, sources
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)

POLL_OUTCOMES = ("new", "unchanged", "primed", "failed")
DELIVERY_OUTCOMES = ("sent", "retry", "failed")
# The classic text format, which every Prometheus (2.x and 3.x) and agent reads; our names are ASCII.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Fetches take tens of milliseconds to the HTTP timeout (20 s by default).
_FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Alerts go out within seconds, or wait out a rate limit, a retry or a paused channel.
_DELIVERY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)


class Metrics:
    """The service's metrics in their own registry (nothing global, so tests never share them)."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("regwatch_polls", "Polls of a source, by outcome.", ["outcome"], registry=r)
        self.fetch_seconds = Histogram(
            "regwatch_fetch_duration_seconds",
            "Time to fetch a source's document (failures included).",
            buckets=_FETCH_BUCKETS,
            registry=r,
        )
        self.items_seen = Counter("regwatch_items_seen", "Entries read from fetched documents.", registry=r)
        self.items_new = Counter("regwatch_items_new", "Entries not seen before, now stored.", registry=r)
        self.alerts_enqueued = Counter(
            "regwatch_alerts_enqueued",
            "Alerts enqueued: subscription matches of new items, one per link and target.",
            registry=r,
        )
        self.deliveries = Counter(
            "regwatch_deliveries", "Delivery attempts, by outcome.", ["outcome"], registry=r
        )
        self.delivery_seconds = Histogram(
            "regwatch_delivery_latency_seconds",
            "Time from an alert's enqueueing to its confirmed delivery.",
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )
        self.rate_limits = Counter(
            "regwatch_discord_rate_limits",
            "429 answers from Discord's API (discord.py waits and retries).",
            registry=r,
        )
        self.outbox = Gauge(
            "regwatch_outbox_alerts",
            "Alerts in the outbox, by status (read at scrape).",
            ["status"],
            registry=r,
        )
        self.sources = Gauge(
            "regwatch_sources", "Sources, by health state (read at scrape).", ["state"], registry=r
        )
        Info("regwatch_build", "The running regwatch version.", registry=r).info({"version": __version__})
        if process:
            ProcessCollector(registry=r)
        # Every label value from the start, so a rate() never misses the first increment.
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome)

    def observe_poll(self, result: PollResult) -> None:
        """Count one poll (scheduler callback)."""
        if result.status in POLL_OUTCOMES:
            self.polls.labels(result.status).inc()
        if result.fetch_seconds is not None:
            self.fetch_seconds.observe(result.fetch_seconds)
        self.items_seen.inc(result.entries)
        self.items_new.inc(result.new_items)
        self.alerts_enqueued.inc(result.alerts)

    def observe_delivery(self, alert: PendingAlert, outcome: str, now: datetime) -> None:
        """Count one delivery attempt; time a confirmed one from its enqueueing (dispatcher callback)."""
        self.deliveries.labels(outcome).inc()
        if outcome == "sent":
            self.delivery_seconds.observe(max(0.0, (now - alert.created_at).total_seconds()))

    def discord_trace(self) -> aiohttp.TraceConfig:
        """Return an aiohttp trace for discord.py's HTTP client that counts Discord's 429 answers."""

        # discord.py sleeps and retries 429s itself; its client's HTTP trace is the one public hook.
        async def on_request_end(
            _session: aiohttp.ClientSession, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            if params.response.status == 429:
                self.rate_limits.inc()

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_request_end)
        return trace

    async def exposition(self, adb: AsyncDatabase) -> bytes:
        """Read the stored state into the gauges and return the registry in Prometheus text format."""
        counts = await adb.call(outbox.counts)
        for status, count in counts.items():
            self.outbox.labels(status).set(count)
        for state, count in (await adb.call(sources.health_counts)).items():
            self.sources.labels(state).set(count)
        return generate_latest(self.registry)
