"""Later copies of a story: rendered as "also reported by" on the story's first alert."""

from __future__ import annotations

from typing import Any

from bot.delivery.batch import MAX_EMBEDS, compact_embed, digest_nonce, pack
from bot.delivery.embed import (
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    discord_len,
    embed_length,
    escape,
    masked_link,
)
from bot.delivery.render import domain_of
from bot.domain.safetext import terminal
from bot.storage.outbox import PendingAlert, Story, StoryCopy, StoryMessage

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


def _also_value(copies: tuple[StoryCopy, ...], limit: int) -> str:
    """Return the "Also reported by" text: copies named (linked) within `limit` units, the rest counted."""
    listed: list[str] = []
    for copy in copies[:MAX_LISTED]:
        name = escape(copy.source_name, 80)
        # The copy's link comes from its feed: only a plain URL becomes a link target.
        entry = masked_link(name, copy.link if copy.link and len(copy.link) <= 300 else None)
        if discord_len(", ".join([*listed, entry])) > limit - 20:
            break  # a cut markdown link would show as raw text
        listed.append(entry)
    more = len(copies) - len(listed)
    if not listed:
        return f"{more} other source{'s' if more != 1 else ''}"
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "")


def is_digest(message: StoryMessage, first: PendingAlert) -> bool:
    """Tell whether the story's first alert went out in a digest (its message is no alert message)."""
    nonce = first.message_nonce
    return nonce is not None and nonce == digest_nonce(first.target, message.composed)


def _posted_embeds(alerts: tuple[PendingAlert, ...], compact: bool) -> list[dict[str, Any]]:
    """Return the message's embeds as they were packed when it was posted (full or compact each)."""
    packed = pack(alerts, {}, compact=compact)
    if len(packed) == 1:
        return list(packed[0].payload["embeds"])
    # Packed otherwise today (a longer text, another style): the short form always fits ten.
    return [compact_embed(a) for a in alerts[:MAX_EMBEDS]]


def build_story_edit(message: StoryMessage, *, compact: bool = False) -> dict[str, Any]:
    """Return the PATCH body that re-renders a whole message with its story copies so far.

    Every alert of the message keeps its embed (a batch has several); an alert with later copies
    gets an "Also reported by" field. Over Discord's 6,000 units, embeds turn compact and the
    longest lists of copies are shortened, in the order below.
    """
    embeds = _posted_embeds(message.alerts, compact)
    shown = list(zip(message.alerts, embeds, strict=False))
    limits = {a.id: FIELD_VALUE_MAX for a, _ in shown if message.copies.get(a.id)}

    def render() -> list[dict[str, Any]]:
        out = []
        for alert, embed in shown:
            copies = message.copies.get(alert.id)
            also = (
                [{"name": "Also reported by", "value": _also_value(copies, limits[alert.id])}]
                if copies
                else []
            )
            out.append({**embed, "fields": [*embed["fields"], *also]})
        return out

    rendered = render()

    def total() -> int:
        return sum(embed_length(e) for e in rendered)

    def shorten(floor: int) -> None:
        nonlocal rendered
        while limits and total() > EMBED_TOTAL_MAX:
            longest = max(limits, key=lambda i: limits[i])
            if limits[longest] <= floor:
                return
            limits[longest] = max(floor, limits[longest] - (total() - EMBED_TOTAL_MAX))
            rendered = render()

    def compact_all(with_copies: bool) -> None:
        nonlocal rendered
        for n in reversed(range(len(shown))):  # newest first
            alert = shown[n][0]
            if total() <= EMBED_TOTAL_MAX:
                return
            if (alert.id in limits) == with_copies:
                shown[n] = (alert, compact_embed(alert))
                rendered = render()

    compact_all(with_copies=False)  # the other alerts' embeds short first,
    shorten(floor=300)  # then the lists of copies (a few names still shown),
    compact_all(with_copies=True)  # then the embeds the copies are listed on,
    shorten(floor=20)  # then the lists down to a count ("3 other sources")
    roles = sorted({a.mention_role_id for a in message.alerts if a.mention_role_id})
    # Editing must not ping again: no mentions are parsed from the edited message.
    return {"embeds": rendered, "allowed_mentions": {"parse": [], "roles": [str(r) for r in roles]}}
