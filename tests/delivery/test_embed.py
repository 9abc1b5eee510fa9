"""The alert embed renderer: Discord's limits, escaping of untrusted text, nonce and mentions."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.embed import (
    DESCRIPTION_MAX,
    FIELD_VALUE_MAX,
    NEUTRAL_COLOUR,
    SEVERITY_COLOURS,
    TITLE_MAX,
    build_embed,
    build_message,
    discord_head,
    discord_len,
    embed_length,
    escape,
    matched_sentence,
    nonce_for,
)
from bot.domain.safetext import terminal as clean
from bot.storage.outbox import PendingAlert
from tests.fakediscord.validation import rejection

PUBLISHED = datetime(2024, 6, 20, 14, 30, tzinfo=UTC)
# What Discord displays for "\x": x (any ASCII punctuation may be escaped); zero-width spaces are invisible.
DISCORD_ESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")
MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")
MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?!\\)")


def shown(text: str) -> str:
    """Return what Discord displays for escaped text."""
    return DISCORD_ESCAPE.sub(r"\1", text).replace("\u200b", "")


def alert(**changes: object) -> PendingAlert:
    """Return a typical alert, with changes."""
    base = PendingAlert(
        id=1,
        target="discord:1234567890",
        attempts=0,
        subscription_id=7,
        subscription_label="#7",
        query='vendor:"Kaspersky"',
        mention_role_id=None,
        item_id=42,
        title="Commerce bans Kaspersky Lab software",
        text="Intro. The Commerce Department bans Kaspersky Lab software. Users have until September.",
        link="https://www.bis.gov/press/kaspersky",
        published=PUBLISHED,
        action="ban",
        source_name="BIS press",
        source_url="https://www.bis.gov/rss.xml",
        terms=("Kaspersky Lab",),
        created_at=PUBLISHED,
        guild_id=99,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_embed_has_link_source_time_terms_subscription_and_colour() -> None:
    embed = build_embed(alert())
    assert embed["url"] == "https://www.bis.gov/press/kaspersky"
    assert shown(embed["title"]) == "Commerce bans Kaspersky Lab software"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    stamp = int(PUBLISHED.timestamp())
    assert fields["Published"] == f"<t:{stamp}:f> (<t:{stamp}:R>)"
    assert shown(fields["Source"]) == "BIS press (bis.gov)"
    assert shown(fields["Action"]) == "ban · BIS (US) · against Kaspersky"
    assert shown(fields["Matched"]) == "Kaspersky Lab"
    assert shown(fields["Subscription"]) == '#7: vendor:"Kaspersky"'
    assert embed["description"] == "…The Commerce Department bans **Kaspersky Lab** software.…"
    assert embed["color"] == SEVERITY_COLOURS["ban"]
    assert embed["timestamp"] == "2024-06-20T14:30:00+00:00"
    assert "7" in embed["footer"]["text"]


def test_action_line_falls_back_to_the_stored_action() -> None:
    # Stored by an older classifier or for another reason: the line shows the stored type.
    embed = build_embed(alert(action="entity_list", title="Quarterly results", text=""))
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert shown(fields["Action"]) == "entity list"


def test_action_line_uses_the_verdict_stored_with_the_alert() -> None:
    # The verdict made at match time knew what the source declares (a Covered List row: FCC).
    verdict = {"action": "covered_list", "issuer": "FCC", "jurisdiction": "US", "targets": ["Kaspersky"]}
    row = alert(
        action="covered_list",
        title="Information security products ... by AO Kaspersky Lab",
        text="",
        explanation={"terms": [], "classifier": verdict},
    )
    fields = {f["name"]: f["value"] for f in build_embed(row)["fields"]}
    assert shown(fields["Action"]) == "covered list · FCC (US) · against Kaspersky"


def test_optional_parts_are_left_out() -> None:
    embed = build_embed(alert(published=None, action=None, terms=(), link=None))
    assert {f["name"] for f in embed["fields"]} == {"Source", "Subscription"}
    assert "url" not in embed and "timestamp" not in embed
    assert embed["color"] == NEUTRAL_COLOUR
    assert shown(embed["fields"][0]["value"]) == "BIS press (bis.gov)"  # the source's own domain
    # Only web links become the embed's URL.
    assert "url" not in build_embed(alert(link="javascript:alert(1)"))
    assert shown(build_embed(alert(title="", text=""))["title"]) == "(untitled item)"


def test_message_carries_nonce_enforce_nonce_and_no_mentions() -> None:
    body = build_message(alert())
    assert body["content"] == ""
    assert body["enforce_nonce"] is True
    assert body["allowed_mentions"] == {"parse": [], "roles": []}
    assert len(body["nonce"]) <= 25
    assert rejection(body) is None  # the fake Discord's validation of limits and shapes


def test_message_pings_only_the_subscription_role() -> None:
    body = build_message(alert(mention_role_id=555))
    assert body["content"] == "<@&555>"
    assert body["allowed_mentions"] == {"parse": [], "roles": ["555"]}


def test_nonce_is_deterministic_and_unique_per_item_and_channel() -> None:
    first = nonce_for(alert())
    assert nonce_for(alert(id=2, attempts=3, subscription_id=8)) == first  # a retry, whoever enqueued it
    assert nonce_for(alert(item_id=43)) != first
    assert nonce_for(alert(target="discord:1234567891")) != first
    assert all(len(nonce_for(alert(item_id=n))) <= 25 for n in range(100))


def test_hostile_text_is_shown_literally_and_pings_nobody() -> None:
    title = "Kaspersky\u200b @everyone <@&123> @here [click](https://evil.example) **x** `y` ||z|| # h"
    hostile = alert(
        title=title,
        text="Kaspersky Lab says <@123> <#456> @everyone\u2060 [click](https://evil.example) > quote.",
        source_name="<@&1> *BIS*",
        query="kaspersky @everyone",
    )
    body = build_message(hostile)
    [embed] = body["embeds"]
    assert shown(embed["title"]) == clean(title, 500)
    texts = [embed["title"], embed["description"], *(f["value"] for f in embed["fields"])]
    for text in texts:
        assert not MENTION.search(text), text
        assert not MASKED_LINK.search(text), text
        assert "https://" not in text  # no autolink: the colon is escaped
        assert "\u2060" not in text
    assert "**Kaspersky Lab**" in embed["description"]
    assert body["allowed_mentions"]["parse"] == []


def test_control_and_invisible_characters_are_stripped() -> None:
    assert escape("a\x00b\x1bc\u200bd\u202ee\ufefff", 100) == "abcdef"
    assert escape("  many\n\n  spaces\t", 100) == "many spaces"


def test_limits_hold_for_huge_inputs_counted_in_utf16() -> None:
    emoji = "\U0001f6a8"  # two UTF-16 code units
    huge = alert(
        title=(emoji + "Kaspersky ") * 200,
        text=("Kaspersky *ban* " + emoji) * 2000,
        source_name="S" * 5000,
        subscription_label="n" * 64,
        query="q" * 5000,
        terms=tuple(f"term{n}" for n in range(2000)),
    )
    body = build_message(huge)
    [embed] = body["embeds"]
    assert discord_len(embed["title"]) <= TITLE_MAX
    assert discord_len(embed["description"]) <= DESCRIPTION_MAX
    assert all(discord_len(f["value"]) <= FIELD_VALUE_MAX for f in embed["fields"])
    assert embed_length(embed) <= 6000
    assert rejection(body) is None
    # A title at the limit in characters but over it in UTF-16 units is cut too.
    assert discord_len(build_embed(alert(title=emoji * 300))["title"]) <= TITLE_MAX


def test_discord_head_never_splits_a_character() -> None:
    assert discord_head("ab\U0001f6a8c", 3) == "ab"
    assert discord_head("ab\U0001f6a8c", 4) == "ab\U0001f6a8"
    assert discord_head("abc", 10) == "abc"


def test_cut_keeps_markdown_balanced() -> None:
    escaped = escape("Kaspersky *" * 200, 600)
    assert discord_len(escaped) <= 600 and not escaped.removesuffix("…").endswith("\\")
    sentence = matched_sentence("Kaspersky " * 200, ("Kaspersky",), limit=101)
    assert discord_len(sentence) <= 101
    assert sentence.count("**") % 2 == 0


def test_matched_sentence_picks_the_sentence_and_bolds_terms() -> None:
    text = "Kaspersky Lab said so. Other news. More about huawei here."
    assert matched_sentence(text, ("Kaspersky Lab",)) == "**Kaspersky Lab** said so.…"
    assert matched_sentence(text, ("Huawei",)) == "…More about **huawei** here."
    # The longer term wins; the shorter one is not bolded again inside it.
    both = matched_sentence("Kaspersky Lab and Kaspersky.", ("Kaspersky", "Kaspersky Lab"))
    assert both == "**Kaspersky Lab** and **Kaspersky**."
    # Casefolding changes lengths ("ß" → "ss"); positions come from the original text.
    assert matched_sentence("Straße ßß. Huawei fined.", ("Huawei",)) == "…**Huawei** fined."
    assert matched_sentence("no term here", ("absent",)) == "no term here"


@given(st.text(max_size=300))
def test_escaped_text_shows_literally(text: str) -> None:
    escaped = escape(text, 4000)
    assert shown(escaped) == clean(text, 4000)
    assert not MENTION.search(escaped)
    assert not MASKED_LINK.search(escaped)
