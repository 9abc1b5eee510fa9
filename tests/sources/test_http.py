"""The HTTP fetcher against a real local server: validators, caps, errors, concurrency, SSRF guard."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import re
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from bot.domain.errors import FetchError
from bot.sources.http import (
    AddressPolicy,
    Fetcher,
    FetchResult,
    GuardedResolver,
    UnsafeURLError,
    check_url,
    parse_max_age,
    parse_retry_after,
)
from tests.feedserver import FIXTURES_DIR, FeedServer

UA = "regwatch/0.1 (+https://example.org/regwatch; ops@example.org)"
RSS = "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(user_agent=UA, allow_private=True) as f:
        yield f


def _gzip_of_zeros(size: int) -> bytes:
    """Return a gzip stream that inflates to `size` zero bytes, built without holding them."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(size // len(block))]
    parts.append(comp.flush())
    return b"".join(parts)


# -- success and validators ------------------------------------------------------------------


async def test_200_returns_body_and_validators(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set(
        "/feed.xml",
        RSS,
        last_modified="Mon, 18 Aug 2025 10:00:00 GMT",
        headers={"Cache-Control": "public, max-age=300"},
    )

    result = await fetcher.fetch(url)

    assert isinstance(result, FetchResult)
    assert result.status == 200
    assert result.body == RSS.encode()
    assert result.url == url
    assert result.etag == feed_server.etag("/feed.xml") and result.etag
    assert result.last_modified == "Mon, 18 Aug 2025 10:00:00 GMT"
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.not_modified is False
    assert result.max_age == 300
    assert result.elapsed >= 0


async def test_etag_gives_304_not_modified(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    first = await fetcher.fetch(url)

    second = await fetcher.fetch(url, etag=first.etag)

    assert second.not_modified is True
    assert second.status == 304
    assert second.body == b""
    assert second.etag == first.etag
    assert feed_server.requests[-1].headers["If-None-Match"] == first.etag
    assert feed_server.requests[-1].status == 304


async def test_last_modified_gives_304(feed_server: FeedServer, fetcher: Fetcher) -> None:
    stamp = "Mon, 18 Aug 2025 10:00:00 GMT"
    url = feed_server.set("/feed.xml", RSS, etag=False, last_modified=stamp)
    first = await fetcher.fetch(url)
    assert first.etag is None and first.last_modified == stamp

    second = await fetcher.fetch(url, last_modified=first.last_modified)

    assert second.not_modified is True and second.body == b""
    assert second.last_modified == stamp
    assert feed_server.requests[-1].headers["If-Modified-Since"] == stamp
    assert "If-None-Match" not in feed_server.requests[-1].headers


async def test_republished_content_gives_200_with_new_etag(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    first = await fetcher.fetch(url)
    feed_server.set("/feed.xml", RSS.replace("<title>t</title>", "<title>new</title>"))

    second = await fetcher.fetch(url, etag=first.etag)

    assert second.status == 200 and second.not_modified is False
    assert b"<title>new</title>" in second.body
    assert second.etag != first.etag


async def test_gzip_content_encoding_is_decoded(feed_server: FeedServer, fetcher: Fetcher) -> None:
    body = (RSS * 200).encode()
    url = feed_server.set("/feed.xml", body, gzip=True)

    result = await fetcher.fetch(url)

    assert result.body == body
    request = feed_server.requests[-1]
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "deflate" in request.headers["Accept-Encoding"]


async def test_deflate_content_encoding_is_decoded(feed_server: FeedServer, fetcher: Fetcher) -> None:
    body = (RSS * 50).encode()
    url = feed_server.set("/feed.xml", zlib.compress(body), headers={"Content-Encoding": "deflate"})

    assert (await fetcher.fetch(url)).body == body


async def test_real_gzipped_fixture_is_decoded(feed_server: FeedServer, fetcher: Fetcher) -> None:
    name = "edge_gzip_windows1251_userland_ns.rss.gz"
    url = feed_server.serve_fixture("/ru.rss", name)

    result = await fetcher.fetch(url)

    assert result.body == gzip.decompress((FIXTURES_DIR / name).read_bytes())
    assert result.content_type == "application/rss+xml"


async def test_user_agent_and_accept_are_sent(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)

    await fetcher.fetch(url)

    headers = feed_server.requests[-1].headers
    assert headers["User-Agent"] == UA
    assert "application/rss+xml" in headers["Accept"]


async def test_per_request_headers_override_defaults(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)

    await fetcher.fetch(url, headers={"Accept-Encoding": "identity", "Accept": "application/json"})

    headers = feed_server.requests[-1].headers
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == UA


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_chain_is_followed_and_final_url_reported(
    feed_server: FeedServer, fetcher: Fetcher, status: int
) -> None:
    final = feed_server.set("/feeds/current.xml", RSS)
    feed_server.redirect("/feeds/moved", "current.xml", status=status)  # relative Location
    feed_server.redirect("/b", "/feeds/moved", status=status)
    start = feed_server.redirect("/a", feed_server.url("/b"), status=status)  # absolute Location

    result = await fetcher.fetch(start)

    assert result.url == final
    assert result.body == RSS.encode()
    assert [r.path for r in feed_server.requests] == ["/a", "/b", "/feeds/moved", "/feeds/current.xml"]


async def test_exactly_max_redirects_is_allowed(feed_server: FeedServer) -> None:
    feed_server.set("/r2", RSS)
    feed_server.redirect("/r1", "/r2")
    feed_server.redirect("/r0", "/r1")
    async with Fetcher(user_agent=UA, allow_private=True, max_redirects=2) as fetcher:
        result = await fetcher.fetch(feed_server.url("/r0"))
    assert result.url == feed_server.url("/r2")


async def test_too_many_redirects_is_an_error(feed_server: FeedServer) -> None:
    feed_server.set("/r6", RSS)
    for i in range(6):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}")
    async with Fetcher(user_agent=UA, allow_private=True, max_redirects=5) as fetcher:
        with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
            await fetcher.fetch(feed_server.url("/r0"))
    assert feed_server.hits("/r6") == 0
    assert feed_server.hits("/r5") == 1


async def test_redirect_loop_is_an_error(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.redirect("/loop", "/loop")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetcher.fetch(feed_server.url("/loop"))


async def test_redirect_without_location_is_an_error(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/odd", b"", status=302, etag=False)
    with pytest.raises(FetchError, match="HTTP 302 Found without a Location header"):
        await fetcher.fetch(url)


async def test_credentials_header_is_dropped_on_cross_origin_redirect(feed_server: FeedServer) -> None:
    # Same server under two origins: 127.0.0.1 and localhost.
    feed_server.set("/feed.xml", RSS)
    feed_server.redirect("/same", "/feed.xml")
    feed_server.redirect("/other", f"http://localhost:{feed_server.port}/feed.xml")
    async with Fetcher(user_agent=UA, allow_private=True) as fetcher:
        await fetcher.fetch(feed_server.url("/same"), headers={"Authorization": "Bearer x"})
        same_origin = feed_server.requests[-1]
        await fetcher.fetch(feed_server.url("/other"), headers={"Authorization": "Bearer x"})
        other_origin = feed_server.requests[-1]
    assert same_origin.headers.get("Authorization") == "Bearer x"
    assert other_origin.path == "/feed.xml"
    assert "Authorization" not in other_origin.headers


# -- HTTP errors and Retry-After ------------------------------------------------------------


async def test_500_is_a_fetch_error_in_plain_words(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    feed_server.fail("/feed.xml", 500)

    with pytest.raises(FetchError, match=r"^HTTP 500 Internal Server Error$") as caught:
        await fetcher.fetch(url)

    assert caught.value.retry_after is None
    # fail() injects a fixed number of failures, then the feed is served again.
    assert (await fetcher.fetch(url)).status == 200


async def test_404_is_a_fetch_error(feed_server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"^HTTP 404 Not Found$"):
        await fetcher.fetch(feed_server.url("/nothing-here"))


async def test_429_retry_after_seconds(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    feed_server.fail("/feed.xml", 429, headers={"Retry-After": "120"})

    with pytest.raises(FetchError, match="HTTP 429 Too Many Requests") as caught:
        await fetcher.fetch(url)

    assert caught.value.retry_after == 120


async def test_503_retry_after_http_date(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    feed_server.fail("/feed.xml", 503, headers={"Retry-After": when})

    with pytest.raises(FetchError, match="HTTP 503 Service Unavailable") as caught:
        await fetcher.fetch(url)

    # The date has one-second resolution and some wall time passes; it still means "about 2 min".
    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 121


async def test_retry_after_ignored_on_other_statuses(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    feed_server.fail("/feed.xml", 500, headers={"Retry-After": "120"})
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(url)
    assert caught.value.retry_after is None


def test_parse_retry_after_forms() -> None:
    now = 1_755_511_200.0  # Mon, 18 Aug 2025 10:00:00 GMT
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after("Mon, 18 Aug 2025 10:02:00 GMT", now=now) == 120
    assert parse_retry_after("Mon, 18 Aug 2025 09:00:00 GMT", now=now) == 0  # in the past
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_parse_max_age() -> None:
    assert parse_max_age("public, max-age=300") == 300
    assert parse_max_age('max-age="60"') == 60
    assert parse_max_age("s-maxage=100") is None
    assert parse_max_age("no-cache") is None
    assert parse_max_age(None) is None


# -- timeouts and connection errors ----------------------------------------------------------


async def test_slow_response_times_out(feed_server: FeedServer) -> None:
    url = feed_server.set("/slow.xml", RSS, delay=2.0)
    async with Fetcher(user_agent=UA, allow_private=True, timeout=0.3) as fetcher:
        with pytest.raises(FetchError, match=r"^timed out after 0\.3 s$"):
            await fetcher.fetch(url)


async def test_connect_timeout() -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        async with Fetcher(user_agent=UA, allow_private=True, connect_timeout=0.3, timeout=10) as fetcher:
            with pytest.raises(FetchError, match=r"^timed out after 0\.3 s connecting to 127\.0\.0\.1$"):
                await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connection_refused_is_plain(fetcher: Fetcher) -> None:
    # A port held by a socket that is bound but not listening: connecting is refused, and
    # nothing else can take the port while the test runs.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(FetchError, match=rf"^could not connect to host: 127\.0\.0\.1:{port} \(.+\)$"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")


# -- size cap --------------------------------------------------------------------------------


async def test_body_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", b"x" * 1000)
    async with Fetcher(user_agent=UA, allow_private=True, max_bytes=1000) as fetcher:
        assert len((await fetcher.fetch(url)).body) == 1000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversize_body_is_refused(feed_server: FeedServer, chunked: bool) -> None:
    url = feed_server.set("/big.xml", b"x" * 300_000, chunked=chunked)
    async with Fetcher(user_agent=UA, allow_private=True, max_bytes=100_000) as fetcher:
        with pytest.raises(FetchError, match="response larger than 100000 bytes"):
            await fetcher.fetch(url)


async def test_content_length_over_the_cap_is_refused_before_reading(feed_server: FeedServer) -> None:
    url = feed_server.set("/big.xml", b"x" * 300_000)
    async with Fetcher(user_agent=UA, allow_private=True, max_bytes=100_000) as fetcher:
        with pytest.raises(FetchError, match=r"Content-Length is 300000"):
            await fetcher.fetch(url)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_cap_applies_to_decompressed_size(feed_server: FeedServer, chunked: bool) -> None:
    # A gzip bomb: ~64 KB on the wire, 64 MiB inflated.
    bomb = _gzip_of_zeros(64 * 1024 * 1024)
    assert len(bomb) < 200_000
    url = feed_server.set(
        "/bomb.xml", bomb, headers={"Content-Encoding": "gzip"}, chunked=chunked, etag=False
    )
    async with Fetcher(user_agent=UA, allow_private=True, max_bytes=1_000_000) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match="response larger than 1000000 bytes"):
                await fetcher.fetch(url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Streaming stopped near the cap: nowhere near the 64 MiB the bomb inflates to.
    assert peak < 20 * 1024 * 1024


# -- per-host concurrency --------------------------------------------------------------------


# The server holds requests until the limit is in flight at once (or fails the test clearly), so
# these pass on a slow machine as on a fast one; a client over its limit shows more in flight.


async def test_per_host_concurrency_never_exceeds_the_limit(feed_server: FeedServer) -> None:
    urls = [feed_server.set(f"/f{i}.xml", RSS) for i in range(6)]
    feed_server.hold_until_in_flight(2)
    async with Fetcher(user_agent=UA, allow_private=True, per_host=2) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert feed_server.gate_error is None, feed_server.gate_error
    assert all(r.status == 200 for r in results)
    assert feed_server.max_in_flight == 2


async def test_per_host_limit_is_configurable(feed_server: FeedServer) -> None:
    urls = [feed_server.set(f"/f{i}.xml", RSS) for i in range(6)]
    feed_server.hold_until_in_flight(3)
    async with Fetcher(user_agent=UA, allow_private=True, per_host=3) as fetcher:
        await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert feed_server.gate_error is None, feed_server.gate_error
    assert feed_server.max_in_flight == 3


async def test_per_host_limit_is_per_host_not_global(feed_server: FeedServer) -> None:
    # One server under two host names gets two separate allowances.
    paths = [f"/f{i}.xml" for i in range(6)]
    for path in paths:
        feed_server.set(path, RSS)
    urls = [feed_server.url(p) for p in paths[:4]] + [
        f"http://localhost:{feed_server.port}{p}" for p in paths[4:]
    ]
    feed_server.hold_until_in_flight(2)
    async with Fetcher(user_agent=UA, allow_private=True, per_host=1) as fetcher:
        await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert feed_server.gate_error is None, feed_server.gate_error
    assert feed_server.max_in_flight == 2


# -- SSRF guard ------------------------------------------------------------------------------


async def test_local_server_is_refused_by_default(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", RSS)
    async with Fetcher(user_agent=UA) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"^refused: 127\.0\.0\.1 is a loopback address$"):
            await fetcher.fetch(url)
    assert feed_server.hits("/feed.xml") == 0


async def test_name_resolving_to_loopback_is_refused_at_connect_time(feed_server: FeedServer) -> None:
    # "localhost" is a name, so check_url lets it through; the guarded resolver refuses it.
    feed_server.set("/feed.xml", RSS)
    check_url(f"http://localhost:{feed_server.port}/feed.xml", allow_private=False)
    async with Fetcher(user_agent=UA) as fetcher:
        with pytest.raises(UnsafeURLError, match=r"^refused: localhost resolves to .+, a loopback address$"):
            await fetcher.fetch(f"http://localhost:{feed_server.port}/feed.xml")
    assert feed_server.hits("/feed.xml") == 0


async def test_guarded_resolver_filters_addresses() -> None:
    refusing = GuardedResolver(AddressPolicy(allow_private=False))
    with pytest.raises(OSError, match="refused: localhost resolves to"):
        await refusing.resolve("localhost", 80)
    await refusing.close()

    allowing = GuardedResolver(AddressPolicy(allow_private=False, allowed_networks=["127.0.0.0/8"]))
    results = await allowing.resolve("localhost", 80, socket.AF_INET)
    assert [r["host"] for r in results] == ["127.0.0.1"]
    await allowing.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://2130706433/", "2130706433 means 127.0.0.1, a loopback address"),
        ("http://0x7f000001/", "0x7f000001 means 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "0x7f.1 means 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "0177.0.0.1 means 127.0.0.1, a loopback address"),
        ("http://127.1/", "127.1 means 127.0.0.1, a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped IPv6 address (of 127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://172.16.5.4:8080/", "172.16.5.4 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is an unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/", "ff02::1 is a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[fc00::1]/", "fc00::1 is a unique-local (private) address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://[64:ff9b::a00:1]/", "translated address of 10.0.0.1, a private address"),
        ("http://[2002:a9fe:a9fe::]/", "translated address of 169.254.169.254, a link-local address"),
    ],
)
def test_check_url_refuses_non_public_addresses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError, match=r"^refused: ") as caught:
        check_url(url, allow_private=False)
    assert reason in str(caught.value)
    assert isinstance(caught.value, FetchError)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.cisa.gov/news.xml",
        "http://example.com:8080/feed?x=1",
        "https://93.184.215.14/feed",
        "https://[2606:4700::6810:84e5]/feed",
        "http://localhost/",  # a name: refused at connect time by the resolver, not here
    ],
)
def test_check_url_accepts_public_urls(url: str) -> None:
    check_url(url, allow_private=False)


def test_check_url_allow_private() -> None:
    check_url("http://10.0.0.1/feed", allow_private=True)
    check_url("http://127.0.0.1:8080/feed", allow_private=True)
    check_url("http://[::1]/feed", allow_private=True)


def test_check_url_allowed_networks_exempt_only_those() -> None:
    check_url("http://10.1.2.3/feed", allow_private=False, allowed_networks=["10.1.0.0/16"])
    with pytest.raises(UnsafeURLError, match=r"10\.2\.0\.1 is a private address"):
        check_url("http://10.2.0.1/feed", allow_private=False, allowed_networks=["10.1.0.0/16"])


def test_check_url_refuses_odd_spellings_even_when_private_is_allowed() -> None:
    with pytest.raises(UnsafeURLError, match=r"non-standard way to write 8\.8\.8\.8"):
        check_url("http://134744072/", allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:secret@example.com/feed", "user name or password"),
        ("https://token@example.com/feed", "user name or password"),
        ("ftp://example.com/feed.xml", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("gopher://example.com/", "only http:// and https://"),
        ("example.com/feed.xml", "must start with http:// or https://"),
        ("http:///feed.xml", "has no host"),
        ("http://example.com:99999/", "invalid URL"),
    ],
)
def test_check_url_refuses_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        check_url(url, allow_private=True)


async def test_fetch_refuses_bad_urls_without_a_request(feed_server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(UnsafeURLError, match="user name or password"):
        await fetcher.fetch(f"http://u:p@127.0.0.1:{feed_server.port}/feed.xml")
    with pytest.raises(UnsafeURLError, match="only http:// and https://"):
        await fetcher.fetch("file:///etc/passwd")
    assert feed_server.requests == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/admin", "10.0.0.1 is a private address"),
        ("http://127.0.0.2/", "127.0.0.2 is a loopback address"),
        ("http://0x7f.2/", "0x7f.2 means 127.0.0.2, a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("ftp://example.com/feed", "only http:// and https://"),
        ("http://u:p@example.com/", "user name or password"),
    ],
)
async def test_redirect_to_a_refused_destination_is_refused(
    feed_server: FeedServer, target: str, reason: str
) -> None:
    # The first hop (127.0.0.1 only) is exempted the way an operator would exempt one intranet
    # host; every later hop goes through the same check as any URL.
    feed_server.set("/ok.xml", RSS)
    start = feed_server.redirect("/jump", target)
    async with Fetcher(user_agent=UA, allowed_networks=["127.0.0.1/32"]) as fetcher:
        assert (await fetcher.fetch(feed_server.url("/ok.xml"))).status == 200
        with pytest.raises(UnsafeURLError, match=f"^refused: .*{re.escape(reason)}") as caught:
            await fetcher.fetch(start)
    assert f"(redirected from {start})" in str(caught.value)
    assert feed_server.hits("/jump") == 1


async def test_allowed_networks_apply_to_resolved_names(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", RSS)
    by_name = f"http://localhost:{feed_server.port}/feed.xml"
    async with Fetcher(user_agent=UA, allowed_networks=["127.0.0.1/32"]) as fetcher:
        assert (await fetcher.fetch(url)).status == 200
        assert (await fetcher.fetch(by_name)).status == 200
    async with Fetcher(user_agent=UA, allowed_networks=["127.0.0.2/32"]) as fetcher:
        with pytest.raises(UnsafeURLError, match="refused: localhost resolves to"):
            await fetcher.fetch(by_name)


# -- lifecycle -------------------------------------------------------------------------------


async def test_fetcher_works_without_context_manager_and_closes_twice(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", RSS)
    fetcher = Fetcher(user_agent=UA, allow_private=True)
    assert (await fetcher.fetch(url)).status == 200
    await fetcher.close()
    await fetcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        await fetcher.fetch(url)


async def test_min_interval_spaces_requests_to_one_host(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set("/s", b"<rss version='2.0'><channel></channel></rss>")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(fetcher.fetch(feed_server.url("/s"), min_interval=0.2) for _ in range(3)))
    # Three requests asking for 0.2 s spacing cannot all be sent in less than 0.4 s.
    assert loop.time() - started >= 0.4
    assert feed_server.hits("/s") == 3


async def test_source_headers_reach_the_server_through_the_mirror_path(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    from bot.sources.fallback import fetch_with_mirror

    feed_server.set("/h", b"<rss version='2.0'><channel></channel></rss>")
    await fetch_with_mirror(
        fetcher, feed_server.url("/h"), {"headers": {"Accept": "application/xml", "X-Key": "k"}}
    )
    [request] = feed_server.requests_for("/h")
    assert request.headers["Accept"] == "application/xml" and request.headers["X-Key"] == "k"
