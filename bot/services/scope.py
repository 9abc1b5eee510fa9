"""Who is asking, and what they may do: the console (the operator's CLI) or one Discord server.

Every use case in bot/services takes a `Scope` and the scope's `Limits`:

- sees and changes: console every subscription and source; a server its own subscriptions and
  sources, plus the shared catalog.
- subscriptions: console no quota; a server `REGWATCH_MAX_SUBSCRIPTIONS_PER_GUILD` (50).
- sources it adds: console no quota, shared with everyone; a server
  `REGWATCH_MAX_SOURCES_PER_GUILD` (10), private to it.
- shortest poll interval: console 5 seconds; a server 5 minutes.
- preview: console up to 3650 days back, a server up to 365 days; both read the newest 50,000
  candidate items at most (about a second of work when every candidate matches), and say so
  when the cap cut the period short.
- rate cap: console 1-50 messages per 1-3600 s, overflow cap 10-100,000; a server 1-5 messages
  per 1-3600 s, overflow cap 10-10,000.

The operator runs the CLI on their own machine, so it may ask for more work than one server of a
shared bot, whose preview must not hold a worker thread for long.
"""

from __future__ import annotations

from dataclasses import dataclass

# Items a console preview reads at most (newest first): the same as a server's, because reading and
# matching 50,000 candidates that all match takes about a second, 500,000 took 14 s at 1M items.
CONSOLE_PREVIEW_MAX_ITEMS = 50_000
# Items a server's preview reads at most: enough for weeks of every catalog source.
GUILD_PREVIEW_MAX_ITEMS = 50_000


@dataclass(frozen=True)
class Scope:
    """The console (guild_id None: the operator, who sees everything) or one Discord server."""

    guild_id: int | None = None
    user_id: int | None = None  # the Discord member asking, when there is one

    @classmethod
    def console(cls) -> Scope:
        """Return the console's scope (the command line)."""
        return cls()

    @classmethod
    def guild(cls, guild_id: int, user_id: int | None = None) -> Scope:
        """Return one server's scope, for a member of it."""
        return cls(guild_id, user_id)

    @property
    def is_console(self) -> bool:
        """Tell whether this is the console (not a server)."""
        return self.guild_id is None

    @property
    def created_by(self) -> str:
        """Return who made a change, as the audit trail records it."""
        return "cli" if self.user_id is None else f"discord:{self.user_id}"

    @property
    def origin(self) -> str:
        """Return the front end a subscription made in this scope comes from."""
        return "cli" if self.is_console else "discord"


@dataclass(frozen=True)
class Limits:
    """Quotas and bounds of one scope; the defaults are a Discord server's (see the module's table)."""

    max_subscriptions: int | None = 50  # None: no quota
    max_sources: int | None = 10
    min_interval_seconds: int = 300
    allow_private: bool = False
    max_item_age_hours: int = 168
    preview_max_days: int = 365
    preview_max_items: int = GUILD_PREVIEW_MAX_ITEMS
    max_rate_messages: int = 5
    max_overflow_cap: int = 10_000


def console_limits(*, allow_private: bool, max_item_age_hours: int) -> Limits:
    """Return the console's limits (no quotas; the operator's own machine)."""
    return Limits(
        max_subscriptions=None,
        max_sources=None,
        min_interval_seconds=5,
        allow_private=allow_private,
        max_item_age_hours=max_item_age_hours,
        preview_max_days=3650,
        preview_max_items=CONSOLE_PREVIEW_MAX_ITEMS,
        max_rate_messages=50,
        max_overflow_cap=100_000,
    )
