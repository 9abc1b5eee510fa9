"""The buttons under every alert: Acknowledge, Why?, Mute/Snooze (Open source is a plain link).

Delivery posts them as JSON with custom ids `rw:<action>:<alert id>` (bot/delivery/components.py);
`AlertButton` is a discord.py DynamicItem whose template matches those ids, registered once with
`client.add_dynamic_items`. So any regwatch process answers a press on any alert message, however
old, with nothing kept in memory: the alert id in the custom id is all it needs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.chat.errors import sentence
from bot.chat.replies import reply
from bot.domain.errors import UserError
from bot.services.triage import TriageService

log = logging.getLogger(__name__)
Interaction = discord.Interaction[discord.Client]
TEMPLATE = r"rw:(?P<action>ack|why|mute):(?P<alert_id>[0-9]{1,19})"


def _triage(interaction: Interaction) -> TriageService | None:
    return getattr(interaction.client, "triage", None)


async def _allowed(interaction: Interaction, service: TriageService, doing: str) -> bool:
    """Re-check who may triage: Manage Server, or the server's triage role."""
    assert interaction.guild_id is not None
    roles = [r.id for r in getattr(interaction.user, "roles", [])]
    if await service.may_triage(interaction.guild_id, roles, interaction.permissions.manage_guild):
        return True
    role = await service.triage_role(interaction.guild_id)
    who = f"the <@&{role}> role or " if role else ""
    await reply(interaction, f"You need {who}the **Manage Server** permission to {doing} alerts.")
    return False


class AlertButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One of the alert's buttons; its custom id names the action and the alert."""

    def __init__(
        self,
        action: str,
        alert_id: int,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action, style=style, custom_id=f"rw:{action}:{alert_id}", disabled=disabled
            )
        )
        self.action = action
        self.alert_id = alert_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AlertButton:
        """Rebuild the button from a press on any message (after a restart too)."""
        button = item if isinstance(item, discord.ui.Button) else None
        return cls(
            match["action"],
            int(match["alert_id"]),
            label=button.label if button else None,
            style=button.style if button else discord.ButtonStyle.secondary,
        )

    async def callback(self, interaction: Interaction) -> None:
        """Answer a press."""
        service = _triage(interaction)
        if interaction.guild_id is None or service is None:
            await reply(interaction, "Alert buttons work inside a server.")
            return
        try:
            if self.action == "ack":
                await self._acknowledge(interaction, service)
            elif self.action == "why":
                lines = await service.explain(interaction.guild_id, self.alert_id)
                await reply(interaction, "\n".join(lines))
            else:
                await self._mute(interaction, service)
        except UserError as exc:
            # Buttons are not commands: the command tree's handler does not see their errors.
            await reply(interaction, sentence(str(exc)))

    async def _acknowledge(self, interaction: Interaction, service: TriageService) -> None:
        assert interaction.guild_id is not None
        if not await _allowed(interaction, service, "acknowledge"):
            return
        user = interaction.user
        done = await service.acknowledge(interaction.guild_id, self.alert_id, user.id, user.display_name)
        ack = done.ack
        if not done.alerts:
            await reply(
                interaction,
                f"Already acknowledged by <@{ack.user_id}> <t:{int(ack.at.timestamp())}:R>.",
            )
            return
        message = interaction.message
        stamp = int(ack.at.timestamp())
        note = f"✅ Acknowledged by <@{ack.user_id}> <t:{stamp}:f>"
        content = (message.content if message else "").strip()
        view = acknowledged_view(message, f"Acknowledged by {ack.user_name}"[:80])
        # An edit never pings; allowed_mentions stays empty so the note's user mention does not either.
        await interaction.response.edit_message(
            content=f"{content}\n{note}" if content else note,
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _mute(self, interaction: Interaction, service: TriageService) -> None:
        assert interaction.guild_id is not None
        if not await _allowed(interaction, service, "mute"):
            return
        mutes = await service.mute(interaction.guild_id, self.alert_id, interaction.user.id)
        parts = []
        for mute in mutes:
            what = mute.key if mute.kind == "vendor" else f"subscription {mute.key}"
            channel = mute.target.split(":", 1)[-1]
            parts.append(f"{what} in <#{channel}> until <t:{int(mute.until.timestamp())}:f>")
        await reply(
            interaction,
            "Muted "
            + "; ".join(parts)
            + ". Matching alerts there are recorded (status muted, in /alerts export) but not posted.",
        )


def acknowledged_view(message: discord.Message | None, label: str) -> discord.ui.View:
    """Return the message's buttons again, with Acknowledge turned into a disabled note."""
    view = discord.ui.View(timeout=None)
    for row in message.components if message else []:
        for child in getattr(row, "children", []):
            if not isinstance(child, discord.Button):
                continue
            if child.url:
                view.add_item(discord.ui.Button(label=child.label, url=child.url))
                continue
            found = re.fullmatch(TEMPLATE, child.custom_id or "")
            if found is None:
                continue
            acked = found["action"] == "ack"
            view.add_item(
                AlertButton(
                    found["action"],
                    int(found["alert_id"]),
                    label=label if acked else child.label,
                    style=child.style,
                    disabled=acked or child.disabled,
                )
            )
    return view
