"""Triage of alerts, for the alert buttons, the slash commands and the CLI alike.

Who may triage: members with Manage Server, or with the server's triage role (/settings
triage-role). Every id arrives from a button or a command and is checked to belong to the
caller's server.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.components import MUTE_DAYS, catalog_vendor
from bot.domain.clock import Clock, utcnow
from bot.domain.errors import UserError
from bot.domain.vendors import VendorCatalog
from bot.services import insight
from bot.storage import subscriptions, triage
from bot.storage.db import AsyncDatabase
from bot.storage.triage import EXPORT_FIELDS, Ack, AlertRef, Mute

__all__ = ["Ack", "AlertRef", "Mute", "TriageService", "to_csv", "to_json"]


@dataclass(frozen=True)
class Acknowledged:
    """The outcome of an Acknowledge press."""

    alerts: list[int]  # newly acknowledged by this press
    ack: Ack  # who acknowledged the message's first alert (maybe earlier, someone else)


class TriageService:
    """Acknowledge, explain, mute and export this server's alerts."""

    def __init__(
        self, adb: AsyncDatabase, vendors: VendorCatalog, max_item_age_hours: int, *, clock: Clock = utcnow
    ) -> None:
        self._adb = adb
        self._vendors = vendors
        self._max_age = max_item_age_hours
        self._clock = clock

    def now(self) -> datetime:
        """Return the current time on the service's clock."""
        return self._clock()

    async def may_triage(self, guild_id: int, role_ids: Sequence[int], manage_guild: bool) -> bool:
        """Tell whether a member may acknowledge and mute: Manage Server, or the server's triage role."""
        if manage_guild:
            return True
        role = await self._adb.call(triage.triage_role, guild_id)
        return role is not None and role in role_ids

    async def triage_role(self, guild_id: int) -> int | None:
        """Return the server's triage role, if any."""
        return await self._adb.call(triage.triage_role, guild_id)

    async def set_triage_role(self, guild_id: int, role_id: int | None, user_id: int) -> None:
        """Set (or clear) the server's triage role."""
        await self._adb.call(triage.set_triage_role, guild_id, role_id, f"discord:{user_id}", self._clock())

    async def set_embed_style(self, guild_id: int, channel_id: int, style: str, user_id: int) -> None:
        """Choose full or compact alert embeds for one channel."""
        await self._adb.call(
            triage.set_embed_style,
            guild_id,
            f"discord:{channel_id}",
            style,
            f"discord:{user_id}",
            self._clock(),
        )

    async def message_alerts(self, guild_id: int, alert_id: int) -> list[AlertRef]:
        """Return the alerts of the message a button sits under; refuse another server's alert."""
        refs = await self._adb.call(triage.message_alerts, alert_id)
        if not refs or refs[0].guild_id != guild_id:
            raise UserError(f"This server has no alert {alert_id}.")
        return [r for r in refs if r.guild_id == guild_id]

    async def acknowledge(self, guild_id: int, alert_id: int, user_id: int, user_name: str) -> Acknowledged:
        """Acknowledge every alert of the button's message; return what changed and who stands as acker."""
        refs = await self.message_alerts(guild_id, alert_id)
        done = await self._adb.call(
            triage.acknowledge, [r.id for r in refs], user_id, user_name, self._clock(), guild_id
        )
        ack = await self._adb.call(triage.get_ack, alert_id)
        assert ack is not None
        return Acknowledged(done, ack)

    async def explain(self, guild_id: int, alert_id: int) -> list[str]:
        """Explain why each alert of the button's message was made (its own subscription only)."""
        refs = await self.message_alerts(guild_id, alert_id)
        lines: list[str] = []
        for ref in refs[:5]:
            sub = await self._adb.call(subscriptions.get, ref.subscription_id)
            if sub is None or ref.link is None:
                lines.append(f"Alert {ref.id}: its subscription or link is gone; nothing more to say.")
                continue
            explanation = await self._adb.call(
                insight.explain_link,
                ref.link,
                [sub],
                self._vendors,
                self._max_age,
                guild_id=guild_id,
                sources_hint="/source list shows the sources.",
            )
            lines.extend(explanation.lines)
        if len(refs) > 5:
            lines.append(
                f"…and {len(refs) - 5} more alerts in this message: /alerts why link:<url> explains one."
            )
        return lines

    async def mute(self, guild_id: int, alert_id: int, user_id: int) -> list[Mute]:
        """Mute each vendor of the message's alerts (else its subscription) in their channel for 7 days."""
        refs = await self.message_alerts(guild_id, alert_id)
        now = self._clock()
        until = now + timedelta(days=MUTE_DAYS)
        wanted: dict[tuple[str, str, str], int] = {}
        for ref in refs:
            vendor = catalog_vendor(ref.terms, self._vendors)
            key = ("vendor", vendor) if vendor else ("subscription", str(ref.subscription_id))
            wanted.setdefault((ref.target, *key), ref.id)
        return [
            await self._adb.call(
                triage.add_mute, guild_id, target, kind, key, until, f"discord:{user_id}", now, first
            )
            for (target, kind, key), first in wanted.items()
        ]

    async def mutes(self, guild_id: int) -> list[Mute]:
        """Return the server's mutes in force."""
        return await self._adb.call(triage.active_mutes, self._clock(), guild_id=guild_id)

    async def export(self, guild_id: int | None, since: datetime | None) -> list[dict[str, str | int | None]]:
        """Return the audit timeline (alerts and events) of one server, or of all when guild_id is None."""
        return await self._adb.call(triage.export_rows, since, guild_id=guild_id)


def to_csv(rows: Sequence[dict[str, str | int | None]]) -> str:
    """Return the timeline as CSV with a header row (RFC 4180 quoting)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        # A spreadsheet runs a cell starting with = + - @ as a formula: feed titles must not.
        writer.writerow({k: _inert(v) for k, v in row.items()})
    return out.getvalue()


def to_json(rows: Sequence[dict[str, str | int | None]]) -> str:
    """Return the timeline as a JSON array of objects."""
    return json.dumps(list(rows), ensure_ascii=False, indent=1) + "\n"


def _inert(value: str | int | None) -> str | int | None:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
