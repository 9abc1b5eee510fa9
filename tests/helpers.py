"""Helpers shared by tests: fixture access and feed variants derived from real captures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from bot.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


@contextmanager
def refused_port() -> Iterator[int]:
    """Yield a loopback port where every connection is refused, for as long as the block runs.

    The port is held by a bound socket that never listens: nothing else can take it meanwhile
    (unlike a port found free and assumed to stay so, or a fixed port such as 9).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def fixture_bytes(name: str) -> bytes:
    """Return a captured feed's bytes."""
    return (FIXTURES / name).read_bytes()


def rss_item(
    title: str,
    link: str,
    *,
    guid: str | None = None,
    published: datetime | None = None,
    description: str = "",
) -> str:
    """Return one RSS 2.0 <item> element."""
    when = format_datetime(published or datetime.now(UTC))
    guid_xml = f"<guid>{escape(guid)}</guid>" if guid else ""
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>{guid_xml}"
        f"<description>{escape(description)}</description><pubDate>{when}</pubDate></item>"
    )


def with_items(fixture: str, *items: str) -> bytes:
    """Return a real RSS fixture with extra items inserted at the top of its channel."""
    text = fixture_bytes(fixture).decode("utf-8")
    head, sep, tail = text.partition("<item>")
    assert sep, f"{fixture} has no <item>"
    return (head + "".join(items) + sep + tail).encode("utf-8")


def local_settings(tmp_path: Path, sources: str, subscriptions: str = "", **extra: Any) -> Settings:
    """Write a sources file and a subscriptions file in `tmp_path`; return settings for a local run.

    Private addresses allowed (the feed server is on 127.0.0.1), 5 s poll interval and timeout.
    """
    (tmp_path / "sources.toml").write_text(sources)
    (tmp_path / "subs.toml").write_text(subscriptions)
    settings: dict[str, Any] = {
        "database_path": tmp_path / "regwatch.db",
        "sources_file": tmp_path / "sources.toml",
        "subscriptions_file": tmp_path / "subs.toml",
        "allow_private_networks": True,
        "poll_interval_seconds": 5,
        "http_timeout_seconds": 5,
    }
    return load_settings(**(settings | extra))


def source_toml(name: str, url: str, kind: str, options: dict[str, Any] | None = None) -> str:
    """Return one [[source]] table of a sources file (DESIGN 3.6), with its kind and options."""
    text = f"[[source]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}\nkind = {json.dumps(kind)}\n"
    if options:
        text += "[source.options]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    return text


def sources_toml(*sources: tuple[str, str]) -> str:
    """Return a sources file with one feed per (name, url)."""
    return "".join(f'[[source]]\nname = "{name}"\nurl = "{url}"\n' for name, url in sources)
