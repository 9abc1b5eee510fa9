"""The buttons under an alert message, as plain JSON (no discord.py import before the chat layer).

Custom ids carry the alert id, so any regwatch process, started long after the message was
posted, knows what a press is about: `rw:ack:<id>`, `rw:why:<id>`, `rw:mute:<id>`. The chat
layer (bot/chat/alert_buttons.py) answers them. A message holding several alerts (a batch) carries
its first alert's id; the buttons then act on every alert of that message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.domain.vendors import VendorCatalog
from bot.storage.outbox import PendingAlert

ACTION_ROW, BUTTON = 1, 2
PRIMARY, SECONDARY, SUCCESS, DANGER, LINK = 1, 2, 3, 4, 5
LABEL_MAX = 80  # Discord's limit for a button label
URL_MAX = 512  # Discord's limit for a link button's url
MUTE_DAYS = 7
CUSTOM_ID = "rw:{action}:{alert_id}"
# Discord refuses the whole message over a malformed button URL: only plain http(s) URLs get one.
_BUTTON_URL = re.compile(r"https?://[^\s<>\"'`\\\x00-\x1f\x7f]{1,500}")  # within URL_MAX


def catalog_vendor(terms: Sequence[str], vendors: VendorCatalog | None = None) -> str | None:
    """Return the catalog vendor the first of these matched terms names, or None."""
    catalog = vendors or VendorCatalog.load_default()
    for term in terms:
        found = catalog.lookup(term)
        if found is not None:
            return found.name
    return None


def button(label: str, custom_id: str, style: int = SECONDARY, *, disabled: bool = False) -> dict[str, Any]:
    """Return one button with a custom id."""
    shown = label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"
    return {"type": BUTTON, "style": style, "label": shown, "custom_id": custom_id, "disabled": disabled}


def mute_label(vendor: str | None) -> str:
    """Return the mute button's label: the vendor when the alert names one, else a snooze."""
    return f"Mute {vendor} {MUTE_DAYS} days" if vendor else f"Snooze {MUTE_DAYS} days"


def alert_components(alerts: Sequence[PendingAlert]) -> list[dict[str, Any]]:
    """Return the action row under a message carrying these alerts (oldest first)."""
    first = alerts[0]
    row: list[dict[str, Any]] = [
        button("Acknowledge", CUSTOM_ID.format(action="ack", alert_id=first.id), SUCCESS),
        button("Why?", CUSTOM_ID.format(action="why", alert_id=first.id)),
    ]
    if len(alerts) == 1:
        vendor = catalog_vendor(first.terms)
        row.append(button(mute_label(vendor), CUSTOM_ID.format(action="mute", alert_id=first.id), DANGER))
        link = first.link or ""
        if _BUTTON_URL.fullmatch(link):
            row.append({"type": BUTTON, "style": LINK, "label": "Open source", "url": link})
    else:
        row.append(
            button(f"Mute {MUTE_DAYS} days", CUSTOM_ID.format(action="mute", alert_id=first.id), DANGER)
        )
    return [{"type": ACTION_ROW, "components": row}]
