"""Drain the outbox to the sinks: send, then mark sent; failures wait and retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.sink import Sink
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import DeliveryError
from bot.failpoints import failpoint
from bot.storage import outbox
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)

# Told of every attempt: the alert, "sent" | "retry" | "failed", and when it happened.
OutcomeHook = Callable[[PendingAlert, str, datetime], None]


@dataclass
class DrainResult:
    """What one pass over the due alerts did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Dispatcher:
    """Deliver due outbox rows through the sink for their target kind, in order."""

    def __init__(
        self,
        adb: AsyncDatabase,
        sinks: Mapping[str, Sink],
        *,
        clock: Clock = utcnow,
        batch: int = 50,
        max_retry_seconds: int = 3600,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self._adb = adb
        self._sinks = dict(sinks)
        self._clock = clock
        self._batch = batch
        self._max_retry = max_retry_seconds
        self._on_outcome = on_outcome
        self._wake = asyncio.Event()
        self._stopping = False

    def add_sink(self, sink: Sink) -> None:
        """Deliver targets of the sink's kind through it from now on."""
        self._sinks[sink.kind] = sink

    def wake(self) -> None:
        """Ask the dispatcher to look at the outbox now (new alerts were enqueued)."""
        self._wake.set()

    def _retry_delay(self, alert: PendingAlert, error: DeliveryError | None) -> timedelta:
        base = min(self._max_retry, 5 * 2 ** min(alert.attempts, 16))
        if error is not None and error.retry_after is not None:
            base = max(1, min(self._max_retry, int(error.retry_after + 0.999)))
        return timedelta(seconds=base)

    def _context(self, alert: PendingAlert) -> dict[str, object]:
        context: dict[str, object] = {"alert_id": alert.id, "subscription_id": alert.subscription_id}
        if alert.guild_id is not None:
            context["guild_id"] = alert.guild_id
        return context

    def _tell(self, alert: PendingAlert, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(alert, outcome, self._clock())

    async def _deliver(self, alert: PendingAlert, result: DrainResult) -> None:
        kind = alert.target.split(":", 1)[0]
        sink = self._sinks[kind]
        context = self._context(alert)
        try:
            external_id = await sink.send(alert)
        except DeliveryError as exc:
            if exc.permanent:
                await self._adb.call(outbox.mark_failed, alert.id, str(exc))
                log.error("alert %d to %s failed for good: %s", alert.id, alert.target, exc, extra=context)
                result.failed += 1
                self._tell(alert, "failed")
            else:
                when = self._clock() + self._retry_delay(alert, exc)
                await self._adb.call(outbox.mark_retry, alert.id, str(exc), when)
                log.warning(
                    "alert %d to %s not delivered (%s); retry at %s",
                    alert.id,
                    alert.target,
                    exc,
                    when,
                    extra=context,
                )
                result.retrying += 1
                self._tell(alert, "retry")
            return
        except Exception as exc:
            when = self._clock() + self._retry_delay(alert, None)
            await self._adb.call(outbox.mark_retry, alert.id, f"internal error: {exc!r}", when)
            log.exception(
                "alert %d to %s crashed the sink; retry at %s", alert.id, alert.target, when, extra=context
            )
            result.retrying += 1
            self._tell(alert, "retry")
            return
        failpoint("after_send")
        await self._adb.call(outbox.mark_sent, alert.id, self._clock(), external_id)
        log.debug("alert %d sent to %s", alert.id, alert.target, extra=context)
        result.sent += 1
        self._tell(alert, "sent")

    async def drain(self) -> DrainResult:
        """Deliver every alert that is due now; return what happened."""
        result = DrainResult()
        seen: set[int] = set()
        while not self._stopping:
            due = await self._adb.call(outbox.due, self._clock(), self._batch, kinds=tuple(self._sinks))
            due = [a for a in due if a.id not in seen]
            if not due:
                break
            for alert in due:
                seen.add(alert.id)
                await self._deliver(alert, result)
                if self._stopping:
                    break
        return result

    async def run(self, idle_seconds: float = 2.0) -> None:
        """Drain whenever woken, or every idle_seconds, until stopped."""
        while not self._stopping:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox drain failed; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle_seconds)
            self._wake.clear()

    def stop(self) -> None:
        """Finish the alert in progress, then stop."""
        self._stopping = True
        self._wake.set()
