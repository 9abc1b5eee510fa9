"""Run an in-process discord.py client against a FakeDiscord, surfacing the client's own crash."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import discord
import yarl

from tests.fakediscord.server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


def discord_hooks_exist() -> bool:
    """Tell whether the two class attributes used to point discord.py elsewhere still exist."""
    return isinstance(getattr(discord.http.Route, "BASE", None), str) and isinstance(
        getattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", None), yarl.URL
    )


def hook_values(fake: FakeDiscord) -> tuple[str, yarl.URL]:
    """Return the values for Route.BASE and DiscordWebSocket.DEFAULT_GATEWAY."""
    return fake.api_base, yarl.URL(fake.gateway_url)


@contextlib.asynccontextmanager
async def running(
    client: ClientT,
    fake: FakeDiscord,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> AsyncIterator[ClientT]:
    """Log in, connect and wait for on_ready; on exit close the client and re-raise its crash, if any."""
    try:
        await client.login(fake.token)
    except BaseException:
        await client.close()  # login opened an HTTP session; do not leak it
        raise
    # connect() is the task whose exception a malformed gateway payload ends up in.
    task = asyncio.create_task(client.connect(reconnect=True))
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    try:
        if task in done:
            task.result()
            raise RuntimeError("discord.py client stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"discord.py client not ready within {timeout}s")
        yield client
        if task.done():
            task.result()
    finally:
        ready.cancel()
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout)
