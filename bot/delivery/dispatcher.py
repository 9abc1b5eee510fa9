"""Drain the outbox to the sinks: send, then mark sent; failures wait and retry (failures.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime

from bot.delivery.claims import ChannelClaims
from bot.delivery.embed import nonce_for
from bot.delivery.failures import DrainResult, Failures, OutcomeHook
from bot.delivery.sink import Sink
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import DeliveryError
from bot.failpoints import failpoint
from bot.storage import outbox
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)

__all__ = ["Dispatcher", "DrainResult", "OutcomeHook"]


def is_addition(alert: PendingAlert) -> bool:
    """Tell whether an alert is a later copy of a story whose first alert was not given up on."""
    return alert.story is not None and alert.story.first_status != "failed"


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
        self.failures = Failures(adb, self.now, max_retry_seconds=max_retry_seconds, on_outcome=on_outcome)
        self._wake = asyncio.Event()
        self._stopping = False
        self.claims: ChannelClaims | None = None  # several workers: deliver held channels only

    async def _claimed(self, due: list[PendingAlert]) -> list[PendingAlert]:
        """Keep the alerts of channels this process may deliver now (all of them without claims)."""
        return due if self.claims is None else await self.claims.keep(due)

    async def _mark_sent(self, alerts: list[PendingAlert], external_id: str | None) -> bool:
        """Record the alerts of one message sent; with claims, only while the channel's lease is held."""
        lease = self.claims.token(alerts[0].target) if self.claims is not None else None
        ids = [a.id for a in alerts]
        if await self._adb.call(outbox.mark_all_sent, ids, self._clock(), external_id, lease=lease):
            return True
        log.warning(
            "%s: lease lost before alerts %s were marked sent; its new holder re-sends them",
            alerts[0].target,
            ids,
        )
        return False

    def now(self) -> datetime:
        """Return the time on the dispatcher's clock (read at each call: a test may replace it)."""
        return self._clock()

    def add_sink(self, sink: Sink) -> None:
        """Deliver targets of the sink's kind through it from now on."""
        self._sinks[sink.kind] = sink

    def sink(self, kind: str) -> Sink | None:
        """Return the sink delivering targets of this kind, if any."""
        return self._sinks.get(kind)

    def wake(self) -> None:
        """Ask the dispatcher to look at the outbox now (new alerts were enqueued)."""
        self._wake.set()

    async def _deliver(self, alert: PendingAlert, result: DrainResult) -> None:
        """Deliver one alert on its own (or as an addition to its story), then mark it sent."""
        sink = self._sinks[alert.target.split(":", 1)[0]]
        addition = is_addition(alert)
        try:
            if addition:
                assert alert.story is not None
                if alert.story.first_status != "sent":
                    raise DeliveryError("waiting for the story's first alert", retry_after=5)
                external_id = await sink.add_to_story(alert)
            else:
                if sink.batches and alert.message_nonce is None:
                    # The attempt marker: after a crash, the re-send looks for this message first.
                    await self._adb.call(outbox.set_message_nonce, [alert.id], nonce_for(alert))
                external_id = await sink.send(alert)
        except Exception as exc:
            await self.failures.record([alert], exc, result)
            return
        failpoint("after_send")
        if not await self._mark_sent([alert], external_id):
            return
        log.debug("alert %d sent to %s", alert.id, alert.target, extra={"alert_id": alert.id})
        result.sent += 1
        self.failures.tell(alert, "sent")

    async def drain(self) -> DrainResult:
        """Deliver every alert that is due now; return what happened."""
        result = DrainResult()
        seen: set[int] = set()
        while not self._stopping:
            due = await self._adb.call(outbox.due, self._clock(), self._batch, kinds=tuple(self._sinks))
            due = [a for a in due if a.id not in seen]
            if not due:
                break
            seen.update(a.id for a in due)
            for alert in await self._claimed(due):
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
