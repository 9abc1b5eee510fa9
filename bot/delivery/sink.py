"""What a sink is: everything the delivery code asks of one kind of target (console, Discord).

The dispatcher, the paced dispatcher and the digest runner call only these methods; each sink
implements all of them, and mypy checks that the console and Discord sinks conform
(tests/delivery/test_sinks.py assigns each to a `Sink`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.delivery.batch import DigestText
from bot.storage.outbox import PendingAlert


class Sink(Protocol):
    """Deliver alerts for targets of one kind ("console", "discord")."""

    @property
    def kind(self) -> str:
        """Return the target kind this sink delivers: the part of a target before ':'."""
        ...

    @property
    def batches(self) -> bool:
        """Tell whether a target's alerts are packed into messages under the channel's rate cap.

        True: the paced dispatcher packs them and calls `send_batch`; False: `send` for each.
        """
        ...

    async def send(self, alert: PendingAlert) -> str | None:
        """Deliver one alert on its own; return an external id, or raise DeliveryError."""
        ...

    async def send_batch(self, alerts: Sequence[PendingAlert], payload: dict[str, Any]) -> str | None:
        """Deliver one message carrying these alerts (oldest first), as packed by batch.pack."""
        ...

    async def add_to_story(self, alert: PendingAlert) -> str | None:
        """Add a later copy of a story to the story's first alert (sent already)."""
        ...

    async def send_digest(
        self, alerts: Sequence[PendingAlert], digest: DigestText, roles: list[int]
    ) -> list[str]:
        """Deliver a digest of these alerts, mentioning `roles`; return the ids of its messages, in order.

        Empty when the target has no message ids (the console).
        """
        ...
