"""The one place a failed delivery is decided, recorded and logged.

A sink raises DeliveryError (bot/domain/errors.py) and the caller hands it here with the alerts
of the message that failed:

    DeliveryError ──refused──▶ forget the message's nonce (the far side made nothing; the alerts
         │                     may be composed afresh) ─┐
         ├──permanent────────────────────────────────────┴▶ status failed  (logged once, ERROR)
         └──otherwise─────────────────────────────────────▶ retry at now + delay (logged once, WARNING)
    any other exception (a bug in a sink) ────────────────▶ retry (logged once with its traceback)

A digest that fails stays waiting for the next digest check (its alerts keep their status).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.errors import DeliveryError
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
    # The earliest moment a channel whose rate cap was full has room again (None: no cap was full).
    capped_until: datetime | None = field(default=None, compare=False)


def _context(alerts: Sequence[PendingAlert]) -> dict[str, object]:
    first = alerts[0]
    context: dict[str, object] = {"alert_id": first.id, "subscription_id": first.subscription_id}
    if first.guild_id is not None:
        context["guild_id"] = first.guild_id
    return context


def _which(alerts: Sequence[PendingAlert]) -> str:
    if len(alerts) == 1:
        return f"alert {alerts[0].id}"
    return f"{len(alerts)} alerts ({', '.join(str(a.id) for a in alerts)})"


class Failures:
    """Record delivery failures: retry with back-off, fail for good, or forget a refused message."""

    def __init__(
        self,
        adb: AsyncDatabase,
        clock: Clock,
        *,
        max_retry_seconds: int = 3600,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self._adb = adb
        self._clock = clock
        self._max_retry = max_retry_seconds
        self._on_outcome = on_outcome

    def tell(self, alert: PendingAlert, outcome: str) -> None:
        """Tell the outcome hook (metrics) what became of one alert's attempt."""
        if self._on_outcome is not None:
            self._on_outcome(alert, outcome, self._clock())

    def retry_delay(self, alert: PendingAlert, error: DeliveryError | None) -> timedelta:
        """Return how long an alert waits before its next attempt (the far side's word wins)."""
        base = min(self._max_retry, 5 * 2 ** min(alert.attempts, 16))
        if error is not None and error.retry_after is not None:
            base = max(1, min(self._max_retry, int(error.retry_after + 0.999)))
        return timedelta(seconds=base)

    async def forget_message(self, alerts: Sequence[PendingAlert]) -> None:
        """Drop the message these alerts were composed into: nothing was made of it."""
        # (Every alert: the marker may have been saved after these rows were read.)
        await self._adb.call(outbox.set_message_nonce, [a.id for a in alerts], None)

    async def record(self, alerts: Sequence[PendingAlert], error: BaseException, result: DrainResult) -> str:
        """Record that the message carrying these alerts was not delivered; return 'failed' or 'retry'."""
        target = alerts[0].target
        if not isinstance(error, DeliveryError):
            for alert in alerts:
                when = self._clock() + self.retry_delay(alert, None)
                await self._adb.call(outbox.mark_retry, alert.id, f"internal error: {error!r}", when)
                result.retrying += 1
                self.tell(alert, "retry")
            log.error(
                "%s to %s crashed the sink; retrying",
                _which(alerts),
                target,
                exc_info=error,
                extra=_context(alerts),
            )
            return "retry"
        if error.refused:
            await self.forget_message(alerts)
        if error.permanent:
            for alert in alerts:
                await self._adb.call(outbox.mark_failed, alert.id, str(error))
                result.failed += 1
                self.tell(alert, "failed")
            log.error("%s to %s failed for good: %s", _which(alerts), target, error, extra=_context(alerts))
            return "failed"
        when = self._clock()
        for alert in alerts:
            at = self._clock() + self.retry_delay(alert, error)
            when = max(when, at)
            await self._adb.call(outbox.mark_retry, alert.id, str(error), at)
            result.retrying += 1
            self.tell(alert, "retry")
        log.warning(
            "%s to %s not delivered (%s); retry at %s",
            _which(alerts),
            target,
            error,
            when,
            extra=_context(alerts),
        )
        return "retry"

    async def digest_not_sent(self, sub_id: int, error: DeliveryError) -> None:
        """Record that a digest was not delivered: it stays due and is tried at the next check.

        Its alerts keep the message they were composed into even when refused: an earlier part of
        the digest may have gone out, and the re-send must be the same message to be recognised.
        """
        log.warning(
            "digest of subscription %d not delivered (%s); retried later",
            sub_id,
            error,
            extra={"subscription_id": sub_id},
        )
