"""The console sink: print alerts to standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.delivery.render import render_console
from bot.domain.errors import DeliveryError
from bot.storage.outbox import PendingAlert


class ConsoleSink:
    """Print each alert as a short block on standard output."""

    kind = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, alert: PendingAlert) -> str | None:
        """Print the alert and flush, so a crash after this line cannot lose what was shown."""
        stream = self._stream or sys.stdout
        try:
            stream.write(render_console(alert) + "\n\n")
            stream.flush()
        except OSError as exc:  # a closed pipe or a full disk behind stdout
            raise DeliveryError(f"could not write to the terminal: {exc.strerror}") from exc
        return None

    async def write_block(self, text: str) -> None:
        """Print a block of text (a digest) at once and flush."""
        stream = self._stream or sys.stdout
        try:
            stream.write(text + "\n\n")
            stream.flush()
        except OSError as exc:
            raise DeliveryError(f"could not write to the terminal: {exc.strerror}") from exc
