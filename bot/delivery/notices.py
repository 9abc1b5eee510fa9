"""Deliver notices about sources to the console and to Discord servers (storage/notices.py).

`regwatch run` prints console notices and posts servers' notices itself. With several processes
(docs/scaling.md) the workers print the console notices (the `notices` chore) and keep servers'
notices in the database: a worker has no gateway, so no guild cache to pick a channel from.
Each `regwatch gateway` posts them instead (`share`): only those of servers on its own shards,
each under a claim in the database, so one gateway posts a notice however many run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from bot.domain.clock import Clock, utcnow
from bot.domain.safetext import terminal
from bot.storage import notices
from bot.storage.db import AsyncDatabase
from bot.storage.notices import Notice

log = logging.getLogger(__name__)

# Post a text to a Discord server; True when it was posted (a channel took it).
GuildPoster = Callable[[int, str], Awaitable[bool]]
MAX_ATTEMPTS = 24  # a notice no server channel takes is dropped after this many drains (logged)
PAGE = 100


@dataclass(frozen=True)
class _Shared:
    owner: str
    seconds: float
    owns: Callable[[int], bool]  # is this server on this gateway's shards?


class NoticeBoard:
    """Print console notices and post server notices; each is delivered once."""

    def __init__(self, adb: AsyncDatabase, *, stream: TextIO | None = None, clock: Clock = utcnow) -> None:
        self._adb = adb
        self._stream = stream
        self._clock = clock
        self._poster: GuildPoster | None = None
        self._shared: _Shared | None = None

    def set_poster(self, poster: GuildPoster | None) -> None:
        """Post server notices with this (Discord connected), or keep them waiting (None)."""
        self._poster = poster

    def share(self, owner: str, seconds: float, owns: Callable[[int], bool]) -> None:
        """Be one gateway among several: post only servers' notices, those `owns` says, each claimed."""
        self._shared = _Shared(owner, seconds, owns)

    async def drain(self) -> int:
        """Deliver what can be delivered now; return how many notices went out."""
        if self._shared is not None:
            kinds: tuple[str, ...] = ("guild",)  # the workers print the console's
        else:
            kinds = ("console", "guild") if self._poster is not None else ("console",)
        sent, after = 0, 0
        while True:
            page = await self._adb.call(notices.pending, PAGE, kinds=kinds, after=after)
            for notice in page:
                sent += await self._deliver(notice)
            if len(page) < PAGE:
                return sent
            after = page[-1].id

    async def _deliver(self, notice: Notice) -> int:
        if notice.target == "console":
            stream = self._stream or sys.stdout
            try:
                stream.write(f"regwatch notice: {terminal(notice.text)}\n\n")
                stream.flush()
            except OSError as exc:
                log.warning("could not print a notice: %s", exc.strerror)
                return 0
            log.warning("source notice: %s", notice.text, extra={"source_id": notice.source_id})
            await self._adb.call(notices.mark_sent, notice.id, self._clock())
            return 1
        if self._poster is None:
            return 0  # Discord not connected (yet): keep it for later
        guild_id = int(notice.target.split(":", 1)[1])
        shared = self._shared
        claim = None
        if shared is not None:
            if not shared.owns(guild_id):
                return 0  # another gateway's server
            claim = await self._adb.call(
                notices.claim, notice.id, shared.owner, shared.seconds, self._clock()
            )
            if claim is None:
                return 0  # another gateway is posting it, or has posted it
        try:
            posted = await self._poster(guild_id, notice.text)
        except BaseException:
            if claim is not None:  # let another gateway (or the next drain) try it at once
                await self._adb.call(notices.release, claim)
            raise
        if not posted:
            attempts = await self._adb.call(notices.mark_attempt, notice.id)
            if attempts < MAX_ATTEMPTS:
                if claim is not None:
                    await self._adb.call(notices.release, claim)
                return 0
            log.warning("no channel of server %d took a source notice; dropped", guild_id)
        if not await self._adb.call(notices.mark_sent, notice.id, self._clock(), claim=claim):
            log.warning(
                "notice %d: its claim was lost before it was recorded; it may be posted again", notice.id
            )
            return 0
        return 1
