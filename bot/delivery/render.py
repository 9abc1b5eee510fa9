"""Render alerts as plain text for the terminal."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from bot.storage.outbox import PendingAlert

# Control, format (zero-width, bidi incl. the Arabic letter mark U+061C) and invisible tag characters
# (U+E0000 block, used to smuggle hidden text): a feed title must not rewrite the terminal.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\U000e0000-\U000e007f]"
)


def clean(text: str, limit: int) -> str:
    """Strip control and invisible characters, collapse whitespace, cut to limit characters."""
    text = _UNSAFE.sub("", unicodedata.normalize("NFC", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def domain_of(url: str | None) -> str:
    """Return the host of a URL without www., or an empty string."""
    if not url:
        return ""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def render_console(alert: PendingAlert) -> str:
    """Return a readable multi-line alert: who matched, what, where, when, why."""
    title = clean(alert.title, 300) or clean(alert.text, 120) or "(untitled item)"
    when = alert.published.strftime("%Y-%m-%d %H:%M UTC") if alert.published else "no date"
    src = clean(alert.source_name, 80)
    domain = domain_of(alert.link) or domain_of(alert.source_url)
    lines = [
        f"ALERT [{clean(alert.subscription_label, 60)}] {src}"
        + (f" ({domain})" if domain else "")
        + f" · {when}",
        f"  {title}",
    ]
    if alert.link:
        lines.append(f"  {clean(alert.link, 500)}")
    details = "matched: " + (", ".join(clean(t, 60) for t in alert.terms) or "(query)")
    if alert.action:
        details += f" · action: {alert.action}"
    lines.append(f"  {details}")
    return "\n".join(lines)
