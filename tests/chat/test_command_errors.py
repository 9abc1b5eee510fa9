"""One error handler answers every slash command's refusal (bot/chat/client.py and errors.py).

Through the fake Discord: a member without Manage Server, a duplicate subscription, a value a
service refuses, and a source of a JSON kind.
"""

from __future__ import annotations

import re

from bot.storage import delivery_settings, sources, subscriptions
from tests.chat.running import Regwatch

ADMIN_COMMANDS: tuple[tuple[str, dict[str, object]], ...] = (
    ("watch vendor", {"name": "Kaspersky"}),
    ("watch keywords", {"query": "kaspersky"}),
    ("watch edit", {"id": 1, "paused": True}),
    ("watch remove", {"id": 1}),
    ("watch schedule", {"id": 1, "mode": "daily", "time": "09:00"}),
    ("watch mention", {"id": 1}),
    ("source add", {"url": "https://example.org/feed.xml"}),
    ("source remove", {"id": 1}),
    ("settings timezone", {"name": "Europe/Vilnius"}),
    ("settings quiet-hours", {"start": "22:00", "end": "07:00"}),
    ("settings rate-limit", {"messages": 1, "seconds": 60}),
    ("settings triage-role", {}),
    ("settings embed", {"style": "compact"}),
)


async def test_every_admin_command_refuses_a_member_without_manage_server(app: Regwatch) -> None:
    fake = app.fake
    sub_id = await app.subscribe("kaspersky")
    assert sub_id == 1
    for command, options in ADMIN_COMMANDS:
        # The server granted the command to everyone: the bot's own check is what stands.
        result = await fake.invoke(
            command, options=options, user_id=fake.member.user.id, permission_override=True
        )
        assert result.ephemeral, command
        assert (
            result.content == "You need the **Manage Server** permission to change what this server watches."
        ), (
            command,
            result.content,
        )
    # Nothing changed: the subscription, its schedule, the server's settings.
    [sub] = await app.services.adb.call(subscriptions.list_subscriptions)
    assert (sub.id, sub.paused, sub.mention_role_id) == (1, False, None)
    assert await app.services.adb.call(delivery_settings.digest_subscriptions) == []
    assert await app.services.adb.call(delivery_settings.get_timezone, fake.guild.id) == "UTC"
    assert len(await app.services.adb.call(sources.list_sources)) == 1


async def test_refusals_of_the_services_are_answered_in_plain_words(app: Regwatch) -> None:
    fake = app.fake
    first = await app.subscribe("kaspersky")
    duplicate = await fake.invoke("watch keywords", options={"query": "kaspersky"})
    assert duplicate.ephemeral
    assert duplicate.content == f"<#{fake.channel.id}> already has this subscription (id {first})."

    zone = await fake.invoke("settings timezone", options={"name": "Mars/Olympus_Mons"})
    assert zone.content == (
        "Unknown time zone 'Mars/Olympus_Mons'; use an IANA name such as Europe/Vilnius or UTC."
    ), zone.content
    late = await fake.invoke("watch schedule", options={"id": first, "mode": "daily", "time": "25:00"})
    assert late.content.startswith("Time must be HH:MM on a 24-hour clock"), late.content
    assert late.content.endswith("not '25:00'."), late.content
    nothing = await fake.invoke("watch edit", options={"id": first})
    assert nothing.content == "Nothing to change: give a query, a channel, a schedule, or paused true/false."
    bad = await fake.invoke("watch edit", options={"id": first, "query": "kaspersky AND ("})
    assert bad.content.startswith("That query is not valid: "), bad.content
    assert len(await app.services.adb.call(subscriptions.list_subscriptions)) == 1


async def test_a_kev_source_added_by_slash_command_is_stored_as_kev(app: Regwatch) -> None:
    fake = app.fake
    url = app.feeds.serve_fixture("/kev.json", "cisa_kev_2025-08-18_truncated.json")
    added = await fake.invoke("source add", options={"url": url, "name": "KEV"})
    found = re.search(r"\(source (\d+)\): CISA KEV catalog with 246 items\.", added.content)
    assert found, added.content
    [stored] = [s for s in await app.services.adb.call(sources.list_sources) if s.url == url]
    assert stored.kind == "cisa_kev"
    again = await fake.invoke("source add", options={"url": app.feeds.url("/missing.json")})
    assert again.content.startswith("Could not add that source: "), again.content
