"""Render alerts as plain text for the terminal (every field through `safetext.terminal`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.domain.safetext import terminal
from bot.storage.outbox import PendingAlert


def domain_of(url: str | None) -> str:
    """Return the host of a URL without www., or an empty string."""
    if not url:
        return ""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def render_console(alert: PendingAlert) -> str:
    """Return a readable multi-line alert: who matched, what, where, when, why."""
    title = terminal(alert.title, 300) or terminal(alert.text, 120) or "(untitled item)"
    when = alert.published.strftime("%Y-%m-%d %H:%M UTC") if alert.published else "no date"
    src = terminal(alert.source_name, 80)
    domain = domain_of(alert.link) or domain_of(alert.source_url)
    lines = [
        f"ALERT [{terminal(alert.subscription_label, 60)}] {src}"
        + (f" ({domain})" if domain else "")
        + f" · {when}",
        f"  {title}",
    ]
    if alert.link:
        lines.append(f"  {terminal(alert.link, 500)}")
    details = "matched: " + (", ".join(terminal(t, 60) for t in alert.terms) or "(query)")
    if alert.action:
        details += f" · action: {alert.action}"
    lines.append(f"  {details}")
    return "\n".join(lines)
