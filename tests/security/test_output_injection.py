"""Output injection: text from feeds cannot ping, link, format, rewrite a terminal or break limits.

Escaping lives in bot/delivery/render.py (console), bot/delivery/embed.py (Discord embed, message
payload with nonce and allowed_mentions). Unit cases: tests/delivery/test_embed.py. Here a hostile
item goes through the whole pipeline (feed server → poll → outbox → sink) and the test reads what
the console printed and what the fake Discord received.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.settings import load_settings
from tests.chat.running import Regwatch, shown
from tests.feedserver import FeedServer

FEED = "/feed.xml"
LINK = "https://www.bis.gov/press/kaspersky-hostile"
CONTROL_AND_BIDI = (
    "\x00\x07\x1b[2J\x1b]8;;https://evil.example\x07\x08\x7f\x85\u200b\u200e\u200f\u202a\u202b\u202d\u202e"
)
CONTROL_AND_BIDI += "\u2060\u2066\u2067\u2068\u2069\u061c\u180e\ufeff\U000e0041\U000e007f"
HOSTILE_TITLE = (
    f"{CONTROL_AND_BIDI}Kaspersky @everyone @here"
    " <@&111111111111111111> <@222222222222222222> <#333333333333333333>"
    " [click me](https://evil.example/phish) **bold** __under__ ~~strike~~ ||spoiler|| `code` > quote"
    f" # heading {CONTROL_AND_BIDI} end\nALERT [forged] line\r\n  https://evil.example"
)
HOSTILE_SUMMARY = (
    f"Kaspersky said: {CONTROL_AND_BIDI} @everyone " + "[masked](https://evil.example) " + "word " * 3000
)
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\U000e0000-\U000e007f]"
)
LIVE_MENTION = re.compile(r"@(everyone|here)|<@&?\d+>|<#\d+>")


def json_feed(*items: dict[str, Any]) -> bytes:
    """Return a JSON Feed (it can carry any character, unlike XML 1.0)."""
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "Hostile", "items": list(items)}
    ).encode()


def item(item_id: str, title: str, summary: str = "", link: str = LINK) -> dict[str, Any]:
    """Return one JSON Feed item published five minutes ago."""
    when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {"id": item_id, "url": link, "title": title, "content_text": summary, "date_published": when}


def strings(value: Any) -> Iterator[str]:
    """Yield every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


async def test_console_sink_prints_hostile_text_inert_and_bounded(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.set(FEED, json_feed(item("old", "Old news")), content_type="application/feed+json")
    # TOML escapes: a source name (set by an operator or a server admin) is shown too.
    hostile_name = "Hostile \\u0007\\u001b[2J\\u202e\\u2066"
    (tmp_path / "sources.toml").write_text(f'[[source]]\nname = "{hostile_name}"\nurl = "{url}"\n')
    (tmp_path / "subs.toml").write_text('[[subscription]]\nname = "k"\nquery = "kaspersky"\n')
    settings = load_settings(
        database_path=tmp_path / "regwatch.db",
        sources_file=tmp_path / "sources.toml",
        subscriptions_file=tmp_path / "subs.toml",
        allow_private_networks=True,
    )
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()
        long_title = HOSTILE_TITLE + " padding" * 200
        feed_server.set(
            FEED,
            json_feed(item("new", long_title, HOSTILE_SUMMARY), item("old", "Old news")),
            content_type="application/feed+json",
        )
        [result] = await services.scheduler.poll_all()
        assert result.alerts == 1 and (await services.dispatcher.drain()).sent == 1
    printed = out.getvalue()
    # Exactly one alert block, and the title's newlines could not forge a second one.
    assert [line for line in printed.splitlines() if line.startswith("ALERT")] == [printed.splitlines()[0]]
    assert "\nALERT [forged]" not in printed
    assert not UNSAFE.search(printed.replace("\n", "")), [c for c in printed if UNSAFE.match(c)]
    header, title_line, link_line, *_ = printed.splitlines()
    assert header.startswith("ALERT [k] Hostile")
    # The escape sequences lose their ESC and BEL: shown as text, not obeyed by the terminal.
    assert title_line.startswith("  [2J]8;;https://evil.example Kaspersky @everyone @here")
    assert len(title_line) <= 2 + 300 and title_line.endswith("…")
    assert link_line == f"  {LINK}"


async def test_discord_payload_is_escaped_pings_nobody_and_fits_the_limits(app: Regwatch) -> None:
    fake = app.fake
    app.feeds.set(FEED, json_feed(item("old", "Old news")), content_type="application/feed+json")
    await app.prime()
    await app.subscribe("kaspersky")
    app.feeds.set(
        FEED,
        json_feed(item("new", HOSTILE_TITLE + " x" * 500, HOSTILE_SUMMARY), item("old", "Old news")),
        content_type="application/feed+json",
    )
    result, sent = await app.poll_and_deliver()
    assert result.alerts == 1 and sent == 1
    [post] = fake.requests("POST", r"^/channels/\d+/messages$")
    payload = post.json
    # Nobody can be pinged: no mention parsing at all (the subscription has no role).
    assert payload["allowed_mentions"] == {"parse": [], "roles": []}
    assert payload["enforce_nonce"] is True and len(str(payload["nonce"])) <= 25
    [message] = fake.messages(fake.channel.id)
    assert (
        message["mention_everyone"] is False and message["mentions"] == [] and message["mention_roles"] == []
    )
    for text in strings(payload):
        # The escaper's own zero-width space breaks mentions ("@\u200beveryone"); nothing else survives.
        assert not UNSAFE.search(text.replace("@\u200b", "@").replace("<\u200b", "<")), repr(text)
        assert not LIVE_MENTION.search(text), text
        assert "](" not in text or text == payload["embeds"][0].get("url")
        assert unicodedata.normalize("NFC", text) == text
    [embed] = payload["embeds"]
    assert embed["url"] == LINK
    # Markdown is escaped: each special character is preceded by a backslash.
    assert r"\*\*bold\*\*" in embed["title"] and r"\[click me\]" in embed["title"]

    # Discord's limits, counted in UTF-16 code units.
    def units(s: str) -> int:
        return len(s.encode("utf-16-le")) // 2

    assert units(embed["title"]) <= 256 and units(embed.get("description", "")) <= 4096
    assert all(units(f["name"]) <= 256 and units(f["value"]) <= 1024 for f in embed.get("fields", []))
    total = sum(
        units(s)
        for s in (embed["title"], embed.get("description", ""), embed.get("footer", {}).get("text", ""))
    )
    total += sum(units(f["name"]) + units(f["value"]) for f in embed.get("fields", []))
    assert total <= 6000 and units(payload.get("content", "")) <= 2000
    # Sent exactly once; polling again sends nothing more.
    _, again = await app.poll_and_deliver()
    assert again == 0 and len(fake.messages(fake.channel.id)) == 1


async def test_role_mention_is_the_only_ping_allowed(app: Regwatch) -> None:
    fake = app.fake
    role = fake.add_role("vendor-watch")
    app.feeds.set(FEED, json_feed(item("old", "Old news")), content_type="application/feed+json")
    await app.prime()
    await app.subscribe("kaspersky", options={"mention": role})
    app.feeds.set(
        FEED,
        json_feed(item("new", HOSTILE_TITLE, HOSTILE_SUMMARY), item("old", "Old news")),
        content_type="application/feed+json",
    )
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [post] = fake.requests("POST", r"^/channels/\d+/messages$")
    assert post.json["allowed_mentions"] == {"parse": [], "roles": [str(role.id)]}
    assert post.json["content"] == f"<@&{role.id}>"
    [message] = fake.messages(fake.channel.id)
    assert message["mention_everyone"] is False and message["mention_roles"] == [str(role.id)]


# --- Every output path × every hostile payload --------------------------------------------------
# The same payloads go through every command that shows text from outside (the real CLI in a
# subprocess, a local feed server, a real database) and through every Discord message, reply,
# notice and edit (the fake Discord). A path passes when none of a payload's dangerous characters
# or live markup arrives, and the payload's marker word does (the text was shown, not dropped).
PAYLOADS: dict[str, str] = {
    "csi": "\x1b[2J\x1b[31m",
    "bel": "\x07\x07",
    "osc52": "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "osc8": "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "c1": "\x9b2J\x9d0;title\x9c\x85",
    "bidi": "\u202etxt.exe\u202c\u2066\u2067\u2068\u2069\u061c\u200e\u200f",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "invisible": "\u00ad\u115f\u1160\u3164\uffa0\u2800\u034f\U000e0041",
    "masked-link": "[click me](https://evil.example/phish)",
    "mentions": "@everyone @here <@&111111111111111111> <@222222222222222222>",
    "forged-line": "\r\nALERT [forged] line\u2028next\u2029para",
}
TERMINAL_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u2800\u3164\ufeff\uffa0\U000e0000-\U000e0fff]"
)


def marker(name: str) -> str:
    """Return the visible word that travels with a payload (it must reach the output)."""
    return "Mk" + name.replace("-", "")


def hostile(name: str) -> str:
    """Return one payload wrapped in its marker and the vendor name (so subscriptions match it)."""
    return f"Kaspersky {marker(name)} {PAYLOADS[name]} end"


def terminal_problems(path: str, output: str) -> list[str]:
    """Return what is wrong with one command's output (empty when every payload arrived inert)."""
    problems = [f"{path}: unsafe {c!r}" for c in sorted(set(TERMINAL_UNSAFE.findall(output)))]
    problems += [f"{path}: forged line" for line in output.splitlines() if line.startswith("ALERT [forged]")]
    return problems


async def test_every_terminal_output_path_shows_every_payload_inert(tmp_path: Path, feed_server) -> None:
    from bot.storage.db import connect
    from tests.test_cli import regwatch

    def feed(prefix: str) -> bytes:
        return json_feed(
            *(item(f"{prefix}{n}", hostile(n), hostile(n), f"{LINK}-{prefix}{n}") for n in PAYLOADS)
        )

    url = feed_server.set(FEED, feed("a"), content_type="application/feed+json")
    # TOML escapes carry the payloads into the source's name (operators and servers name sources).
    toml_name = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in
                        "Src " + " ".join(f"{marker(n)} {p}" for n, p in PAYLOADS.items()))  # fmt: skip
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "{toml_name}"\nurl = "{url}"\n')
    env = {"REGWATCH_SOURCES_FILE": str(sources), "REGWATCH_LOG_LEVEL": "INFO"}
    outputs: dict[str, str] = {}

    async def run(path: str, *args: str) -> None:
        code, out, err = await regwatch(tmp_path, *args, **env)
        assert code in (0, 1), (path, code, err)
        outputs[path] = out + err

    await run("poll --dry-run", "poll", "--dry-run")
    await run("poll", "poll")  # first poll: stores the items
    await run("subs preview", "subs", "preview", "kaspersky", "--top", "50")
    await run("why", "why", f"{LINK}-acsi")
    await run(
        "match --format table",
        "match",
        "--subscriptions",
        str(tmp_path / "subs.toml"),
        "--format",
        "table",
        url,
    )
    error = "ERR " + " ".join(f"{marker(n)} {p}" for n, p in PAYLOADS.items())
    db = connect(tmp_path / "regwatch.db")
    db.execute("UPDATE sources SET failures = 1, last_error = ?, failing_since = last_ok_at", (error,))
    db.execute(
        "INSERT INTO notices (source_id, target, text, created_at) VALUES (1, 'console', ?, '2026-01-01')",
        ("NOTICE " + error,),
    )
    db.conn.close()
    await run("sources list", "sources", "list")
    await run("sources check", "sources", "check")
    await run("doctor", "doctor")
    feed_server.set(FEED, feed("b"), content_type="application/feed+json")
    await run("run --once (alerts, notices, log)", "run", "--once")

    problems = [p for path, output in outputs.items() for p in terminal_problems(path, output)]
    assert problems == []
    # Each path showed the hostile text it is about (markers arrive; a table cuts long cells).
    assert all(marker(n) in outputs["poll --dry-run"] for n in PAYLOADS)
    assert all(marker(n) in outputs["run --once (alerts, notices, log)"] for n in PAYLOADS)
    assert "MkCsi".lower() in outputs["why"].lower() and "Src Mkcsi" in outputs["sources list"]
    assert "Src Mkcsi" in outputs["doctor"] and "Src Mkcsi" in outputs["sources check"]
    assert (
        "Kaspersky Mkcsi" in outputs["subs preview"] and "Kaspersky Mkcsi" in outputs["match --format table"]
    )
    assert (
        "ERR Mkcsi" in outputs["sources list"]
        and "regwatch notice: NOTICE ERR" in outputs["run --once (alerts, notices, log)"]
    )


async def test_jsonl_keeps_hostile_text_exactly_as_inert_escapes(tmp_path: Path, feed_server) -> None:
    from tests.test_cli import regwatch

    url = feed_server.set(
        FEED,
        json_feed(*(item(n, hostile(n), "", f"{LINK}-{n}") for n in PAYLOADS)),
        content_type="application/feed+json",
    )
    code, out, err = await regwatch(tmp_path, "match", "--subscriptions", str(tmp_path / "subs.toml"), url)
    assert code == 0, err
    assert terminal_problems("match --format jsonl", out) == []
    titles = {json.loads(line)["title"] for line in out.splitlines()}
    # Escaped, not altered: the data is the feed's (its parser already drops C0 and C1 controls).
    assert any("\u202e" in t for t in titles) and any("\u200b" in t for t in titles)
    assert any("\u3164" in t for t in titles) and "\\u202e" in out


# Markup that must never be live in Discord text: a masked link to the attacker, a mention.
LIVE_MASKED_LINK = re.compile(r"(?<!\\)\]\(<?https?://evil")


def without_urls(value: Any) -> Any:
    """Return a JSON value without its "url" members (embed link targets, not text)."""
    if isinstance(value, dict):
        return {k: without_urls(v) for k, v in value.items() if k != "url"}
    if isinstance(value, list):
        return [without_urls(v) for v in value]
    return value


def discord_problems(path: str, text: str, ours: str = "") -> list[str]:
    """Return what is wrong with one Discord text (empty when it shows every payload literally).

    `ours`: the mention of the channel the bot itself names in replies (allowed).
    """
    text = text.replace(ours, "") if ours else text
    # The escaper's own zero-width space breaks mentions ("@\u200beveryone"); nothing else survives.
    plain = text.replace("@\u200b", "@").replace("<\u200b", "<").replace("\n", " ")
    problems = [f"{path}: unsafe {c!r}" for c in sorted(set(TERMINAL_UNSAFE.findall(plain)))]
    if LIVE_MENTION.search(text):
        problems.append(f"{path}: live mention {LIVE_MENTION.search(text).group()!r}")  # type: ignore[union-attr]
    if LIVE_MASKED_LINK.search(text):
        at = LIVE_MASKED_LINK.search(text).start()  # type: ignore[union-attr]
        problems.append(f"{path}: live masked link near {text[max(0, at - 60) : at + 40]!r}")
    return problems


async def test_every_discord_output_path_shows_every_payload_inert(app: Regwatch) -> None:
    fake = app.fake
    texts: list[tuple[str, str]] = []

    async def command(path: str, **options: Any) -> None:
        result = await fake.invoke(path, options=options)
        texts.append((f"/{path}", result.content))

    app.feeds.set(FEED, json_feed(item("old", "Old news")), content_type="application/feed+json")
    await app.prime()
    await app.subscribe("kaspersky")
    # A server's own source, named with the payloads (a server admin names it).
    own = app.feeds.set("/own.json", json_feed(item("o", "Own old")), content_type="application/feed+json")
    await command("source add", url=own, name=" ".join(f"{marker(n)} {PAYLOADS[n]}" for n in PAYLOADS)[:100])

    # One alert per payload; then a later copy of a story, whose link tries to close the
    # "Also reported by" masked link early and open one of its own.
    first = "US sanctions 12 Kaspersky Lab leaders " + PAYLOADS["masked-link"] + " " + PAYLOADS["mentions"]
    fresh = [item(n, hostile(n), hostile(n), f"{LINK}-{n}") for n in PAYLOADS]
    fresh.append(item("story-1", first, "Kaspersky", "https://voanews.example/us-sanctions-12-kaspersky"))
    app.feeds.set(FEED, json_feed(*fresh, item("old", "Old news")), content_type="application/feed+json")
    await app.services.scheduler.poll_all()
    await app.services.dispatcher.drain()
    copy_link = "https://bleeping.example/x)[click](https://evil.example/phish)"
    fresh.insert(0, item("story-2", "US Treasury sanctions 12 Kaspersky executives", "Kaspersky", copy_link))
    app.feeds.set(FEED, json_feed(*fresh, item("old", "Old news")), content_type="application/feed+json")
    await app.services.scheduler.poll_all()
    await app.services.dispatcher.drain()
    edits = fake.requests("PATCH", r"^/channels/\d+/messages/\d+$")
    assert edits, "the story copy did not edit the first alert"

    await command("watch preview", query="kaspersky")
    await command("alerts recent", count=25)
    for n in PAYLOADS:
        await command("alerts why", link=f"{LINK}-{n}")
    await command("alerts why", link=copy_link)

    # The source fails with an error its server wrote (a redirect to a URL that cannot be one).
    app.feeds.redirect(FEED, "http://[click me](https://evil.example/phish) @everyone <@&111111111111111111>")
    [failed] = [r for r in await app.services.scheduler.poll_all() if r.status == "failed"]
    assert "evil.example" in (failed.error or ""), failed
    await command("source status")
    await command("source list")
    app.clock.offset = timedelta(hours=25)
    assert await app.services.check_sources() >= 2  # the console and this server

    for call in fake.requests("POST", r"^/channels/\d+/messages$") + edits:
        # An embed's "url" is a link target Discord never reads as markdown; all else is text.
        texts += [(f"{call.method} {call.path}", text) for text in strings(without_urls(call.json))]
    ours = f"<#{fake.channel.id}>"
    problems = [p for path, text in texts for p in discord_problems(path, text, ours)]
    assert problems == [], "\n".join(problems)
    shown_all = "\n".join(shown(text) for _, text in texts)
    assert all(marker(n) in shown_all for n in PAYLOADS)
    assert "has been failing since" in shown_all and "Also reported by" in json.dumps([e.json for e in edits])
    assert "same story as alert" in shown_all  # the quoted first title was shown (escaped)


INVISIBLES = {
    "soft hyphen": "\u00ad",
    "Hangul filler": "\u3164",
    "Hangul choseong filler": "\u115f",
    "Hangul jungseong filler": "\u1160",
    "half-width Hangul filler": "\uffa0",
    "braille blank": "\u2800",
    "zero-width space": "\u200b",
    "word joiner": "\u2060",
    "combining grapheme joiner": "\u034f",
}


async def test_a_vendor_name_split_by_an_invisible_character_alerts_and_shows_clean(app: Regwatch) -> None:
    fake = app.fake
    app.feeds.set(FEED, json_feed(item("old", "Old news")), content_type="application/feed+json")
    await app.prime()
    await app.subscribe("vendor:Kaspersky")
    split = {
        name: f"Commerce bans Kas{char}per{char}sky software ({name})" for name, char in INVISIBLES.items()
    }
    app.feeds.set(
        FEED,
        json_feed(*(item(name, title, "", f"{LINK}-{n}") for n, (name, title) in enumerate(split.items()))),
        content_type="application/feed+json",
    )
    result, _ = await app.poll_and_deliver()
    assert result.alerts == len(INVISIBLES)  # every spelling matched vendor:Kaspersky
    # Later copies of the same story edit the first message; together they show every item.
    calls = fake.requests("POST", r"^/channels/\d+/messages$") + fake.requests("PATCH", r"/messages/\d+$")
    texts = [t for call in calls for t in strings(without_urls(call.json))]
    assert not [t for t in texts if TERMINAL_UNSAFE.search(t.replace("@\u200b", "@").replace("\n", " "))]
    first = shown(fake.messages(fake.channel.id)[0]["embeds"][0]["title"])
    assert first.startswith("Commerce bans Kaspersky software (")
