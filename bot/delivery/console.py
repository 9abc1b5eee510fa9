"""The console sink: print alerts to standard output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bot.delivery.additions import render_console_addition
from bot.delivery.batch import DigestText, digest_console
from bot.delivery.render import render_console
from bot.domain.errors import DeliveryError
from bot.storage.outbox import PendingAlert


class ConsoleSink:
    """Print each alert as a short block on standard output."""

    kind = "console"
    batches = False  # a terminal has no rate cap: each alert is printed as it comes

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO | None:
        """Return the stream alerts go to (None: standard output at the time of writing)."""
        return self._stream

    async def send(self, alert: PendingAlert) -> str | None:
        """Print the alert and flush, so a crash after this line cannot lose what was shown."""
        self._write(render_console(alert))
        return None

    async def send_batch(self, alerts: Sequence[PendingAlert], payload: dict[str, Any]) -> str | None:
        """Print each alert of a message in order (the payload is Discord's; the terminal needs none)."""
        self._write("\n\n".join(render_console(a) for a in alerts))
        return None

    async def add_to_story(self, alert: PendingAlert) -> str | None:
        """Print that another source reports the story of an alert printed earlier."""
        assert alert.story is not None
        self._write(render_console_addition(alert, alert.story))
        return None

    async def send_digest(
        self, alerts: Sequence[PendingAlert], digest: DigestText, roles: list[int]
    ) -> list[str]:
        """Print a digest as one block (roles are a Discord matter)."""
        self._write(digest_console(digest))
        return []

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stdout
        try:
            stream.write(text + "\n\n")
            stream.flush()
        except OSError as exc:  # a closed pipe or a full disk behind stdout
            raise DeliveryError(f"could not write to the terminal: {exc.strerror}") from exc
