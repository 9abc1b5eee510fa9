"""Deliver the outbox channel by channel: plan held alerts, spill overflow, batch, keep rate caps.

Per drain, in this order:
1. Held alerts are planned (digest, now, or at the end of quiet hours).
2. A channel with more waiting alerts than its overflow cap sends the rest to the next digest.
3. Each Discord channel's due alerts are packed into messages of up to 10 embeds (6,000 units),
   and posted while the channel's rate cap allows; the rest wait (no attempt is counted). The
   cap counts the channel's send times kept in the database (storage/send_times.py), so it
   holds when the channel's lease moves to another worker, and counts digests too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.delivery.batch import Batch, pack
from bot.delivery.components import catalog_vendor
from bot.delivery.dispatcher import Dispatcher, DrainResult, is_addition
from bot.delivery.sink import Sink
from bot.domain.clock import Clock
from bot.domain.errors import DeliveryError
from bot.failpoints import failpoint
from bot.storage import delivery_settings, outbox, send_times, triage
from bot.storage.delivery_settings import RateCap
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)


class ChannelLimiter:
    """A sliding-window count of messages posted per channel, on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sent: dict[str, deque[datetime]] = {}

    def wait(self, target: str, cap: RateCap) -> float:
        """Return how many seconds until the channel may take another message (0: now)."""
        now = self._clock()
        window = timedelta(seconds=cap.window)
        sent = self._sent.setdefault(target, deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        if len(sent) < cap.limit:
            return 0.0
        return max(0.001, (sent[0] + window - now).total_seconds())

    def record(self, target: str) -> None:
        """Note a message posted to the channel now."""
        self._sent.setdefault(target, deque()).append(self._clock())

    def load(self, target: str, times: list[datetime]) -> None:
        """Replace what is known of a channel's recent messages (read from the database)."""
        self._sent[target] = deque(sorted(times))


class PacedDispatcher(Dispatcher):
    """The outbox dispatcher with schedules, quiet hours, per-channel batching and rate caps."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, clock=clock, **kwargs)
        self.limiter = ChannelLimiter(clock)
        self.deferred = 0  # alerts held back by a full rate cap, over this process's life

    async def drain(self) -> DrainResult:
        """Plan held alerts, spill overflow, then deliver every due alert in batches per channel."""
        result = DrainResult()
        await self._adb.call(outbox.plan_held, self._clock())
        # Mutes (the alert buttons') first: a muted alert is never planned into a message.
        muted = await self._adb.call(triage.apply_mutes, self._clock(), catalog_vendor)
        if muted:
            log.info("%d alerts held back by mutes (status muted)", muted)
        caps = await self._adb.call(delivery_settings.caps_by_scope)
        spilled = await self._adb.call(
            outbox.spill_overflow, self._clock(), {k: c.overflow_cap for k, c in caps.items()}
        )
        for target, count in spilled.items():
            log.warning("%s: %d alerts over the channel's overflow cap go to the next digest", target, count)
        seen: set[int] = set()
        while not self._stopping:
            due = await self._adb.call(outbox.due, self._clock(), 1000, kinds=tuple(self._sinks))
            due = [a for a in due if a.id not in seen]
            if not due:
                break
            seen.update(a.id for a in due)
            by_target: dict[str, list[PendingAlert]] = {}
            for alert in await self._claimed(due):
                by_target.setdefault(alert.target, []).append(alert)
            for target, alerts in by_target.items():
                sink = self._sinks[target.split(":", 1)[0]]
                if not sink.batches:
                    for alert in alerts:
                        await self._deliver(alert, result)
                        if self._stopping:
                            break
                else:
                    cap = caps.get(alerts[0].guild_id or 0, RateCap())
                    await self._deliver_channel(sink, target, alerts, cap, result)
                if self._stopping:
                    break
        return result

    async def drain_through_caps(self, max_wait: float = 60.0) -> DrainResult:
        """Drain; while a full rate cap holds alerts back for at most `max_wait` s, wait and drain again.

        For one-shot commands (`run --once`): the alerts of a round go out before the command
        exits, even when the channel's recent messages (this or an earlier process's, as the
        database has them) fill its cap. Alerts held for other reasons (quiet hours, digests,
        retries) are not waited for.
        """
        total = await self.drain()
        deadline = self._clock() + timedelta(seconds=max_wait)
        capped = total.capped_until
        while capped is not None and capped <= deadline and not self._stopping:
            await asyncio.sleep(max(0.0, (capped - self._clock()).total_seconds()))
            more = await self.drain()
            total.sent += more.sent
            total.retrying += more.retrying
            total.failed += more.failed
            capped = more.capped_until
        total.capped_until = capped
        return total

    async def _deliver_channel(
        self, sink: Sink, target: str, alerts: list[PendingAlert], cap: RateCap, result: DrainResult
    ) -> None:
        # A later copy of a story edits the story's first message: it goes on its own, not in a batch.
        additions = [a for a in alerts if is_addition(a)]
        alerts = [a for a in alerts if a not in additions]
        filters = await self._adb.call(delivery_settings.mention_filters, {a.subscription_id for a in alerts})
        # Alerts already composed into a message before a crash go out as that same message (same
        # alerts, same nonce), so Discord drops a copy of one it already made; the rest are packed.
        saved: dict[str, list[PendingAlert]] = {}
        fresh: list[PendingAlert] = []
        for alert in alerts:
            if alert.message_nonce:
                saved.setdefault(alert.message_nonce, []).append(alert)
            else:
                fresh.append(alert)
        compact = await self._adb.call(triage.embed_style, target) == "compact"
        batches = [batch for group in saved.values() for batch in pack(group, filters, compact=compact)]
        batches += pack(fresh, filters, compact=compact) if fresh else []
        batches += [Batch([a], {}) for a in additions]
        window = timedelta(seconds=cap.window)
        for n, batch in enumerate(batches):
            # The channel's recent messages as the database has them, read before each message:
            # posted here, by the lease's previous holder, or as a digest by another worker.
            recent = await self._adb.call(send_times.since, target, self._clock() - window)
            self.limiter.load(target, recent)
            wait = self.limiter.wait(target, cap)
            if wait > 0:
                rest = [a.id for b in batches[n:] for a in b.alerts]
                when = self._clock() + timedelta(seconds=wait)
                await self._adb.call(outbox.defer, rest, when)
                self.deferred += len(rest)
                result.capped_until = min(when, result.capped_until or when)
                log.debug("%s: rate cap full, %d alerts wait until %s", target, len(rest), when)
                return
            self.limiter.record(target)
            now = self._clock()
            await self._adb.call(send_times.record, target, now, forget_before=now - window)
            if not batch.payload:  # a story addition: the sink builds its edit
                await self._deliver(batch.alerts[0], result)
            else:
                await self._send_batch(sink, batch, result)
            if self._stopping:
                return

    async def _send_batch(self, sink: Sink, batch: Batch, result: DrainResult) -> None:
        alerts = batch.alerts
        nonce = batch.payload.get("nonce")
        if isinstance(nonce, str) and any(a.message_nonce != nonce for a in alerts):
            # The attempt marker: after a crash, the re-send is this same message and is looked for.
            # Only alerts nobody composed otherwise, under the channel's lease (several workers).
            lease = self.claims.token(alerts[0].target) if self.claims is not None else None
            ids = [a.id for a in alerts]
            if not await self._adb.call(outbox.claim_message, ids, nonce, self._clock(), lease=lease):
                log.warning("%s: these alerts were composed by another worker; left to it", alerts[0].target)
                return
        try:
            external_id = await sink.send_batch(alerts, batch.payload)
        except DeliveryError as exc:
            if exc.permanent and len(alerts) > 1:
                # One alert's embed may be what Discord refused: try each on its own.
                if exc.refused:
                    await self.failures.forget_message(alerts)
                    alerts = [replace(a, message_nonce=None) for a in alerts]
                for alert in alerts:
                    await self._deliver(alert, result)
                return
            await self.failures.record(alerts, exc, result)
            return
        except Exception as exc:
            await self.failures.record(alerts, exc, result)
            return
        failpoint("after_send")
        if not await self._mark_sent(alerts, external_id):
            return
        for alert in alerts:
            result.sent += 1
            self.failures.tell(alert, "sent")
