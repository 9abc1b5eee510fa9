"""Lists that fit, with buttons: Previous/Next under /watch list, /source list and status, /alerts recent.

The real discord.py client answers presses (MESSAGE_COMPONENT interactions carrying the buttons'
custom ids) sent by the fake Discord; each press edits the ephemeral list in place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import utcnow
from bot.storage import sources, subscriptions
from bot.storage.sources import SourceConfig
from tests.chat.running import Regwatch, kaspersky_item, regwatch_at
from tests.fakediscord import ComponentUnavailable, FakeDiscord, InteractionResult
from tests.feedserver import FeedServer

UPDATE_MESSAGE = 7
PAGE_LINE = re.compile(r"Page (\d+) of (\d+) \((\d+) in all\)")


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row["components"]]


def _by_label(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["label"]: b for b in _buttons(message)}


async def _fifty_subscriptions(app: Regwatch) -> None:
    for n in range(50):
        await app.services.adb.call(
            subscriptions.add,
            f'vendor:Huawei AND "long phrase number {n} about export controls and prohibitions"',
            f"discord:{app.fake.channel.id}",
            utcnow(),
            guild_id=app.fake.guild.id,
            origin="discord",
        )


async def _press(fake: FakeDiscord, result: InteractionResult, label: str, **kw: Any) -> InteractionResult:
    """Press a button of a list reply and return the answer (the edited message, for Previous/Next)."""
    assert result.message is not None
    button = _by_label(result.message)[label]
    return await fake.click(result.message, button["custom_id"], **kw)


async def test_next_and_previous_page_through_fifty_subscriptions(app: Regwatch) -> None:
    fake = app.fake
    await _fifty_subscriptions(app)
    first = await fake.invoke("watch list")
    assert first.ephemeral
    [_, total, all_] = (int(n) for n in PAGE_LINE.search(first.content).groups())  # type: ignore[union-attr]
    assert all_ == 50 and total > 1
    buttons = _by_label(first.message or {})
    assert list(buttons) == ["◀ Previous", "Next ▶"]
    assert buttons["◀ Previous"].get("disabled") is True and not buttons["Next ▶"].get("disabled")
    assert re.fullmatch(rf"rw:page:watch:2:{fake.admin.user.id}:0", buttons["Next ▶"]["custom_id"])

    second = await _press(fake, first, "Next ▶")
    assert second.callback_type == UPDATE_MESSAGE  # the same ephemeral message, edited in place
    assert second.message is not None and first.message is not None
    assert second.message["id"] == first.message["id"] and second.ephemeral
    assert f"Page 2 of {total} (50 in all)" in second.content
    page1 = set(re.findall(r"long phrase number (\d+) ", first.content))
    page2 = set(re.findall(r"long phrase number (\d+) ", second.content))
    assert page2 and not page1 & page2  # different rows

    # Next to the end: every subscription reachable, once; Next is disabled on the last page.
    seen, current = sorted(page1 | page2, key=int), second
    for number in range(3, total + 1):
        current = await _press(fake, current, "Next ▶")
        assert f"Page {number} of {total}" in current.content and len(current.content) <= 2000
        seen += re.findall(r"long phrase number (\d+) ", current.content)
    assert sorted(int(n) for n in seen) == list(range(50))
    last = _by_label(current.message or {})
    assert last["Next ▶"].get("disabled") is True
    with pytest.raises(ComponentUnavailable):
        fake.send_click(current.message or {}, last["Next ▶"]["custom_id"])

    back = await _press(fake, current, "◀ Previous")
    assert f"Page {total - 1} of {total}" in back.content

    # The page option still works, and its reply carries the buttons of that page.
    direct = await fake.invoke("watch list", options={"page": 2})
    assert direct.content == second.content
    assert [b.get("disabled", False) for b in _buttons(direct.message or {})] == [False, False]


async def test_a_short_list_has_no_buttons_and_others_cannot_page_your_list(app: Regwatch) -> None:
    fake = app.fake
    await app.subscribe("vendor:Kaspersky")
    short = await fake.invoke("watch list")
    assert "Page" not in short.content and _buttons(short.message or {}) == []

    await _fifty_subscriptions(app)
    mine = await fake.invoke("watch list")
    # Lists are ephemeral, but a custom id can be replayed: a press by someone else changes nothing.
    other = await _press(fake, mine, "Next ▶", user_id=fake.member.user.id)
    assert other.callback_type != UPDATE_MESSAGE and other.ephemeral
    assert "someone else's list" in other.content
    assert fake.message_store.by_id[int((mine.message or {})["id"])]["content"] == mine.content


async def test_source_list_and_status_page_with_buttons(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    for n in range(40):
        name = f"Agency feed {n:02d}: Bureau of Industry and Security rules and press releases"
        config = SourceConfig(name, f"https://example.org/agency/{n}.xml", "feed", None)
        await app.services.adb.call(sources.add_for_guild, config, utcnow(), fake.guild.id)
    for command, head in (("source list", ""), ("source status", "41 sources, 0 failing.")):
        first = await fake.invoke(command)
        assert first.content.startswith(head), first.content[:200]
        assert PAGE_LINE.search(first.content), first.content
        [_, total, all_] = (int(n) for n in PAGE_LINE.search(first.content).groups())  # type: ignore[union-attr]
        assert all_ == 41 and total > 1
        seen = re.findall(r"Agency feed (\d\d)", first.content)
        current = first
        for number in range(2, total + 1):
            current = await _press(fake, current, "Next ▶")
            assert current.callback_type == UPDATE_MESSAGE
            assert f"Page {number} of {total}" in current.content
            seen += re.findall(r"Agency feed (\d\d)", current.content)
        assert sorted(int(n) for n in seen) == list(range(40)), command
        assert "Local news" in first.content  # the catalog source comes first


async def test_alerts_recent_pages_with_buttons(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("vendor:Kaspersky")
    links = [f"https://www.bis.gov/press/kaspersky-{n}" for n in range(3)]
    app.publish(*(kaspersky_item(f"Kaspersky notice {n}", link) for n, link in enumerate(links)))
    _, sent = await app.poll_and_deliver()
    assert sent == 3
    first = await fake.invoke("alerts recent", options={"count": 2})
    assert first.content.endswith("Older: /alerts recent count:2 page:2")
    assert len(re.findall(r"Kaspersky notice", first.content)) == 2
    second = await _press(fake, first, "Next ▶")
    assert second.callback_type == UPDATE_MESSAGE
    assert len(re.findall(r"Kaspersky notice", second.content)) == 1 and "Older" not in second.content
    assert _by_label(second.message or {})["Next ▶"].get("disabled") is True
    shown = set(re.findall(r"Kaspersky notice (\d)", first.content + second.content))
    assert shown == {"0", "1", "2"}
    again = await _press(fake, second, "◀ Previous")
    assert again.content == first.content


async def test_list_buttons_work_after_a_restart(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = discord_at_fake
    async with regwatch_at(fake, feed_server, tmp_path) as first:
        await _fifty_subscriptions(first)
        opened = await fake.invoke("watch list")
    # A new process on the same database, which never saw the list being sent.
    async with regwatch_at(fake, feed_server, tmp_path):
        await fake.wait_ready(count=2)
        second = await _press(fake, opened, "Next ▶")
        assert second.callback_type == UPDATE_MESSAGE
        assert "Page 2 of" in second.content
