"""Later copies of a story: rendered as "also reported by" on the story's first alert."""

from __future__ import annotations

from typing import Any

from bot.delivery.embed import FIELD_VALUE_MAX, build_embed, escape, masked_link
from bot.delivery.render import domain_of
from bot.domain.safetext import terminal
from bot.storage.outbox import PendingAlert, Story

MAX_LISTED = 10  # copies listed by name; the rest are counted


def render_console_addition(alert: PendingAlert, story: Story) -> str:
    """Return the console line(s) that add a copy to the story's first alert."""
    copy = story.copies[-1]
    where = terminal(copy.source_name, 80) + (f" ({domain_of(copy.link)})" if domain_of(copy.link) else "")
    lines = [
        f"ALSO REPORTED BY {where} [{terminal(alert.subscription_label, 60)}]"
        f" · same story as alert {story.first.id}: {terminal(story.first.title, 120)}",
        f"  {terminal(copy.title, 300)}",
    ]
    if copy.link:
        lines.append(f"  {terminal(copy.link, 500)}")
    return "\n".join(lines)


def build_story_edit(story: Story) -> dict[str, Any]:
    """Return the PATCH body that re-renders the first alert with an "Also reported by" field."""
    embed = build_embed(story.first)
    listed: list[str] = []
    for copy in story.copies[:MAX_LISTED]:
        name = escape(copy.source_name, 80)
        # The copy's link comes from its feed: only a plain URL becomes a link target.
        entry = masked_link(name, copy.link if copy.link and len(copy.link) <= 300 else None)
        if len(", ".join([*listed, entry])) > FIELD_VALUE_MAX - 20:
            break  # a cut markdown link would show as raw text
        listed.append(entry)
    more = len(story.copies) - len(listed)
    value = ", ".join(listed) + (f" and {more} more" if more > 0 else "")
    embed["fields"] = [*embed["fields"], {"name": "Also reported by", "value": value}]
    role = story.first.mention_role_id
    # Editing must not ping again: no mentions are parsed from the edited message.
    return {"embeds": [embed], "allowed_mentions": {"parse": [], "roles": [str(role)] if role else []}}
