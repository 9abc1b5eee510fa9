"""What a sink is: something that delivers one alert to a kind of target."""

from __future__ import annotations

from typing import Protocol

from bot.storage.outbox import PendingAlert


class Sink(Protocol):
    """Deliver alerts for targets of one kind ("console", "discord")."""

    kind: str

    async def send(self, alert: PendingAlert) -> str | None:
        """Deliver one alert; return an external id, or raise DeliveryError."""
        ...
