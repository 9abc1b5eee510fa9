"""Pack alerts into as few Discord messages as the limits allow, and render digests.

A message carries at most 10 embeds whose lengths add up to at most 6,000 (UTF-16 units).
A digest groups its alerts by vendor and action type, newest group and newest item first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.delivery.components import alert_components
from bot.delivery.embed import (
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    NEUTRAL_COLOUR,
    SEVERITY_COLOURS,
    _cut,
    build_embed,
    build_message,
    discord_head,
    embed_length,
    escape,
    plain_url,
)
from bot.delivery.render import domain_of
from bot.domain.delivery_schedule import severity, wants_mention
from bot.domain.safetext import terminal
from bot.domain.vendors import VendorCatalog
from bot.storage.outbox import PendingAlert

MAX_EMBEDS = 10
CONTENT_MAX = 2000
# Room kept under the total for the digest's own header text inside embeds.
_TOTAL = EMBED_TOTAL_MAX - 50


@dataclass
class Batch:
    """Alerts that go out together as one message, and its payload."""

    alerts: list[PendingAlert]
    payload: dict[str, Any]


def mentions_for(alerts: Sequence[PendingAlert], filters: dict[int, tuple[str, ...]]) -> list[int]:
    """Return the roles these alerts mention, in order, each once (a role's filter can skip an alert)."""
    roles: list[int] = []
    for alert in alerts:
        role = alert.mention_role_id
        if role and role not in roles and wants_mention(filters.get(alert.subscription_id, ()), alert.action):
            roles.append(role)
    return roles


def _mention_payload(roles: list[int]) -> dict[str, Any]:
    return {
        "content": " ".join(f"<@&{r}>" for r in roles),
        "allowed_mentions": {"parse": [], "roles": [str(r) for r in roles]},
    }


def _nonce(kind: str, target: str, ids: Sequence[int]) -> str:
    digest = hashlib.sha1(f"{kind}|{target}|{','.join(map(str, ids))}".encode()).hexdigest()
    return (f"rw{kind}" + digest)[:25]  # Discord refuses a nonce over 25 characters


def digest_nonce(target: str, ids: Sequence[int]) -> str:
    """Return the nonce of a digest's first message: it marks the alerts composed into that digest."""
    return _nonce("d1", target, ids)


def compact_embed(alert: PendingAlert) -> dict[str, Any]:
    """Return a shorter embed for a batch: a short excerpt, no subscription field (the footer has it)."""
    embed = build_embed(alert)
    embed["title"] = _cut(embed["title"], 150)
    embed["description"] = _cut(embed["description"], 200)
    embed["fields"] = [f for f in embed["fields"] if f["name"] != "Subscription"]
    return embed


def pack(
    alerts: Sequence[PendingAlert], filters: dict[int, tuple[str, ...]], *, compact: bool = False
) -> list[Batch]:
    """Pack one channel's alerts, oldest first, into messages of up to 10 embeds within 6,000 units.

    `compact` (the channel's embed style): every embed is the short one.
    """
    batches: list[Batch] = []
    group: list[PendingAlert] = []
    embeds: list[dict[str, Any]] = []
    total = 0
    first_choice = compact_embed if compact else build_embed

    def close() -> None:
        if group:
            batches.append(_batch(list(group), list(embeds), filters))
            group.clear()
            embeds.clear()

    for alert in alerts:
        embed = first_choice(alert)
        size = embed_length(embed)
        if group and (len(group) >= MAX_EMBEDS or total + size > EMBED_TOTAL_MAX):
            embed = compact_embed(alert)
            size = embed_length(embed)
            if len(group) >= MAX_EMBEDS or total + size > EMBED_TOTAL_MAX:
                close()
                total = 0
                embed = first_choice(alert)
                size = embed_length(embed)
        group.append(alert)
        embeds.append(embed)
        total += size
    close()
    return batches


def _batch(
    alerts: list[PendingAlert], embeds: list[dict[str, Any]], filters: dict[int, tuple[str, ...]]
) -> Batch:
    if len(alerts) == 1:
        alert = alerts[0]
        if alert.mention_role_id and not wants_mention(filters.get(alert.subscription_id, ()), alert.action):
            alert = replace(alert, mention_role_id=None)
        # The embed chosen by pack (full, or compact when the channel asks for it).
        return Batch(alerts, {**build_message(alert), "embeds": embeds})
    payload = {
        **_mention_payload(mentions_for(alerts, filters)),
        "embeds": embeds,
        "nonce": _nonce("b", alerts[0].target, [a.id for a in alerts]),
        "enforce_nonce": True,
        "components": alert_components(alerts),
    }
    return Batch(alerts, payload)


# --- digests --------------------------------------------------------------------------------------


@dataclass
class DigestGroup:
    """Alerts of one vendor and one action type, newest first."""

    vendor: str
    action: str | None
    alerts: list[PendingAlert] = field(default_factory=list)

    @property
    def heading(self) -> str:
        """Return e.g. 'Kaspersky · ban (3)'."""
        action = (self.action or "other news").replace("_", " ")
        return f"{self.vendor} · {action} ({len(self.alerts)})"


def _when(alert: PendingAlert) -> datetime:
    return alert.published or alert.created_at


def vendor_of(alert: PendingAlert, vendors: VendorCatalog | None) -> str:
    """Return the catalog vendor an alert matched, else its first matched term, else 'Other'."""
    for term in alert.terms:
        found = vendors.lookup(term) if vendors is not None else None
        if found is not None:
            return found.name
    return terminal(alert.terms[0], 60) if alert.terms else "Other"


def group_alerts(alerts: Sequence[PendingAlert], vendors: VendorCatalog | None) -> list[DigestGroup]:
    """Group alerts by vendor and action type; groups and the items in each newest first."""
    groups: dict[tuple[str, str | None], DigestGroup] = {}
    for alert in alerts:
        key = (vendor_of(alert, vendors), alert.action)
        groups.setdefault(key, DigestGroup(*key)).alerts.append(alert)
    for group in groups.values():
        group.alerts.sort(key=lambda a: (_when(a), a.id), reverse=True)
    return sorted(groups.values(), key=lambda g: (_when(g.alerts[0]), g.alerts[0].id), reverse=True)


def _line(alert: PendingAlert) -> str:
    title = escape(alert.title or alert.text[:120] or "(untitled item)", 150)
    # The link comes from the feed: only a plain URL (nothing that could end the link) is linked.
    shown = f"[{title}](<{alert.link}>)" if plain_url(alert.link) else title
    when = f" <t:{int(alert.published.timestamp())}:d>" if alert.published else ""
    return f"• {shown} — {escape(alert.source_name, 60)}{when}"


@dataclass
class DigestText:
    """What a digest says, before it is cut into messages."""

    heading: str
    groups: list[DigestGroup]
    notes: list[str]


def digest_payloads(
    digest: DigestText, target: str, ids: Sequence[int], roles: list[int]
) -> list[dict[str, Any]]:
    """Return the digest as Discord messages: one when it fits, else numbered parts; one embed per group."""
    embeds: list[dict[str, Any]] = []
    for group in digest.groups:
        lines = [_line(a) for a in group.alerts]
        chunk: list[str] = []
        part = 0
        for line in lines:
            if chunk and discord_head_len("\n".join([*chunk, line])) > min(DESCRIPTION_MAX, 3000):
                embeds.append(_group_embed(group, chunk, part))
                chunk, part = [], part + 1
            chunk.append(line)
        if chunk:
            embeds.append(_group_embed(group, chunk, part))
    messages: list[list[dict[str, Any]]] = [[]]
    total = 0
    for embed in embeds:
        size = embed_length(embed)
        if messages[-1] and (len(messages[-1]) >= MAX_EMBEDS or total + size > _TOTAL):
            messages.append([])
            total = 0
        messages[-1].append(embed)
        total += size
    payloads = []
    for n, message_embeds in enumerate(messages, 1):
        head = digest.heading + (f" (part {n} of {len(messages)})" if len(messages) > 1 else "")
        content = escape(head, 300)
        if n == 1 and digest.notes:
            content += "\n" + "\n".join(escape(note, 400) for note in digest.notes)
        mention = _mention_payload(roles if n == 1 else [])
        if mention["content"]:
            content = mention["content"] + " " + content
        payloads.append(
            {
                "content": discord_head(content, CONTENT_MAX),
                "embeds": message_embeds,
                "allowed_mentions": mention["allowed_mentions"],
                "nonce": _nonce(f"d{n}", target, ids),
                "enforce_nonce": True,
            }
        )
    return payloads


def discord_head_len(text: str) -> int:
    """Return text's length in UTF-16 units (Discord's unit)."""
    return len(text.encode("utf-16-le")) // 2


def _group_embed(group: DigestGroup, lines: list[str], part: int) -> dict[str, Any]:
    sev = severity(group.action)
    title = group.heading + (" (continued)" if part else "")
    return {
        "type": "rich",
        "title": escape(title, 250),
        "description": "\n".join(lines),
        "color": SEVERITY_COLOURS.get(group.action or "", NEUTRAL_COLOUR),
        "footer": {"text": f"severity: {sev}" if sev else "no regulatory action classified"},
    }


def digest_console(digest: DigestText) -> str:
    """Return the digest as one plain-text block for the terminal."""
    lines = [f"DIGEST {terminal(digest.heading, 300)}"]
    lines += [f"  note: {terminal(n, 300)}" for n in digest.notes]
    for group in digest.groups:
        lines.append(f"  {terminal(group.heading, 200)}")
        for alert in group.alerts:
            when = alert.published.strftime("%Y-%m-%d %H:%M UTC") if alert.published else "no date"
            title = terminal(alert.title, 200) or terminal(alert.text, 120) or "(untitled item)"
            domain = domain_of(alert.link) or domain_of(alert.source_url)
            source = terminal(alert.source_name, 60) + (f" ({domain})" if domain else "")
            lines.append(f"    - {title} · {source} · {when}")
            if alert.link:
                lines.append(f"      {terminal(alert.link, 500)}")
    return "\n".join(lines)
