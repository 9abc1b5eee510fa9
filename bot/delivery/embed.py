"""Render an alert as a Discord message payload (plain dicts; no discord.py import here).

Alert text comes from outside, so everything is escaped (markdown, mentions), stripped of control
and invisible characters, and cut to Discord's limits before it leaves this module.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.delivery.render import clean, domain_of
from bot.storage.outbox import PendingAlert

# Discord's documented limits.
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000

SEVERITY_COLOURS = {
    "ban": 0xD83C3E,
    "directive": 0xD83C3E,
    "sanction": 0xD83C3E,
    "entity_list": 0xD83C3E,
    "covered_list": 0xD83C3E,
    "fine": 0xE67E22,
    "investigation": 0xE67E22,
    "guidance": 0xF1C40F,
}
NEUTRAL_COLOUR = 0x5865F2

_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()#:-])")
_MENTION = re.compile(r"@(everyone|here|[!&]?\d+)|<(@[!&]?|#)(\d+)>")


def escape(text: str, limit: int) -> str:
    """Return text that Discord shows literally: no markdown, no mention, no masked link."""
    text = clean(text, limit)
    # A zero-width space after '@' or '<' breaks the mention syntax but reads the same.
    text = _MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b").replace("<", "<\u200b"), text)
    escaped = _MARKDOWN.sub(r"\\\1", text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1].rstrip("\\") + "…"


def nonce_for(alert: PendingAlert) -> str:
    """Return a deterministic nonce (at most 25 characters) unique per (item, channel)."""
    digest = hashlib.sha1(f"{alert.target}|{alert.item_id}".encode()).hexdigest()
    return "rw" + digest[:23]


def matched_sentence(text: str, terms: tuple[str, ...], limit: int = 600) -> str:
    """Return the sentence of text where the first term appears, terms in bold, escaped."""
    if not text or not terms:
        return escape(text, limit)
    lowered = text.casefold()
    pos = min((p for t in terms if (p := lowered.find(t.casefold())) >= 0), default=-1)
    if pos < 0:
        return escape(text, limit)
    start = max(text.rfind(". ", 0, pos) + 2, pos - limit // 2, 0)
    end_dot = text.find(". ", pos)
    end = min(end_dot + 1 if end_dot >= 0 else len(text), start + limit)
    sentence = escape(text[start:end], limit)
    for term in sorted(set(terms), key=len, reverse=True):
        safe = escape(term, 100)
        sentence = re.sub(
            rf"(?<![\w*]){re.escape(safe)}(?![\w*])", lambda m: f"**{m.group(0)}**", sentence, flags=re.I
        )
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return (prefix + sentence + suffix)[:limit]


def build_embed(alert: PendingAlert) -> dict[str, Any]:
    """Return the embed dict for one alert, within Discord's limits."""
    title = escape(alert.title or alert.text[:120] or "(untitled item)", TITLE_MAX)
    source_domain = domain_of(alert.link) or domain_of(alert.source_url)
    fields: list[dict[str, Any]] = [
        {
            "name": "Source",
            "value": escape(alert.source_name, 200)
            + (f" ({escape(source_domain, 100)})" if source_domain else ""),
            "inline": True,
        }
    ]
    if alert.published:
        stamp = int(alert.published.timestamp())
        fields.append({"name": "Published", "value": f"<t:{stamp}:f> (<t:{stamp}:R>)", "inline": True})
    if alert.action:
        fields.append({"name": "Action", "value": alert.action.replace("_", " "), "inline": True})
    if alert.terms:
        fields.append(
            {"name": "Matched", "value": escape(", ".join(alert.terms), FIELD_VALUE_MAX), "inline": True}
        )
    fields.append(
        {
            "name": "Subscription",
            "value": escape(f"{alert.subscription_label}: {alert.query}", FIELD_VALUE_MAX),
            "inline": False,
        }
    )
    embed: dict[str, Any] = {
        "type": "rich",
        "title": title,
        "description": matched_sentence(alert.text, alert.terms),
        "color": SEVERITY_COLOURS.get(alert.action or "", NEUTRAL_COLOUR),
        "fields": fields,
        "footer": {"text": f"regwatch · subscription {alert.subscription_label}"[:FOOTER_MAX]},
    }
    if alert.link and alert.link.startswith(("http://", "https://")) and len(alert.link) <= 2000:
        embed["url"] = alert.link
    if alert.published:
        embed["timestamp"] = alert.published.isoformat()
    return embed


def build_message(alert: PendingAlert) -> dict[str, Any]:
    """Return the full POST /channels/{id}/messages body: embed, nonce, allowed mentions."""
    role = alert.mention_role_id
    return {
        "content": f"<@&{role}>" if role else "",
        "embeds": [build_embed(alert)],
        "nonce": nonce_for(alert),
        "enforce_nonce": True,
        "allowed_mentions": {"parse": [], "roles": [str(role)] if role else []},
    }


def embed_length(embed: dict[str, Any]) -> int:
    """Return the character count Discord checks against its 6,000 total."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", ""))
    total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return total
