"""Deliver notices about sources to the console and to Discord servers (storage/notices.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.domain.clock import Clock, utcnow
from bot.domain.safetext import terminal
from bot.storage import notices
from bot.storage.db import AsyncDatabase

log = logging.getLogger(__name__)

# Post a text to a Discord server; True when it was posted (a channel took it).
GuildPoster = Callable[[int, str], Awaitable[bool]]
MAX_ATTEMPTS = 24  # a notice no server channel takes is dropped after this many drains (logged)


class NoticeBoard:
    """Print console notices and post server notices; each is delivered once."""

    def __init__(self, adb: AsyncDatabase, *, stream: TextIO | None = None, clock: Clock = utcnow) -> None:
        self._adb = adb
        self._stream = stream
        self._clock = clock
        self._poster: GuildPoster | None = None

    def set_poster(self, poster: GuildPoster | None) -> None:
        """Post server notices with this (Discord connected), or keep them waiting (None)."""
        self._poster = poster

    async def drain(self) -> int:
        """Deliver what can be delivered now; return how many notices went out."""
        sent = 0
        for notice in await self._adb.call(notices.pending):
            if notice.target == "console":
                stream = self._stream or sys.stdout
                try:
                    stream.write(f"regwatch notice: {terminal(notice.text)}\n\n")
                    stream.flush()
                except OSError as exc:
                    log.warning("could not print a notice: %s", exc.strerror)
                    continue
                log.warning("source notice: %s", notice.text, extra={"source_id": notice.source_id})
            elif notice.target.startswith("guild:"):
                if self._poster is None:
                    continue  # Discord not connected (yet): keep it for later
                guild_id = int(notice.target.split(":", 1)[1])
                if not await self._poster(guild_id, notice.text):
                    attempts = await self._adb.call(notices.mark_attempt, notice.id)
                    if attempts < MAX_ATTEMPTS:
                        continue
                    log.warning("no channel of server %d took a source notice; dropped", guild_id)
            await self._adb.call(notices.mark_sent, notice.id, self._clock())
            sent += 1
        return sent
