"""/watch vendor | keywords | list | edit | remove | schedule | mention | preview."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.chat.errors import manage_server
from bot.chat.paging import Page, page_of, send_page
from bot.chat.replies import code, linked, reply
from bot.delivery.embed import escape
from bot.domain.text import fold
from bot.services.delivery_settings import ScheduleService
from bot.services.guild import GuildService
from bot.services.scope import Scope

Interaction = discord.Interaction[discord.Client]


class WatchGroup(app_commands.Group):
    """Subscribe channels to vendors and queries."""

    def __init__(self, service: GuildService, schedules: ScheduleService | None = None) -> None:
        super().__init__(
            name="watch", description="Subscribe channels to vendors and keyword queries", guild_only=True
        )
        self.service = service
        self.schedules = schedules

    async def _subscribe(
        self,
        interaction: Interaction,
        query: str,
        channel: discord.abc.GuildChannel | discord.Thread | None,
        mention: discord.Role | None,
        what: str,
    ) -> None:
        assert interaction.guild_id is not None
        channel_id = channel.id if channel is not None else interaction.channel_id
        assert channel_id is not None
        sub, warnings = await self.service.subscribe(
            interaction.guild_id,
            channel_id,
            interaction.user.id,
            query,
            origin_channel_id=interaction.channel_id,
            mention_role_id=mention.id if mention else None,
        )
        notes = "".join(f"\nNote: {escape(w, 300)}" for w in warnings)
        ping = f" mentioning {mention.mention}" if mention else ""
        await reply(
            interaction,
            f"Subscribed <#{channel_id}> to {what} (subscription {sub.id}){ping}. New matching items will be "
            f"posted there; /watch preview shows what it would have caught recently.{notes}",
        )

    @app_commands.command(name="vendor", description="Alert a channel about a vendor, under all its names")
    @manage_server
    @app_commands.describe(
        name="Vendor from the catalog",
        channel="Channel for the alerts (default: this one)",
        mention="Role to mention in each alert",
        actions_only="Only items classified as regulatory actions (bans, directives, sanctions, ...)",
    )
    async def vendor(
        self,
        interaction: Interaction,
        name: str,
        channel: discord.TextChannel | None = None,
        mention: discord.Role | None = None,
        actions_only: bool = False,
    ) -> None:
        """Subscribe to a catalog vendor."""
        query = self.service.vendor_query(name, actions_only=actions_only)
        await self._subscribe(interaction, query, channel, mention, code(query))

    @vendor.autocomplete("name")
    async def vendor_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Suggest catalog vendors whose name or alias contains what was typed."""
        needle = fold(current).strip()
        choices = []
        for vendor in self.service.vendors:
            alias = next((n for n in vendor.all_names if needle in fold(n)), None)
            if alias is not None:
                label = vendor.name if alias == vendor.name or not needle else f"{vendor.name} ({alias})"
                choices.append(app_commands.Choice(name=label[:100], value=vendor.name))
        return choices[:25]

    @app_commands.command(name="keywords", description="Alert a channel about a keyword query")
    @manage_server
    @app_commands.describe(
        query='e.g. Kaspersky AND (ban OR prohibit*), "emergency directive", vendor:Huawei NEAR/5 ban*',
        channel="Channel for the alerts (default: this one)",
        mention="Role to mention in each alert",
    )
    async def keywords(
        self,
        interaction: Interaction,
        query: app_commands.Range[str, 1, 1000],
        channel: discord.TextChannel | None = None,
        mention: discord.Role | None = None,
    ) -> None:
        """Subscribe to a query."""
        await self._subscribe(interaction, query, channel, mention, code(query))

    @app_commands.command(name="list", description="This server's subscriptions")
    @app_commands.describe(page="Page of a long list (default 1)")
    async def list_(self, interaction: Interaction, page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """List this server's subscriptions with ids and state, a page at a time with buttons."""
        await send_page(interaction, "watch", await self.draw(interaction, "watch", page, 0))

    async def draw(self, interaction: Interaction, kind: str, page: int, arg: int) -> Page:
        """Return a page of this server's subscriptions (the list's Previous/Next buttons call it too)."""
        assert interaction.guild_id is not None
        subs = await self.service.list_subscriptions(interaction.guild_id)
        if not subs:
            return Page("This server has no subscriptions yet. Try /watch vendor name:Kaspersky.", 1, False)
        lines = []
        digests = await self.schedules.described(Scope.guild(interaction.guild_id)) if self.schedules else {}
        for s in subs:
            state = f" — **paused**: {escape(s.paused_reason or '', 300)}" if s.paused else ""
            role = f" mentions <@&{s.mention_role_id}>" if s.mention_role_id else ""
            when = f" ({digests[s.id]})" if s.id in digests else ""
            lines.append(f"`{s.id}` <#{s.target.split(':')[-1]}> {code(s.query)}{role}{when}{state}")
        return page_of(lines, page, "/watch list")

    @app_commands.command(name="remove", description="Remove one of this server's subscriptions")
    @manage_server
    @app_commands.describe(id="Subscription id (see /watch list)")
    async def remove(self, interaction: Interaction, id: int) -> None:
        """Remove a subscription of this server."""
        assert interaction.guild_id is not None
        await self.service.remove_subscription(interaction.guild_id, id, user_id=interaction.user.id)
        await reply(interaction, f"Removed subscription {id}.")

    @app_commands.command(
        name="edit", description="Change a subscription: query, channel, schedule, pause or resume"
    )
    @manage_server
    @app_commands.describe(
        id="Subscription id (see /watch list)",
        query="New query, as for /watch keywords",
        channel="New channel for its alerts",
        schedule="instant, hourly :MM, daily HH:MM, or weekly HH:MM DAY (e.g. weekly 09:00 mon)",
        paused="true: hold its alerts (kept, posted on resume); false: resume",
    )
    async def edit(
        self,
        interaction: Interaction,
        id: int,
        query: app_commands.Range[str, 1, 1000] | None = None,
        channel: discord.TextChannel | None = None,
        paused: bool | None = None,
        schedule: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        """Change one of this server's subscriptions in place, keeping its id and mention."""
        assert interaction.guild_id is not None
        edited = await self.service.edit_subscription(
            interaction.guild_id,
            id,
            interaction.user.id,
            query_text=query,
            channel_id=channel.id if channel is not None else None,
            paused=paused,
            schedule=schedule,
        )
        sub = edited.subscription
        when = f" Delivery: {edited.schedule.describe()}." if schedule is not None else ""
        state = " It is **paused**: its alerts are kept until you resume it." if sub.paused else ""
        notes = "".join(f"\nNote: {w}" for w in edited.warnings)
        await reply(
            interaction,
            f"Subscription {sub.id} now watches {code(sub.query)} in <#{sub.target.split(':')[-1]}>."
            f"{when}{state}{notes}",
        )

    @app_commands.command(name="schedule", description="Deliver a subscription at once or in digests")
    @manage_server
    @app_commands.describe(
        id="Subscription id (see /watch list)",
        mode="instant, or an hourly, daily or weekly digest",
        time="HH:MM in this server's time zone (daily, weekly; hourly uses the minute)",
        day="Day of a weekly digest",
        urgent_instant="Bans, directives, sanctions, entity-list additions go out at once (default yes)",
    )
    @app_commands.choices(
        mode=[app_commands.Choice(name=m, value=m) for m in ("instant", "hourly", "daily", "weekly")],
        day=[app_commands.Choice(name=d, value=d) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")],
    )
    async def schedule(
        self,
        interaction: Interaction,
        id: int,
        mode: str,
        time: app_commands.Range[str, 1, 5] | None = None,
        day: str | None = None,
        urgent_instant: bool = True,
    ) -> None:
        """Set a subscription's delivery schedule."""
        assert interaction.guild_id is not None and self.schedules is not None
        schedule, tz = await self.schedules.schedule(
            Scope.guild(interaction.guild_id, interaction.user.id),
            id,
            mode,
            time,
            day,
            urgent_instant=urgent_instant,
        )
        if not schedule.is_digest:
            await reply(interaction, f"Subscription {id} now posts each alert as it comes.")
            return
        urgent = (
            " Bans, directives, sanctions and entity-list additions still go out at once."
            if schedule.urgent_instant
            else ""
        )
        await reply(
            interaction,
            f"Subscription {id}: {schedule.describe()} ({tz}; /settings timezone changes it). "
            f"Its alerts are collected and posted as one digest.{urgent}",
        )

    @app_commands.command(name="mention", description="Mention a role for a subscription's alerts")
    @manage_server
    @app_commands.describe(
        id="Subscription id (see /watch list)",
        role="Role to mention (leave out to mention nobody)",
        only="Only for these action types or severities, e.g. ban, sanction or high",
    )
    async def mention(
        self,
        interaction: Interaction,
        id: int,
        role: discord.Role | None = None,
        only: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Set the role a subscription mentions, optionally only for some action types or severities."""
        assert interaction.guild_id is not None and self.schedules is not None
        scope = Scope.guild(interaction.guild_id, interaction.user.id)
        wanted = await self.schedules.mention(scope, id, role.id if role else None, only)
        if role is None:
            await reply(interaction, f"Subscription {id} mentions nobody.")
            return
        only_for = f" for {', '.join(wanted)} alerts" if wanted else ""
        await reply(interaction, f"Subscription {id} mentions {role.mention}{only_for}.")

    @edit.autocomplete("id")
    @schedule.autocomplete("id")
    @mention.autocomplete("id")
    @remove.autocomplete("id")
    async def subscription_ids(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Suggest this server's subscriptions only."""
        if interaction.guild_id is None:
            return []
        subs = await self.service.list_subscriptions(interaction.guild_id)
        typed = str(current).strip()
        return [
            app_commands.Choice(name=f"{s.id}: {s.query}"[:100], value=s.id)
            for s in subs
            if not typed or typed in str(s.id) or typed.casefold() in s.query.casefold()
        ][:25]

    @app_commands.command(
        name="preview",
        description="What a query would have matched in recent items",
        # Manage Server: a preview scans every stored item, the costliest thing a member can ask.
        extras={"manage_purpose": "to preview queries (a preview scans every stored item)"},
    )
    @manage_server
    @app_commands.describe(
        query="A query, as for /watch keywords", days="How many days back (1-365, default 30)"
    )
    async def preview(
        self,
        interaction: Interaction,
        query: app_commands.Range[str, 1, 1000],
        days: app_commands.Range[int, 1, 365] = 30,
    ) -> None:
        """Run a query over stored items and show counts per day and the top matches."""
        self.service.parse(query)  # an invalid query is answered at once, before deferring
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.service.preview(query, days, guild_id=interaction.guild_id)
        if not result.total:
            text = f"No match among {result.scanned} items stored in the last {days} days."
        else:
            per_day = ", ".join(f"{day}: {n}" for day, n in result.per_day[:10])
            top = "\n".join(
                f"• {linked(it.title, it.link)} — {escape(it.source_name, 100)}"
                f" ({escape(', '.join(terms), 200)})"
                for it, terms in result.top
            )
            head = f"{result.total} matches among {result.scanned} items in the last {days} days"
            text = f"{head} ({per_day}).\n{top}"
        text += "".join(f"\nNote: {escape(w, 300)}" for w in result.notes)
        await reply(interaction, text)
