"""Render an alert as a Discord message payload (plain dicts; no discord.py import here).

Alert text comes from outside, so everything is escaped (markdown, mentions), stripped of control
and invisible characters, and cut to Discord's limits before it leaves this module.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.delivery.components import alert_components
from bot.delivery.render import domain_of
from bot.domain.classifier import Classification, classify_item
from bot.domain.safetext import terminal
from bot.domain.vendors import VendorCatalog
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
# A URL that can follow "](" without ending the link early or smuggling markup or a mention in.
_PLAIN_URL = re.compile(r"https?://[^\s()<>\[\]\\`\"]{1,500}")
_MENTION = re.compile(r"@(everyone|here|[!&]?\d+)|<(@[!&]?|#)(\d+)>")


def discord_len(text: str) -> int:
    """Return the length Discord checks its limits against: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def discord_head(text: str, limit: int) -> str:
    """Return the longest start of text within `limit` UTF-16 code units, never half a character."""
    if discord_len(text) <= limit:
        return text
    # A surrogate pair cut in half decodes to nothing.
    return text.encode("utf-16-le")[: limit * 2].decode("utf-16-le", errors="ignore")


def plain_url(url: str | None) -> bool:
    """Tell whether `url` may be written into markdown as a link target as it is."""
    return bool(url) and _PLAIN_URL.fullmatch(url or "") is not None and terminal(url) == url


def masked_link(label: str, url: str | None) -> str:
    """Return `[label](url)` for a plain URL, else the label alone (the label must be escaped)."""
    return f"[{label}]({url})" if plain_url(url) else label


def escape(text: str, limit: int) -> str:
    """Return text that Discord shows literally: no markdown, no mention, no masked link.

    This is the one sanitizer for Discord: every message, reply, notice and edit passes text
    from outside through it (unsafe characters are stripped first, as for the terminal).
    """
    text = terminal(text, limit)
    # A zero-width space after '@' or '<' breaks the mention syntax but reads the same.
    text = _MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b").replace("<", "<\u200b"), text)
    escaped = _MARKDOWN.sub(r"\\\1", text)
    if discord_len(escaped) <= limit:
        return escaped
    return discord_head(escaped, limit - 1).rstrip("\\") + "…"


def nonce_for(alert: PendingAlert) -> str:
    """Return a deterministic nonce (at most 25 characters) unique per (item, channel)."""
    digest = hashlib.sha1(f"{alert.target}|{alert.item_id}".encode()).hexdigest()
    return "rw" + digest[:23]


def matched_sentence(text: str, terms: tuple[str, ...], limit: int = 600) -> str:
    """Return the sentence of text where the first term appears, terms in bold, escaped."""
    # Search the original text (not a casefolded copy, whose offsets can differ) for each term.
    found = [m.start() for t in terms if t and (m := re.search(re.escape(t), text, re.IGNORECASE))]
    if not found:
        return escape(text, limit)
    pos = min(found)
    previous_stop = text.rfind(". ", 0, pos)
    start = max(previous_stop + 2 if previous_stop >= 0 else 0, pos - limit // 2)
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
    return _cut(prefix + sentence + suffix, limit)


def _cut(markdown: str, limit: int) -> str:
    """Cut escaped markdown to `limit` UTF-16 units without leaving a dangling escape or bold marker."""
    if discord_len(markdown) <= limit:
        return markdown
    cut = discord_head(markdown, limit - 1).rstrip("*").rstrip("\\")
    if cut.count("**") % 2:
        last = cut.rfind("**")
        cut = cut[:last] + cut[last + 2 :]
    return cut + "…"


def action_line(alert: PendingAlert) -> str:
    """Return the alert's action with its issuer and targets, e.g. "ban · BIS (US) · against Kaspersky"."""
    # The verdict stored with the alert holds the issuer and targets (with what the source
    # declared); an older alert has none, and the classifier finds them again from the text.
    stored = alert.explanation.get("classifier") if isinstance(alert.explanation, dict) else None
    if alert.action and isinstance(stored, dict) and stored.get("action") == alert.action:
        targets = stored.get("targets")
        return Classification(
            alert.action,
            stored.get("issuer") if isinstance(stored.get("issuer"), str) else None,
            stored.get("jurisdiction") if isinstance(stored.get("jurisdiction"), str) else None,
            tuple(t for t in targets if isinstance(t, str)) if isinstance(targets, list) else (),
        ).summary()
    found = classify_item(alert.title, alert.text, VendorCatalog.load_default())
    if alert.action and found.action == alert.action:
        return found.summary()
    return (alert.action or "").replace("_", " ")


def build_embed(alert: PendingAlert) -> dict[str, Any]:
    """Return the embed dict for one alert, within Discord's limits."""
    title = escape(alert.title or alert.text[:120] or "(untitled item)", TITLE_MAX)
    # "Source name and its domain": the source's own host, else the item's (a source without a URL host).
    source_domain = domain_of(alert.source_url) or domain_of(alert.link)
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
        fields.append({"name": "Action", "value": escape(action_line(alert), 200), "inline": True})
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
        "footer": {"text": discord_head(f"regwatch · subscription {alert.subscription_label}", FOOTER_MAX)},
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
        "components": alert_components([alert]),
    }


def embed_length(embed: dict[str, Any]) -> int:
    """Return the length Discord checks against its 6,000 total (in UTF-16 code units)."""
    total = discord_len(embed.get("title", "")) + discord_len(embed.get("description", ""))
    total += discord_len(embed.get("footer", {}).get("text", ""))
    total += sum(discord_len(f["name"]) + discord_len(f["value"]) for f in embed.get("fields", []))
    return total
