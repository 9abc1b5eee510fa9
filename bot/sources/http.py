"""Fetch source URLs politely and safely.

One shared aiohttp session for the process. Rules apply in this order for every fetch:

1. The URL is checked without DNS (`check_url`): http/https only, no credentials, and an IP-literal
   host (in any spelling the C library accepts) must be a public address.
2. A per-host slot is taken (at most `per_host` requests in flight per host, across all fetches).
   With shared slots (`share_hosts`: scale-out workers on PostgreSQL) a slot is also taken in
   the database, so the limit holds across every process sharing it, not per process.
3. The request is sent with our User-Agent and the stored validators (conditional GET). The
   connector resolves names through `GuardedResolver`, which drops non-public addresses at connect
   time, so a name that resolves to 10.0.0.1 or 169.254.169.254 is never connected to.
4. Redirects are followed by hand, each hop checked again as in step 1, up to `max_redirects`.
   A source's own headers (`headers=`: API keys, Authorization, Cookie) go only to requests whose
   origin (scheme, host, port) is the source's own (`secret_origin`, by default the URL's); a
   redirect elsewhere, an item page or a mirror on another origin gets none of them.
5. The body is read while counting decompressed bytes, and abandoned past `max_bytes`.

Every failure becomes a `FetchError` whose message can be shown to a person as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import ipaddress
import os
import random
import re
import socket
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import Protocol, Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from multidict import CIMultiDict
from yarl import URL

from bot.domain.errors import FetchError

__all__ = [
    "AddressPolicy",
    "FetchResult",
    "Fetcher",
    "GuardedResolver",
    "HTTPStatusError",
    "SharedHostSlots",
    "UnsafeURLError",
    "check_url",
    "parse_max_age",
    "parse_retry_after",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHECKED_URLS = 20_000  # URLs remembered as checked; the memory is dropped whole when full
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Blocks of the IANA IPv4 and IPv6 Special-Purpose Address Registries that are not globally
# reachable and that this Python's ipaddress does not already call private or reserved (its
# tables lag the registries), plus the deprecated site-local fec0::/10 and 6to4 relay anycast.
# 192.0.0.0/24 is refused whole, its two anycast services (.9, .10) included: no feed lives there.
_SPECIAL_PURPOSE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), what)
    for net, what in (
        ("0.0.0.0/8", "a 'this network' address"),
        ("192.0.0.0/24", "an IETF protocol assignment (special-purpose) address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a deprecated 6to4 relay anycast address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("240.0.0.0/4", "a reserved address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("64:ff9b:1::/48", "a local-use translation address"),
        ("100::/64", "a discard-only address"),
        ("100:0:0:1::/64", "a dummy address"),
        ("2001::/23", "an IETF protocol assignment (special-purpose) address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment routing (SRv6) address"),
        ("fec0::/10", "a site-local address (deprecated)"),
    )
)
# Characters of the legacy numeric IPv4 spellings (2130706433, 0x7f.1, 0177.0.0.1, 127.1). Only hosts
# made of these are handed to inet_aton, because glibc's inet_aton accepts "1.2.3.4 anything".
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
_MAX_AGE = re.compile(r'(?:^|[,\s])max-age\s*=\s*"?(\d+)"?', re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
    "text/xml;q=0.9, application/feed+json;q=0.9, application/json;q=0.9, */*;q=0.8"
)
_CHUNK = 64 * 1024
# A shared host slot is leased for the request's whole deadline plus this margin, so it cannot
# lapse under a request still running (the deadline cancels the request first).
_SLOT_MARGIN = 10.0
# Waiting for a shared slot another process holds: a short backoff, doubling up to the cap, with
# jitter so waiting processes do not retry in step; a slot this process frees wakes its waiters.
_SLOT_WAIT_FIRST = 0.05
_SLOT_WAIT_MAX = 1.0


class SharedHostSlots(Protocol):
    """Request slots per host shared by several processes (bot/storage/leases.py `HostSlots`)."""

    async def take(self, host: str, slots: int, seconds: float) -> str | None:
        """Take one of `slots` slots of `host` for `seconds`; return its token, or None if all are held.

        Raises FetchError when the slots cannot be read (the database failed).
        """
        ...

    async def release(self, token: str) -> None:
        """Give the slot back (never raises: an unreleased slot lapses at the end of its lease)."""
        ...


class UnsafeURLError(FetchError):
    """A URL was refused before connecting: bad scheme, credentials, or a non-public address."""


class HTTPStatusError(FetchError):
    """The server answered with an error status; `status` lets callers react to one (403 → mirror)."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class _AddressRefusedError(OSError):
    """Raised inside aiohttp's connector when a name resolves only to refused addresses."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch returned; on 304 the body is empty and the validators are the ones sent."""

    url: str
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    not_modified: bool
    elapsed: float
    max_age: int | None


class AddressPolicy:
    """Decide which destination addresses may be connected to.

    Public unicast addresses always; others only with `allow_private`, or when they fall in one of
    `allowed_networks` (an operator's exemption for, say, one intranet feed host).
    """

    def __init__(self, *, allow_private: bool, allowed_networks: Iterable[str | IPNetwork] = ()) -> None:
        if isinstance(allowed_networks, str):
            # A lone "10.0.0.0/8" would otherwise be iterated character by character.
            allowed_networks = (allowed_networks,)
        self.allow_private = allow_private
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(
            net
            if isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network)
            else ipaddress.ip_network(net, strict=False)
            for net in allowed_networks
        )

    def problem(self, ip: IPAddress) -> str | None:
        """Return why `ip` is refused (e.g. "a private address"), or None when it is allowed."""
        if self.allow_private or any(ip in net for net in self.allowed_networks):
            return None
        return _address_problem(ip)


def _address_problem(ip: IPAddress) -> str | None:
    """Return what makes `ip` non-public, in words, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"an IPv4-mapped IPv6 address (of {ip.ipv4_mapped})"
        # 6to4 and NAT64 carry an IPv4 address inside; a gateway would forward to it.
        embedded = ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            inner = _address_problem(embedded)
            if inner is not None:
                return f"a translated address of {embedded}, {inner}"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"):
            return "a unique-local (private) address"
        return "a private address"
    for net, what in _SPECIAL_PURPOSE:
        if ip.version == net.version and ip in net:
            return what
    if not ip.is_global:
        return "not a public address"
    return None


def _literal_address(host: str) -> tuple[IPAddress, bool] | None:
    """Return the address an IP-literal host means and whether it is spelled canonically.

    Return None when the host is a name. Legacy IPv4 spellings are read with inet_aton semantics,
    which is what getaddrinfo would do with them.
    """
    if ":" in host:
        try:
            ip6 = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
        return ip6, True
    bare = host[:-1] if host.endswith(".") else host
    if not bare or not _NUMERIC_HOST.fullmatch(bare):
        return None
    try:
        ip4 = ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None
    return ip4, str(ip4) == bare


def _parse_url(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise UnsafeURLError(f"invalid URL {url!r}: {exc}") from None


def _check(url: URL, policy: AddressPolicy) -> URL:
    """Raise UnsafeURLError unless `url` may be requested under `policy`; return it unchanged."""
    scheme = url.scheme.lower()
    if not scheme:
        raise UnsafeURLError(f"invalid URL {str(url)!r}: it must start with http:// or https://")
    if scheme not in ("http", "https"):
        raise UnsafeURLError(f"refused: only http:// and https:// URLs can be fetched, not {scheme}://")
    if url.user is not None or url.password is not None:
        raise UnsafeURLError("refused: URLs with a user name or password in them are not allowed")
    host = url.host
    if not host:
        raise UnsafeURLError(f"invalid URL {str(url)!r}: it has no host")
    try:
        url.port  # noqa: B018 - yarl validates the port lazily; an invalid one raises here
    except ValueError as exc:
        raise UnsafeURLError(f"invalid URL {str(url)!r}: {exc}") from None
    literal = _literal_address(host)
    if literal is None:
        return url
    ip, canonical = literal
    problem = policy.problem(ip)
    if problem is not None:
        shown = f"{host} is" if canonical else f"{host} means {ip},"
        raise UnsafeURLError(f"refused: {shown} {problem}")
    if not canonical:
        # aiohttp refuses some of these spellings and resolves others; refuse them all alike.
        raise UnsafeURLError(f"refused: {host} is a non-standard way to write {ip}; write {ip} instead")
    return url


def check_url(url: str, *, allow_private: bool, allowed_networks: Iterable[str | IPNetwork] = ()) -> None:
    """Raise UnsafeURLError (a FetchError) saying why `url` may not be fetched; do no DNS lookup.

    Names are not resolved here: a name that points at a private address is refused at connect time.
    """
    _check(_parse_url(url), AddressPolicy(allow_private=allow_private, allowed_networks=allowed_networks))


class GuardedResolver(AbstractResolver):
    """Resolve names with the threaded resolver and drop addresses the policy refuses.

    Filtering at connect time (not before the request) means the addresses checked are the ones
    connected to, so DNS rebinding between a check and the connect cannot slip through.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the resolved addresses of `host` that the policy allows; raise if none are."""
        results = await self._inner.resolve(host, port, family)
        allowed: list[ResolveResult] = []
        refusal: str | None = None
        for result in results:
            try:
                ip = ipaddress.ip_address(result["host"].split("%", 1)[0])
            except ValueError:
                refusal = refusal or f"refused: {host} resolves to {result['host']!r}, not an IP address"
                continue
            problem = self._policy.problem(ip)
            if problem is None:
                allowed.append(result)
            else:
                refusal = refusal or f"refused: {host} resolves to {ip}, {problem}"
        if not allowed:
            raise _AddressRefusedError(refusal or f"refused: {host} has no address")
        return allowed

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a Retry-After header asks us to wait (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP-dates are always GMT; "-0000" zones come back naive.
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def parse_max_age(cache_control: str | None) -> int | None:
    """Return the max-age of a Cache-Control header in seconds, or None when it has none."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def _status_phrase(status: int, fallback: str | None) -> str:
    # The standard phrase, not the server's: servers send junk or nothing at all here.
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return (fallback or "").strip()


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return (url.scheme, url.host, url.port)


class Fetcher:
    """Fetch URLs over one shared aiohttp session, with validators, caps and an SSRF guard."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 20.0,
        connect_timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        per_host: int = 2,
        max_redirects: int = 5,
        allow_private: bool = False,
        allowed_networks: Iterable[str | IPNetwork] = (),
        max_connections: int = 100,
        dns: AbstractResolver | None = None,
    ) -> None:
        if per_host < 1 or max_connections < 1:
            raise ValueError("per_host and max_connections must be at least 1")
        if timeout <= 0 or connect_timeout <= 0 or max_bytes < 0 or max_redirects < 0:
            raise ValueError("timeouts must be positive and max_bytes, max_redirects not negative")
        self._user_agent = user_agent
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_bytes = max_bytes
        self._per_host = per_host
        self._max_redirects = max_redirects
        self._max_connections = max_connections
        # The name resolver under the guard; None means the system's (tests stand in a fixed DNS).
        self._dns = dns
        self._policy = AddressPolicy(allow_private=allow_private, allowed_networks=allowed_networks)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: AbstractResolver | None = None
        self._closed = False
        # Weak values: a host's semaphore lives while some fetch holds or waits on it, so the
        # table does not grow with every host ever fetched.
        self._host_slots: weakref.WeakValueDictionary[str, asyncio.Semaphore] = weakref.WeakValueDictionary()
        # Slots shared with other processes (None: this process's own semaphores only), and per
        # host an event set when this process gives a shared slot back (its waiters retry then).
        self._shared: SharedHostSlots | None = None
        self._shared_freed: dict[str, asyncio.Event] = {}
        self._late_releases: set[asyncio.Task[None]] = set()
        # Host -> loop time before which no request may be sent (hosts that asked for spacing).
        self._host_next: dict[str, float] = {}
        # URLs that passed rule 1, parsed (the policy is fixed, and sources are polled again and again).
        self._checked: dict[str, URL] = {}

    @property
    def per_host(self) -> int:
        """Return how many requests may be in flight to one host at once (REGWATCH_HTTP_PER_HOST)."""
        return self._per_host

    def share_hosts(self, slots: SharedHostSlots | None) -> None:
        """Also take a slot shared with other processes for each request (None: stop sharing).

        The per-process semaphores stay: a request first takes one of this process's `per_host`
        slots, then one of the host's `per_host` shared slots.
        """
        self._shared = slots

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session and its connections; further fetches raise RuntimeError."""
        self._closed = True
        if self._late_releases:  # shared slots taken by cancelled fetches, being given back
            await asyncio.gather(*self._late_releases, return_exceptions=True)
        session, self._session = self._session, None
        resolver, self._resolver = self._resolver, None
        if session is not None:
            await session.close()
        if resolver is not None:
            await resolver.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this Fetcher is closed")
        if self._session is None:
            # Created on first use because aiohttp needs a running event loop.
            inner = self._dns if self._dns is not None else ThreadedResolver()
            self._resolver = inner if self._policy.allow_private else GuardedResolver(self._policy, inner)
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, resolver=self._resolver, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # The total deadline is ours (it spans redirects); aiohttp only bounds the connect.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                auto_decompress=True,
                # No proxies from the environment: a proxy would resolve names past our guard.
                trust_env=False,
                # One session serves every source; cookies from one must not reach another.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Some government sites send long Content-Security-Policy headers.
                max_field_size=32 * 1024,
            )
        return self._session

    def _checked_url(self, url: str) -> URL:
        """Return `url` parsed and checked by the address policy (rule 1); each URL is checked once."""
        checked = self._checked.get(url)
        if checked is None:
            checked = _check(_parse_url(url), self._policy)
            if len(self._checked) >= _CHECKED_URLS:
                self._checked.clear()
            self._checked[url] = checked
        return checked

    def _slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = asyncio.Semaphore(self._per_host)
            self._host_slots[host] = slot
        return slot

    @contextlib.asynccontextmanager
    async def _shared_slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's shared slots for the block (nothing to do without sharing)."""
        shared = self._shared
        if shared is None:
            yield
            return
        token = await self._take_shared(shared, host)
        try:
            yield
        finally:
            # Shielded: a cancelled fetch (shutdown, deadline) still gives its slot back.
            await asyncio.shield(self._give_back(shared, host, token))

    async def _take_shared(self, shared: SharedHostSlots, host: str) -> str:
        """Take a shared slot of `host`, waiting while other processes hold them all."""
        wait = _SLOT_WAIT_FIRST
        seconds = self._timeout + _SLOT_MARGIN
        while True:
            attempt = asyncio.ensure_future(shared.take(host, self._per_host, seconds))
            try:
                token = await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # The statement may still take a slot: give it back once it has.
                attempt.add_done_callback(lambda done: self._release_late(shared, host, done))
                raise
            if token is not None:
                return token
            freed = self._shared_freed.setdefault(host, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), random.uniform(wait / 2, wait))
            wait = min(wait * 2, _SLOT_WAIT_MAX)

    async def _give_back(self, shared: SharedHostSlots, host: str, token: str) -> None:
        await shared.release(token)
        freed = self._shared_freed.pop(host, None)
        if freed is not None:
            freed.set()

    def _release_late(self, shared: SharedHostSlots, host: str, attempt: asyncio.Future[str | None]) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        token = attempt.result()
        if token is not None:
            task = asyncio.ensure_future(self._give_back(shared, host, token))
            self._late_releases.add(task)
            task.add_done_callback(self._late_releases.discard)

    async def _space(self, host: str, interval: float, loop: asyncio.AbstractEventLoop) -> None:
        # Reserve the next free send time for this host, then wait for it (no await in between,
        # so concurrent fetches get distinct times).
        now = loop.time()
        send_at = max(now, self._host_next.get(host, now))
        self._host_next[host] = send_at + interval
        if send_at > now:
            await asyncio.sleep(send_at - now)

    def _headers(
        self, extra: Mapping[str, str] | None, etag: str | None, last_modified: str | None
    ) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(
            {"User-Agent": self._user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
        )
        if extra:
            # Per-source headers win: some hosts reject particular Accept or Accept-Encoding values.
            headers.update(extra)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
        min_interval: float = 0.0,
        secret_origin: str | None = None,
    ) -> FetchResult:
        """GET `url` (conditionally when validators are given) and return the final response.

        `headers` are the source's own and go only to `secret_origin`'s origin (default: the
        origin of `url`), never to a redirect elsewhere.
        `min_interval`: the least time in seconds between two requests sent to this URL's host
        by fetches that ask for it (search engines that block bursts).
        """
        current = self._checked_url(url)
        session = self._ensure_session()
        home = _origin(_parse_url(secret_origin)) if secret_origin is not None else _origin(current)
        own_headers = self._headers(headers, etag, last_modified)
        plain_headers = self._headers(None, etag, last_modified) if headers else own_headers
        loop = asyncio.get_running_loop()
        deadline = asyncio.timeout(None)
        started: float | None = None
        came_from: URL | None = None
        try:
            async with deadline:
                for _hop in range(self._max_redirects + 1):
                    host = current.host or ""
                    async with self._slot(host):
                        if min_interval > 0:
                            await self._space(host, min_interval, loop)
                        async with self._shared_slot(host):
                            if started is None:
                                # The clock starts when we may send, not while we queue for a slot.
                                started = loop.time()
                                deadline.reschedule(started + self._timeout)
                            # The source's headers only at home; everywhere else only ours.
                            hop_headers = own_headers if _origin(current) == home else plain_headers
                            outcome = await self._one_hop(session, current, hop_headers)
                    if isinstance(outcome, _Response):
                        return outcome.result(current, etag, last_modified, loop.time() - started)
                    try:
                        target = _check(outcome, self._policy)
                    except UnsafeURLError as exc:
                        raise UnsafeURLError(f"{exc} (redirected from {current})") from None
                    came_from, current = current, target
                raise FetchError(f"too many redirects (more than {self._max_redirects})")
        except FetchError:
            raise
        except TimeoutError as exc:
            if deadline.expired():
                raise FetchError(f"timed out after {_seconds(self._timeout)}") from None
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise FetchError(
                    f"timed out after {_seconds(self._connect_timeout)} connecting to {current.host}"
                ) from None
            raise FetchError(f"timed out: {exc}") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _AddressRefusedError):
                hop = f" (redirected from {came_from})" if came_from is not None else ""
                raise UnsafeURLError(f"{exc.os_error}{hop}") from None
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                raise FetchError(
                    f"could not connect to host: cannot resolve {exc.host} ({_os_reason(exc.os_error)})"
                ) from None
            if isinstance(exc, aiohttp.ClientSSLError):
                raise FetchError(f"could not connect to host: {exc.host}: TLS failed: {exc}") from None
            raise FetchError(
                f"could not connect to host: {exc.host}:{exc.port} ({_os_reason(exc.os_error)})"
            ) from None
        except aiohttp.InvalidURL as exc:
            raise FetchError(
                f"invalid URL {str(exc.url)!r}: {exc.description or 'cannot be requested'}"
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(f"connection broken while reading the response: {exc}") from None
        except aiohttp.ServerDisconnectedError:
            raise FetchError("the server closed the connection without a response") from None
        except aiohttp.ClientResponseError as exc:
            raise FetchError(f"invalid HTTP response: {exc.message}") from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"request failed: {str(exc) or type(exc).__name__}") from None

    async def _one_hop(
        self, session: aiohttp.ClientSession, url: URL, headers: CIMultiDict[str]
    ) -> _Response | URL:
        """Send one GET; return the final response, or the URL a redirect points to."""
        async with session.get(url, headers=headers, allow_redirects=False) as resp:
            status = resp.status
            if status in _REDIRECT_STATUSES:
                location = resp.headers.get("Location")
                if not location:
                    raise FetchError(
                        f"HTTP {status} {_status_phrase(status, resp.reason)} without a Location header"
                    )
                try:
                    return url.join(URL(location))
                except ValueError:
                    raise FetchError(f"HTTP {status} redirect to an invalid URL: {location!r}") from None
            if status >= 300 and status != 304:
                retry_after = (
                    parse_retry_after(resp.headers.get("Retry-After"))
                    if status in _RETRY_AFTER_STATUSES
                    else None
                )
                raise HTTPStatusError(
                    f"HTTP {status} {_status_phrase(status, resp.reason)}".rstrip(),
                    status=status,
                    retry_after=retry_after,
                )
            body = b"" if status == 304 else await self._read_capped(resp)
            return _Response(
                status=status,
                body=body,
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                content_type=resp.headers.get("Content-Type"),
                max_age=parse_max_age(resp.headers.get("Cache-Control")),
            )

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """Read the (decompressed) body, giving up as soon as it passes max_bytes."""
        limit = self._max_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise FetchError(f"response larger than {limit} bytes (Content-Length is {declared})")
        body = bytearray()
        # aiohttp inflates gzip/deflate in bounded pieces, so a compression bomb is stopped here
        # after at most one piece past the limit rather than after inflating the whole thing.
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                raise FetchError(f"response larger than {limit} bytes")
        return bytes(body)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    max_age: int | None

    def result(
        self, url: URL, sent_etag: str | None, sent_modified: str | None, elapsed: float
    ) -> FetchResult:
        not_modified = self.status == 304
        # A 304 need not repeat the validators; hand back the ones sent so callers can always
        # store what the result says.
        return FetchResult(
            url=str(url),
            status=self.status,
            body=self.body,
            etag=self.etag if self.etag is not None or not not_modified else sent_etag,
            last_modified=(
                self.last_modified if self.last_modified is not None or not not_modified else sent_modified
            ),
            content_type=self.content_type,
            not_modified=not_modified,
            elapsed=elapsed,
            max_age=self.max_age,
        )
