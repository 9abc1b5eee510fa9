"""`regwatch doctor`: check settings, database, Discord token and every source, as a table."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bot.domain.errors import RegwatchError
from bot.domain.safetext import terminal
from bot.settings import Settings
from bot.storage.sources import Source
from bot.text_tables import format_table

SECRET_FIELDS = ("discord_token",)


def settings_rows(settings: Settings) -> list[tuple[str, str]]:
    """Return (variable, value) for every setting, secrets masked."""
    rows = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            shown = "(not set)" if value is None else "set (hidden)"
        else:
            shown = "(not set)" if value is None else str(value)
        rows.append((f"REGWATCH_{name.upper()}", shown))
    return rows


async def _check_token(settings: Settings) -> tuple[bool, str]:
    assert settings.discord_token is not None
    headers = {"Authorization": f"Bot {settings.discord_token.get_secret_value()}"}
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.http_timeout_seconds)
            ) as session,
            session.get(f"{settings.discord_api_base}/users/@me", headers=headers) as resp,
        ):
            if resp.status == 200:
                data = await resp.json()
                return True, f"valid: logged in as {data.get('username', '?')}"
            if resp.status == 401:
                return False, "invalid token (Discord answered 401 Unauthorized)"
            return False, f"Discord answered HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"could not reach {settings.discord_api_base}: {exc or type(exc).__name__}"


SOURCE_CHECK_HEADERS = ("id", "name", "kind", "status", "format", "items", "latency", "problem")


async def probe_sources(settings: Settings, targets: list[Source]) -> list[tuple[object, ...]]:
    """Fetch and parse each source now, as its kind says, storing nothing; one table row each."""
    from bot.app import make_fetcher
    from bot.sources.adapters import parse_document
    from bot.sources.fallback import fetch_with_mirror
    from bot.sources.search import parse_kind, sample_url

    async with make_fetcher(settings) as fetcher:

        async def probe(src: Source) -> tuple[object, ...]:
            started = time.monotonic()
            try:
                # A search source is probed with a harmless search text, read as its answers are.
                search = src.kind == "search"
                url = sample_url(src.url) if search else src.url
                fetched = await fetch_with_mirror(fetcher, url, src.options)
                parsed = await asyncio.to_thread(
                    parse_document,
                    parse_kind(src.options) if search else src.kind,
                    fetched.body,
                    content_type=fetched.content_type,
                    url=fetched.url,
                    options=src.options,
                )
            except RegwatchError as exc:
                return (src.id, src.name, src.kind, "FAIL", "", "", "", str(exc))
            ms = (time.monotonic() - started) * 1000
            return (src.id, src.name, src.kind, "ok", parsed.format, len(parsed.entries), f"{ms:.0f} ms", "")

        return list(await asyncio.gather(*(probe(s) for s in targets)))


async def run_doctor(settings: Settings) -> int:
    """Print the report; return 1 when anything needs attention."""
    from bot.app import open_database, sync_configuration
    from bot.domain.vendors import VendorCatalog
    from bot.storage import outbox, sources
    from bot.storage.db import check_writable, database_errors, safe_location, schema_status

    problems = 0
    print("Settings")
    print(format_table(("variable", "value"), settings_rows(settings), max_width=70))

    print("\nDatabase")
    failures: tuple[type[Exception], ...] = (RegwatchError, OSError, *database_errors())
    try:
        db = open_database(settings)
        sync_configuration(db, settings, VendorCatalog.load_default())
        version, latest = schema_status(db)
        counts = outbox.counts(db)
        check_writable(db)
        rows = [
            ("path", safe_location(settings.database_location)),
            ("schema version", f"{version} of {latest}"),
            ("writable", "yes"),
            ("alerts", f"{counts['pending']} pending, {counts['sent']} sent, {counts['failed']} failed"),
        ]
    except failures as exc:
        print(f"  problem: {terminal(exc)}")
        return 1
    print(format_table(("check", "result"), rows, max_width=90))

    print("\nDiscord")
    if settings.discord_token is None:
        print("  no token: console mode (alerts are printed)")
    else:
        ok, detail = await _check_token(settings)
        problems += 0 if ok else 1
        print(f"  token: {terminal(detail)}")

    print("\nSources")
    checked = await probe_sources(settings, sources.list_sources(db, enabled_only=True))
    problems += sum(1 for r in checked if r[3] == "FAIL")
    print(format_table(SOURCE_CHECK_HEADERS, checked))
    db.conn.close()
    print(f"\n{problems} problem(s) found." if problems else "\nAll checks passed.")
    return 1 if problems else 0
