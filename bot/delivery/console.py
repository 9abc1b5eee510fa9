"""The console sink: print alerts to standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.delivery.additions import render_console_addition
from bot.delivery.render import render_console
from bot.domain.errors import DeliveryError
from bot.storage.outbox import PendingAlert


class ConsoleSink:
    """Print each alert as a short block on standard output."""

    kind = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> TextIO | None:
        """Return the stream alerts go to (None: standard output at the time of writing)."""
        return self._stream

    async def send(self, alert: PendingAlert) -> str | None:
        """Print the alert and flush, so a crash after this line cannot lose what was shown."""
        stream = self._stream or sys.stdout
        text = render_console(alert)
        story = alert.story
        if story is not None and story.first_status != "failed":
            if story.first_status != "sent":
                raise DeliveryError("waiting for the story's first alert", retry_after=5)
            text = render_console_addition(alert, story)
        try:
            stream.write(text + "\n\n")
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
