"""Long lists in pages with Previous/Next buttons: /watch list, /source list, /source status, /alerts recent.

A list reply carries two buttons whose custom ids say everything needed to draw another page:
`rw:page:<kind>:<page>:<user id>:<arg>` (the list, the page the button leads to, who opened the
list, and one number the list needs, such as /alerts recent's count). `PageButton` is a discord.py
DynamicItem registered once with `client.add_dynamic_items`, so a press is answered by any
regwatch process, after any restart, with nothing kept in memory: the page is drawn again from the
database and the message is edited in place. Why not a View held in memory with a timeout: an
ephemeral list stays on the member's screen for as long as they keep Discord open, and its buttons
must not go dead after a restart or a few minutes.

Each list belongs to a command group that implements `Pages.draw(interaction, kind, page, arg)`;
the kinds and their groups are in `KINDS`. The `page` option of each command keeps working.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import discord

from bot.chat.replies import pages, reply

log = logging.getLogger(__name__)
Interaction = discord.Interaction[discord.Client]

# The list kind -> the slash command group that draws it.
KINDS = {"watch": "watch", "sources": "source", "status": "source", "alerts": "alerts"}
TEMPLATE = (
    r"rw:page:(?P<kind>watch|sources|status|alerts)"
    r":(?P<page>[0-9]{1,6}):(?P<user>[0-9]{1,20}):(?P<arg>[0-9]{1,4})"
)


@dataclass(frozen=True)
class Page:
    """One page of a list: its text, its number (from 1), and whether pages come before and after it."""

    text: str
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        """Tell whether a page comes before this one."""
        return self.number > 1


@runtime_checkable
class Pages(Protocol):
    """A command group that can draw any page of its lists."""

    async def draw(self, interaction: Interaction, kind: str, page: int, arg: int) -> Page:
        """Return page `page` of list `kind` for the interaction's server."""
        ...


def page_of(lines: list[str], page: int, command: str, head: str = "") -> Page:
    """Return page `page` (from 1, clamped to the last) of a long list, with where it is and what next."""
    split = pages(lines, head)
    number = min(max(page, 1), len(split))
    text = split[number - 1]
    if len(split) > 1:
        more = f"; `{command} page:{number + 1}` shows the next" if number < len(split) else ""
        text += f"\n\nPage {number} of {len(split)} ({len(lines)} in all){more}."
    return Page(text, number, number < len(split))


def custom_id(kind: str, page: int, user_id: int, arg: int = 0) -> str:
    """Return the custom id of a button leading to `page` of a list opened by `user_id`."""
    return f"rw:page:{kind}:{page}:{user_id}:{arg}"


def buttons(kind: str, page: Page, user_id: int, arg: int = 0) -> discord.ui.View | None:
    """Return the Previous/Next buttons of a page, or None when the list has only this page."""
    if not page.has_previous and not page.has_next:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(
        PageButton(kind, page.number - 1, user_id, arg, label="◀ Previous", disabled=not page.has_previous)
    )
    view.add_item(PageButton(kind, page.number + 1, user_id, arg, label="Next ▶", disabled=not page.has_next))
    return view


async def send_page(interaction: Interaction, kind: str, page: Page, arg: int = 0) -> None:
    """Answer a list command with a page and, when there are others, its buttons."""
    await reply(interaction, page.text, view=buttons(kind, page, interaction.user.id, arg))


class PageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """Previous or Next under a list; its custom id names the list, the page and who opened it."""

    def __init__(
        self, kind: str, page: int, user_id: int, arg: int = 0, *, label: str = "", disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or f"Page {page}",
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(kind, page, user_id, arg),
                disabled=disabled,
            )
        )
        self.kind = kind
        self.page = page
        self.user_id = user_id
        self.arg = arg

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        """Rebuild the button from a press on any list message (after a restart too)."""
        label = item.label if isinstance(item, discord.ui.Button) else None
        page, user, arg = int(match["page"]), int(match["user"]), int(match["arg"])
        return cls(match["kind"], page, user, arg, label=label or "")

    async def callback(self, interaction: Interaction) -> None:
        """Draw the page the button leads to and show it in place of the current one."""
        if interaction.guild_id is None:
            await reply(interaction, "regwatch lists work inside a server.")
            return
        if interaction.user.id != self.user_id:
            # Lists are ephemeral, so only their opener sees them; refuse anyway rather than trust it.
            await reply(interaction, "These buttons page someone else's list; run the command yourself.")
            return
        tree = getattr(interaction.client, "tree", None)
        group = tree.get_command(KINDS[self.kind]) if tree is not None else None
        if not isinstance(group, Pages):
            log.error("no command group draws %s lists", self.kind)
            await reply(interaction, "This list cannot be paged here; run its command again.")
            return
        page = await group.draw(interaction, self.kind, max(1, self.page), self.arg)
        view = buttons(self.kind, page, self.user_id, self.arg)
        await interaction.response.edit_message(
            content=page.text, view=view, allowed_mentions=discord.AllowedMentions.none()
        )
