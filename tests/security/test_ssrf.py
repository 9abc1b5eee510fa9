"""SSRF: every non-public destination is refused, with the reason, when a source is added and on fetch.

The guard lives in bot/sources/http.py (`check_url` before any request, `GuardedResolver` at
connect time, every redirect hop checked again). More cases of the same guard, closer to the
code: tests/sources/test_http.py ("SSRF guard" section).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot import cli
from bot.sources.http import Fetcher, UnsafeURLError
from bot.storage.db import connect
from tests.feedserver import FeedServer
from tests.test_cli import regwatch

RSS = "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
UA = "regwatch-test"

# (URL, the words the refusal must contain). Each is refused without any request being sent.
SPELLINGS: list[tuple[str, str]] = [
    ("http://127.0.0.1/feed", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.2:8080/feed", "127.0.0.2 is a loopback address"),
    ("http://127.0.0.1./feed", "is a loopback address"),
    ("http://2130706433/feed", "2130706433 means 127.0.0.1, a loopback address"),
    ("http://017700000001/feed", "017700000001 means 127.0.0.1, a loopback address"),
    ("http://0x7f000001/feed", "0x7f000001 means 127.0.0.1, a loopback address"),
    ("http://0x7f.0x0.0x0.0x1/feed", "means 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1/feed", "0177.0.0.1 means 127.0.0.1, a loopback address"),
    ("http://127.1/feed", "127.1 means 127.0.0.1, a loopback address"),
    ("http://127.0.1/feed", "127.0.1 means 127.0.0.1, a loopback address"),
    ("http://[::1]/feed", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]/feed", "is a loopback address"),
    ("http://[::ffff:127.0.0.1]/feed", "an IPv4-mapped IPv6 address (of 127.0.0.1)"),
    ("http://[::ffff:a9fe:a9fe]/feed", "an IPv4-mapped IPv6 address (of 169.254.169.254)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://2852039166/latest/meta-data/", "means 169.254.169.254, a link-local address"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "means 169.254.169.254, a link-local address"),
    ("http://[fe80::1]/feed", "fe80::1 is a link-local address"),
    ("http://10.0.0.1/feed", "10.0.0.1 is a private address"),
    ("http://012.0.0.1/feed", "012.0.0.1 means 10.0.0.1, a private address"),
    ("http://172.16.0.1/feed", "172.16.0.1 is a private address"),
    ("http://192.168.0.1/feed", "192.168.0.1 is a private address"),
    ("http://100.64.0.1/feed", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("http://100.127.255.254/feed", "a shared (carrier-grade NAT) address"),
    ("http://[fd00::1]/feed", "fd00::1 is a unique-local (private) address"),
    ("http://[2002:7f00:1::]/feed", "a translated address of 127.0.0.1, a loopback address"),
    ("http://[2002:a9fe:a9fe::]/feed", "a translated address of 169.254.169.254, a link-local address"),
    ("http://[64:ff9b::a00:1]/feed", "a translated address of 10.0.0.1, a private address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/feed", "a private address"),  # Teredo
    ("http://[::127.0.0.1]/feed", "a reserved address"),  # IPv4-compatible, deprecated
    ("http://0.0.0.0/feed", "0.0.0.0 is an unspecified address"),
    ("http://0/feed", "0 means 0.0.0.0, an unspecified address"),
    ("http://[::]/feed", ":: is an unspecified address"),
    ("http://224.0.0.1/feed", "224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/feed", "ff02::1 is a multicast address"),
    ("http://240.0.0.1/feed", "240.0.0.1 is a reserved address"),
    ("http://255.255.255.255/feed", "255.255.255.255 is a reserved address"),
    # The rest of the IANA special-purpose registries (not globally reachable), and site-local.
    ("http://[fec0::1]/feed", "fec0::1 is a site-local address (deprecated)"),
    ("http://[fec0:0:0:ffff::1]/feed", "a site-local address (deprecated)"),
    ("http://192.0.0.8/feed", "192.0.0.8 is an IETF protocol assignment (special-purpose) address"),
    ("http://192.0.0.9/feed", "an IETF protocol assignment (special-purpose) address"),
    ("http://192.0.0.170/feed", "192.0.0.170 is"),
    ("http://0.1.2.3/feed", "0.1.2.3 is"),
    ("http://192.0.2.10/feed", "192.0.2.10 is"),
    ("http://198.18.0.1/feed", "198.18.0.1 is"),
    ("http://192.88.99.1/feed", "192.88.99.1 is a deprecated 6to4 relay anycast address"),
    ("http://[64:ff9b:1::a00:1]/feed", "64:ff9b:1::a00:1 is"),
    ("http://[100::1]/feed", "100::1 is"),
    ("http://[2001:db8::1]/feed", "2001:db8::1 is"),
    ("http://[3fff::1]/feed", "3fff::1 is a documentation address"),
    ("http://[5f00::1]/feed", "5f00::1 is"),
    ("file:///etc/passwd", "only http:// and https:// URLs can be fetched, not file://"),
    ("ftp://example.com/feed.xml", "not ftp://"),
    ("gopher://example.com:70/_GET", "not gopher://"),
    ("dict://example.com:11211/stat", "not dict://"),
    ("http://user:secret@example.com/feed", "URLs with a user name or password in them are not allowed"),
    ("https://token@example.com/feed", "URLs with a user name or password in them are not allowed"),
    ("http://:@example.com/feed", "user name or password"),
]
assert len(SPELLINGS) >= 25


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run `regwatch` in this process with a fresh database and private networks refused."""
    for name in list(os.environ):
        if name.startswith("REGWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("REGWATCH_DATABASE_PATH", str(tmp_path / "regwatch.db"))
    monkeypatch.setenv("REGWATCH_ALLOW_PRIVATE_NETWORKS", "false")
    monkeypatch.setenv("REGWATCH_LOG_LEVEL", "ERROR")
    yield tmp_path / "regwatch.db"


def stored_urls(db_path: Path) -> list[str]:
    """Return the URLs of the sources stored in the database."""
    return [row[0] for row in connect(db_path).execute("SELECT url FROM sources").fetchall()]


@pytest.mark.parametrize(("url", "reason"), SPELLINGS)
def test_sources_add_refuses_with_the_reason(
    cli_env: Path, capsys: pytest.CaptureFixture[str], url: str, reason: str
) -> None:
    code = cli.main(["sources", "add", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("regwatch: refused: ") and reason in err, err
    assert len(err.strip().splitlines()) == 1
    assert stored_urls(cli_env) == []


@pytest.mark.parametrize(("url", "reason"), SPELLINGS)
async def test_fetch_refuses_with_the_reason_before_any_request(url: str, reason: str) -> None:
    async with Fetcher(user_agent=UA) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"^refused: ") as caught:
            await fetcher.fetch(url)
    assert reason in str(caught.value)


async def test_a_name_for_loopback_is_refused_when_added(tmp_path: Path, feed_server: FeedServer) -> None:
    # "localhost" passes the no-DNS check; the connect-time resolver refuses it. Real subprocess.
    feed_server.set("/feed.xml", RSS)
    url = f"http://localhost:{feed_server.port}/feed.xml"
    code, _, err = await regwatch(tmp_path, "sources", "add", url, REGWATCH_ALLOW_PRIVATE_NETWORKS="false")
    assert code == 1 and "refused: localhost resolves to" in err and "a loopback address" in err, err
    assert feed_server.hits("/feed.xml") == 0 and stored_urls(tmp_path / "regwatch.db") == []


async def test_allow_private_networks_lifts_the_guard(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", RSS)
    code, _, err = await regwatch(tmp_path, "sources", "add", url, REGWATCH_ALLOW_PRIVATE_NETWORKS="true")
    assert code == 0, err
    assert stored_urls(tmp_path / "regwatch.db") == [url] and feed_server.hits("/feed.xml") == 1
    # Credentials and other schemes stay refused even then.
    code, _, err = await regwatch(tmp_path, "sources", "add", "http://u:p@127.0.0.1/feed")
    assert code == 1 and "user name or password" in err


class FixedDNS(AbstractResolver):
    """A DNS stand-in: each name resolves to the addresses a test gave it (no network)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the table's addresses for `host`."""
        self.lookups.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        """Nothing to close."""


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "evil.example resolves to 10.0.0.1, a private address"),
        ("169.254.169.254", "evil.example resolves to 169.254.169.254, a link-local address"),
        ("100.64.1.1", "evil.example resolves to 100.64.1.1, a shared (carrier-grade NAT) address"),
        ("127.0.0.1", "evil.example resolves to 127.0.0.1, a loopback address"),
        ("fd12::1", "evil.example resolves to fd12::1, a unique-local (private) address"),
        ("::ffff:10.0.0.1", "an IPv4-mapped IPv6 address (of 10.0.0.1)"),
    ],
)
async def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    feed_server: FeedServer, address: str, reason: str
) -> None:
    feed_server.set("/feed.xml", RSS)
    dns = FixedDNS({"evil.example": [address]})
    async with Fetcher(user_agent=UA, dns=dns) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"^refused: ") as caught:
            await fetcher.fetch(f"http://evil.example:{feed_server.port}/feed.xml")
    assert reason in str(caught.value)
    assert dns.lookups == ["evil.example"] and feed_server.requests == []


async def test_only_the_allowed_addresses_of_a_name_are_connected_to(feed_server: FeedServer) -> None:
    # A name with one refused and one allowed address: the fetch goes to the allowed one only.
    feed_server.set("/feed.xml", RSS)
    dns = FixedDNS({"mixed.example": ["10.9.9.9", "127.0.0.1"]})
    async with Fetcher(user_agent=UA, dns=dns, allowed_networks=["127.0.0.1/32"]) as fetcher:
        result = await fetcher.fetch(f"http://mixed.example:{feed_server.port}/feed.xml")
    assert result.status == 200 and feed_server.hits("/feed.xml") == 1


async def test_dns_that_changes_to_private_is_refused_on_the_next_fetch(feed_server: FeedServer) -> None:
    # Allowed when added, then the name is repointed at the metadata address: refused on fetch.
    feed_server.set("/feed.xml", RSS)
    dns = FixedDNS({"feed.example": ["127.0.0.1"]})
    url = f"http://feed.example:{feed_server.port}/feed.xml"
    async with Fetcher(user_agent=UA, dns=dns, allowed_networks=["127.0.0.1/32"]) as fetcher:
        assert (await fetcher.fetch(url)).status == 200
    dns.table["feed.example"] = ["169.254.169.254"]
    async with Fetcher(user_agent=UA, dns=dns, allowed_networks=["127.0.0.1/32"]) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"feed\.example resolves to 169\.254\.169\.254"):
            await fetcher.fetch(url)
    assert feed_server.hits("/feed.xml") == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://0x7f.2/admin", "0x7f.2 means 127.0.0.2, a loopback address"),
        ("http://[::ffff:10.0.0.1]/", "an IPv4-mapped IPv6 address (of 10.0.0.1)"),
        # The rest of the IANA special-purpose registries (not globally reachable), and site-local.
        ("http://[fec0::1]/feed", "fec0::1 is a site-local address (deprecated)"),
        ("http://[fec0:0:0:ffff::1]/feed", "a site-local address (deprecated)"),
        ("http://192.0.0.8/feed", "192.0.0.8 is an IETF protocol assignment (special-purpose) address"),
        ("http://192.0.0.9/feed", "an IETF protocol assignment (special-purpose) address"),
        ("http://192.0.0.170/feed", "192.0.0.170 is"),
        ("http://0.1.2.3/feed", "0.1.2.3 is"),
        ("http://192.0.2.10/feed", "192.0.2.10 is"),
        ("http://198.18.0.1/feed", "198.18.0.1 is"),
        ("http://192.88.99.1/feed", "192.88.99.1 is a deprecated 6to4 relay anycast address"),
        ("http://[64:ff9b:1::a00:1]/feed", "64:ff9b:1::a00:1 is"),
        ("http://[100::1]/feed", "100::1 is"),
        ("http://[2001:db8::1]/feed", "2001:db8::1 is"),
        ("http://[3fff::1]/feed", "3fff::1 is a documentation address"),
        ("http://[5f00::1]/feed", "5f00::1 is"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http://internal.example/admin", "internal.example resolves to 10.1.2.3, a private address"),
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(
    feed_server: FeedServer, target: str, reason: str
) -> None:
    # The feed host is exempted as an operator would exempt one intranet host; the hop is not.
    start = feed_server.redirect("/feed.xml", target)
    dns = FixedDNS({"internal.example": ["10.1.2.3"]})
    async with Fetcher(user_agent=UA, dns=dns, allowed_networks=["127.0.0.1/32"]) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"^refused: ") as caught:
            await fetcher.fetch(start)
    assert reason in str(caught.value) and f"(redirected from {start})" in str(caught.value)
    assert feed_server.hits("/feed.xml") == 1
