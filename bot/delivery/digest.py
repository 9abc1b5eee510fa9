"""Digests: send a subscription's waiting alerts as one message, on APScheduler cron jobs from the DB.

Rules:
- A digest is due when its schedule's latest time (in the server's time zone) is after the end of
  the last period sent (`digest_state.last_digest_at`, set when the schedule was chosen).
- Sending marks its alerts sent and moves `last_digest_at` to now in one transaction, so a restart
  after it does not send it again; a digest missed while the service was down is due at start, once.
- An empty period sends nothing and still starts the next period.
- Alerts of an instant subscription that a rate cap moved aside go out in an hourly catch-up digest.
- With several workers (`share`), each period is claimed in the database before it is posted: a
  lease of kind `digest` keyed by the subscription and the period's start. Only the claim's
  holder posts, the period is re-read under the claim (a period another process closed is not
  sent again), and the digest is marked sent only while the claim is held, in the same
  transaction. A holder that dies leaves the claim to expire; the next one re-sends the saved
  message with its saved nonce.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlite_utils import Database

from bot.delivery.batch import DigestText, digest_nonce, digest_payloads, group_alerts, mentions_for
from bot.delivery.components import catalog_vendor
from bot.delivery.pacing import PacedDispatcher
from bot.delivery.sink import Sink
from bot.domain.clock import Clock, iso, utcnow
from bot.domain.delivery_schedule import Schedule, ScheduleError, previous_run, zone
from bot.domain.errors import DeliveryError
from bot.domain.vendors import VendorCatalog
from bot.storage import delivery_settings, leases, outbox, send_times, subscriptions, triage
from bot.storage.db import AsyncDatabase
from bot.storage.delivery_settings import DigestSubscription
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)

CLAIM_KIND = "digest"


def period_key(sub: DigestSubscription) -> str:
    """Return the claim key of a subscription's current digest period: its id and the period's start."""
    return f"{sub.id}@{iso(sub.last_digest_at or sub.created_at)}"


def _claim_period(
    db: Database, sub: DigestSubscription, owner: str, seconds: float, now: datetime
) -> str | None:
    """Claim the subscription's current period; None when another process holds it or it was closed."""
    token = leases.acquire(db, CLAIM_KIND, period_key(sub), owner, seconds, now=now)
    if token is None:
        return None
    current = delivery_settings.digest_subscriptions(db, sub.id)
    if not current or period_key(current[0]) != period_key(sub):
        leases.release(db, token)  # another process sent this period since it was found due
        return None
    return token


def _finish_claimed(
    db: Database, sub_id: int, ids: list[int], now: datetime, external_id: str | None, token: str | None
) -> bool:
    """Mark a digest sent and start the next period, only while its claim is held (None: unclaimed)."""
    with db.atomic():
        if token is not None and not leases.holds(db, token, now=now):
            return False
        outbox.finish_digest(db, sub_id, ids, now, external_id)
    return True


@dataclass(frozen=True)
class _Claims:
    owner: str
    seconds: float


CATCH_UP = Schedule("hourly", time(0, 0))  # for alerts an instant subscription's rate cap moved aside


@dataclass(frozen=True)
class DigestSent:
    """One digest that went out (or an empty period that was closed)."""

    subscription_id: int
    alerts: int
    messages: int


class DigestRunner:
    """Build and send digests through the dispatcher's sinks."""

    def __init__(
        self,
        adb: AsyncDatabase,
        dispatcher: PacedDispatcher,
        vendors: VendorCatalog | None = None,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._adb = adb
        self._dispatcher = dispatcher
        self._vendors = vendors
        self._clock = clock
        self._lock = asyncio.Lock()
        self._claims: _Claims | None = None

    def share(self, owner: str, seconds: float) -> None:
        """From now on, claim each digest period in the database (as `owner`) before sending it."""
        self._claims = _Claims(owner, seconds)

    async def due(self) -> list[DigestSubscription]:
        """Return the subscriptions whose digest time has come since their last period ended."""
        now = self._clock()
        found = await self._adb.call(delivery_settings.digest_subscriptions)
        waiting = await self._adb.call(outbox.with_waiting_digest)
        for sub_id in sorted(set(waiting) - {s.id for s in found}):
            found += await self._adb.call(delivery_settings.digest_subscriptions, sub_id)
        due = []
        for sub in found:
            schedule = sub.schedule if sub.schedule.is_digest else CATCH_UP
            try:
                tz = zone(sub.timezone)
            except ScheduleError:
                tz = zone("UTC")
            last = previous_run(schedule, tz, now)
            start = sub.last_digest_at or sub.created_at
            if not sub.schedule.is_digest and sub.id in waiting:
                # A catch-up digest goes out at the first full hour after its oldest alert.
                start = max(start, waiting[sub.id])
            if last is not None and last > start:
                due.append(sub)
        return due

    async def run_due(self) -> list[DigestSent]:
        """Send every digest that is due now (each at most once); return what was sent."""
        async with self._lock:
            return [sent for sub in await self.due() if (sent := await self._send(sub)) is not None]

    async def run_now(self, sub_id: int | None = None) -> list[DigestSent]:
        """Send every digest's waiting alerts now (or one subscription's), whatever the schedule."""
        async with self._lock:
            if sub_id is not None:
                subs = await self._adb.call(delivery_settings.digest_subscriptions, sub_id)
            else:
                subs = await self._adb.call(delivery_settings.digest_subscriptions)
                known = {s.id for s in subs}
                for extra in await self._adb.call(outbox.with_waiting_digest):
                    if extra not in known:
                        subs += await self._adb.call(delivery_settings.digest_subscriptions, extra)
            return [sent for sub in subs if (sent := await self._send(sub, paced=False)) is not None]

    async def run_job(self, sub_id: int) -> None:
        """Run by a subscription's cron job: send its digest if due (a job never raises)."""
        try:
            async with self._lock:
                for sub in await self.due():
                    if sub.id == sub_id:
                        await self._send(sub)
        except Exception:
            log.exception("digest of subscription %d failed; retried at the next check", sub_id)

    async def _send(self, sub: DigestSubscription, *, paced: bool = True) -> DigestSent | None:
        claims = self._claims
        if claims is None:
            return await self._send_claimed(sub, None, paced)
        token = await self._adb.call(_claim_period, sub, claims.owner, claims.seconds, self._clock())
        if token is None:
            log.debug("digest of subscription %d: its period is another process's", sub.id)
            return None
        try:
            return await self._send_claimed(sub, token, paced)
        finally:
            await self._adb.call(leases.release, token)

    async def _send_claimed(
        self, sub: DigestSubscription, token: str | None, paced: bool = True
    ) -> DigestSent | None:
        now = self._clock()
        # A mute made since these alerts were held covers them too.
        await self._adb.call(triage.apply_mutes, now, catalog_vendor)
        alerts, spilled = await self._adb.call(outbox.digest_alerts, sub.id)
        if not alerts:
            if not await self._adb.call(_finish_claimed, sub.id, [], now, None, token):
                return None
            return DigestSent(sub.id, 0, 0)
        kind = sub.target.split(":", 1)[0]
        sink = self._dispatcher.sink(kind)
        if sink is None:
            log.info("digest of subscription %d waits: no %s sink in this process", sub.id, kind)
            return None
        # A digest composed before a crash goes out again as it was (same alerts, so the same
        # nonces: Discord drops the copy), then the alerts that arrived since, as a digest of their own.
        groups: dict[str | None, list[PendingAlert]] = {}
        for alert in alerts:
            groups.setdefault(alert.message_nonce, []).append(alert)
        fresh = groups.pop(None, [])
        count = messages = 0
        for group in [*groups.values(), fresh]:
            if not group:
                continue
            posted = await self._deliver(sub, sink, group, spilled, now, token, paced=paced)
            if posted is None:
                return None
            count += len(group)
            messages += posted
        log.info("digest of subscription %d sent: %d alerts", sub.id, count)
        return DigestSent(sub.id, count, messages)

    async def _deliver(
        self,
        sub: DigestSubscription,
        sink: Sink,
        alerts: list[PendingAlert],
        spilled: set[int],
        now: datetime,
        token: str | None = None,
        *,
        paced: bool = True,
    ) -> int | None:
        """Send one digest of these alerts and mark them sent; return the messages posted (None: not sent).

        To a channel under a rate cap (Discord) its messages count against the cap with the
        channel's other messages (storage/send_times.py). A scheduled digest (`paced`) waits, to
        the next check, while the channel has no room for it; one sent on request does not.
        """
        try:
            tz = zone(sub.timezone)
        except ScheduleError:
            tz = zone("UTC")
        schedule = sub.schedule if sub.schedule.is_digest else CATCH_UP
        start = (sub.last_digest_at or sub.created_at).astimezone(tz)
        described = schedule.describe().split(",")[0]
        title = described[0].upper() + described[1:] if sub.schedule.is_digest else "Digest"
        heading = (
            f"{title} for subscription {sub.label}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
            f" since {start:%Y-%m-%d %H:%M} ({tz.key})"
        )
        notes = []
        moved = sum(1 for a in alerts if a.id in spilled)
        if moved:
            notes.append(
                f"Note: {moved} of these alerts came in faster than this channel's rate cap allows and were"
                " moved from instant delivery into this digest."
            )
        digest = DigestText(heading, group_alerts(alerts, self._vendors), notes)
        ids = [a.id for a in alerts]
        roles = mentions_for(alerts, {sub.id: sub.mention_only})
        window: timedelta | None = None
        if sink.batches:
            cap = await self._adb.call(delivery_settings.get_rate_cap, sub.guild_id)
            window = timedelta(seconds=cap.window)
            recent = await self._adb.call(send_times.since, sub.target, self._clock() - window)
            parts = len(digest_payloads(digest, sub.target, ids, roles))
            if paced and len(recent) + min(parts, cap.limit) > cap.limit:
                log.info("digest of subscription %d waits: the channel's rate cap is full", sub.id)
                return None
        nonce = digest_nonce(sub.target, ids)
        if any(a.message_nonce != nonce for a in alerts):
            # The attempt marker: after a crash, this digest goes out again as the same message.
            await self._adb.call(outbox.set_message_nonce, ids, nonce)
        try:
            posted = await sink.send_digest(alerts, digest, roles)
        except DeliveryError as exc:
            await self._dispatcher.failures.digest_not_sent(sub.id, exc)
            return None
        if window is not None:
            for _ in posted:
                at = self._clock()
                await self._adb.call(send_times.record, sub.target, at, forget_before=at - window)
        external_id = posted[0] if posted else None
        if not await self._adb.call(_finish_claimed, sub.id, ids, now, external_id, token):
            log.warning("digest of subscription %d: its claim was lost; the new holder re-sends it", sub.id)
            return None
        return max(1, len(posted))  # a printed digest counts as one message


class DigestScheduler:
    """Own the digest cron jobs: rebuilt from the database at start and whenever subscriptions change."""

    def __init__(self, runner: DigestRunner, adb: AsyncDatabase, *, check_seconds: float = 60.0) -> None:
        self.runner = runner
        self._adb = adb
        self._check_seconds = check_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._version = -1

    async def start(self) -> None:
        """Build the jobs, send digests missed while down (once), then start the scheduler."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        await self.rebuild()
        self._scheduler.add_job(
            self._check,
            "interval",
            seconds=self._check_seconds,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="digest-check",
        )
        self._scheduler.start()
        try:
            await self.runner.run_due()
        except Exception:
            log.exception("sending missed digests failed; the next check retries")

    async def _check(self) -> None:
        # Rebuild after any subscription change; retry digests a failed send left due.
        try:
            await self.rebuild()
            await self.runner.run_due()
        except Exception:
            log.exception("digest check failed; trying again at the next one")

    async def rebuild(self, *, force: bool = False) -> None:
        """Make the cron jobs match the subscriptions' schedules in the database."""
        assert self._scheduler is not None
        version = await self._adb.call(subscriptions.version)
        if version == self._version and not force:
            return
        subs = await self._adb.call(delivery_settings.digest_subscriptions)
        wanted = {f"digest-{s.id}": s for s in subs}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("digest-") and job.id != "digest-check" and job.id not in wanted:
                job.remove()
        for job_id, sub in wanted.items():
            try:
                tz = zone(sub.timezone)
            except ScheduleError:
                tz = zone("UTC")
            self._scheduler.add_job(
                self.runner.run_job,
                CronTrigger(**sub.schedule.cron(), timezone=tz),
                args=(sub.id,),
                id=job_id,
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        self._version = version

    def fire_time(self, sub_id: int, after: datetime) -> datetime | None:
        """Return when the subscription's cron job fires next after `after` (UTC)."""
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(f"digest-{sub_id}")
        if job is None:
            return None
        fire = job.trigger.get_next_fire_time(None, after)
        return fire.astimezone(UTC) if fire else None

    async def stop(self) -> None:
        """Remove the jobs and stop the scheduler (a digest being sent finishes first)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
