"""A local feed server for tests: publish, redirect, fail, delay and count, on 127.0.0.1 only.

In a test (the `feed_server` fixture in conftest.py yields a started one)::

    url = feed_server.set("/feed.xml", "<rss>…</rss>")          # publish; ETag + 304 for free
    feed_server.serve_fixture("/kev.json", "cisa_kev_2025-08-18_truncated.json")
    feed_server.redirect("/old", "/feed.xml")                    # 302 by default
    feed_server.fail("/feed.xml", 503, times=2, headers={"Retry-After": "120"})
    feed_server.hits("/feed.xml"); feed_server.requests[-1].headers["User-Agent"]

In another process, serving the files of a directory (re-read on every request, so a test can
change a feed between polls; write a temporary file and rename it over the old one so a poll
never sees half a file)::

    python -m tests.feedserver --port 0 --dir DIR      # prints the port on the first line
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import gzip as gzip_module
import hashlib
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

FIXTURES_DIR = Path(__file__).parent / "fixtures" / "feeds"
DEFAULT_CONTENT_TYPE = "application/rss+xml; charset=utf-8"

# No charset for files: a feed's XML declaration names its encoding, and an HTTP charset would
# override it (RFC 7303), which is wrong for the latin-2 and windows-1251 fixtures.
_TYPES_BY_SUFFIX = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}
_WRITE_CHUNK = 16 * 1024
RESET = -1  # the status recorded for a connection broken mid-body (see FeedServer.reset)


@dataclass
class RecordedRequest:
    """One request the server received, and the status it answered with."""

    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    status: int

    @property
    def path_qs(self) -> str:
        """Return the path with its query string, as requested."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class _Resource:
    body: bytes  # as sent on the wire (already compressed when content_encoding is set)
    content_type: str | None
    status: int
    headers: dict[str, str]
    delay: float
    etag: str | None
    last_modified: str | None
    chunked: bool


@dataclass
class _Failure:
    status: int
    remaining: int
    headers: dict[str, str] = field(default_factory=dict)


def guess_content_type(name: str) -> str:
    """Return the Content-Type the server sends for a file name (".gz" is looked through)."""
    path = Path(name.removesuffix(".gz"))
    return _TYPES_BY_SUFFIX.get(path.suffix.lower(), "application/octet-stream")


def _strong_etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def _http_date(value: str | datetime | float) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        # A naive datetime is taken as UTC, like every HTTP-date.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return email.utils.format_datetime(aware.astimezone(UTC), usegmt=True)
    return email.utils.formatdate(value, usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored.
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified_since(header: str, last_modified: str) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header)
        modified = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if (since.tzinfo is None) != (modified.tzinfo is None):
        since, modified = since.replace(tzinfo=None), modified.replace(tzinfo=None)
    return modified <= since


class FeedServer:
    """An aiohttp server on 127.0.0.1 whose content a test changes while it runs."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        directory: str | Path | None = None,
        also_on: Sequence[str] = (),
    ) -> None:
        self.host = host
        # Further loopback addresses (127.0.0.2, ...) served on the same port: feeds spread over
        # several hosts, as per-host limits see them.
        self.also_on = tuple(also_on)
        self.port = port
        self.directory = Path(directory).resolve() if directory is not None else None
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._gate: asyncio.Event | None = None
        self._gate_size = 0
        self._gate_timeout = 0.0
        self.gate_error: str | None = None
        # Per host name (the Host header without its port): requests in flight now and at most.
        self.in_flight_by_host: dict[str, int] = {}
        self.max_in_flight_by_host: dict[str, int] = {}
        self._host_hold: tuple[int, float] | None = None
        self._host_release: dict[str, asyncio.Event] = {}
        self._resources: dict[str, _Resource] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        self._failures: dict[str, _Failure] = {}
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening; the chosen port is in `port` afterwards."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that gave up (a timeout test) cancels the delayed
        # handler, so stop() does not wait for it.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        for address in self.also_on:
            await web.TCPSite(runner, address, self.port).start()

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- publishing --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """Return the absolute URL of `path` on this server (at `host`, one of `also_on`, if given)."""
        base = self.base_url if host is None else f"http://{host}:{self.port}"
        return base + (path if path.startswith("/") else "/" + path)

    def set(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str | None = DEFAULT_CONTENT_TYPE,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        gzip: bool = False,
        etag: bool | str = True,
        last_modified: str | datetime | float | None = None,
        chunked: bool = False,
    ) -> str:
        """Publish `body` at `path` (replacing what was there) and return its URL.

        `etag=True` derives a strong ETag from the body; a string is sent as given; False sends
        none. `last_modified` (HTTP-date, datetime or epoch seconds) enables If-Modified-Since.
        `gzip=True` sends the body gzip-compressed with Content-Encoding: gzip. `chunked=True`
        sends it with chunked transfer encoding (no Content-Length). `delay` waits before
        answering. `headers` are added to the response as they are (e.g. a Content-Encoding
        for a body you compressed yourself, or Cache-Control).
        """
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        extra = dict(headers or {})
        # The gzip flag is part of the tag: the same text compressed is another representation.
        tag = _strong_etag(data + (b"\0gzip" if gzip else b"")) if etag is True else (etag or None)
        if gzip:
            data = gzip_module.compress(data, mtime=0)
            extra["Content-Encoding"] = "gzip"
        self._resources[self._key(path)] = _Resource(
            body=data,
            content_type=content_type,
            status=status,
            headers=extra,
            delay=delay,
            etag=tag,
            last_modified=_http_date(last_modified) if last_modified is not None else None,
            chunked=chunked,
        )
        self._redirects.pop(self._key(path), None)
        return self.url(path)

    def serve_fixture(
        self, path: str, fixture_name: str, *, headers: Mapping[str, str] | None = None, **options: Any
    ) -> str:
        """Publish a file from tests/fixtures/feeds at `path` and return its URL.

        The Content-Type follows the file name; ".gz" files go out as they are, with
        Content-Encoding: gzip. Other keywords are those of `set`.
        """
        data = (FIXTURES_DIR / fixture_name).read_bytes()
        extra = dict(headers or {})
        if fixture_name.endswith(".gz"):
            extra.setdefault("Content-Encoding", "gzip")
        options.setdefault("content_type", guess_content_type(fixture_name))
        return self.set(path, data, headers=extra, **options)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        """Answer `path` with a redirect to `to` (a path or an absolute URL); return its URL."""
        self._redirects[self._key(path)] = (to, status)
        self._resources.pop(self._key(path), None)
        return self.url(path)

    def fail(self, path: str, status: int, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next `times` requests to `path` with `status`, then serve it normally again."""
        self._failures[self._key(path)] = _Failure(
            status=status, remaining=times, headers=dict(headers or {})
        )

    def reset(self, path: str, times: int = 1) -> None:
        """Break the next `times` responses at `path` mid-body: headers, a little data, a reset."""
        self._failures[self._key(path)] = _Failure(status=RESET, remaining=times)

    def remove(self, path: str) -> None:
        """Forget whatever is published at `path`; it answers 404 from now on."""
        key = self._key(path)
        self._resources.pop(key, None)
        self._redirects.pop(key, None)
        self._failures.pop(key, None)

    def etag(self, path: str) -> str | None:
        """Return the ETag currently served at `path`."""
        resource = self._resources.get(self._key(path))
        return resource.etag if resource else None

    # -- inspection --------------------------------------------------------------------------

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Return the requests made to `path` (with a query string, only exact matches)."""
        if "?" in path:
            return [r for r in self.requests if r.path_qs == path]
        return [r for r in self.requests if r.path == path]

    def hits(self, path: str) -> int:
        """Return how many requests `path` received."""
        return len(self.requests_for(path))

    # -- serving -----------------------------------------------------------------------------

    @staticmethod
    def _key(path: str) -> str:
        return path if path.startswith("/") else "/" + path

    def _lookup(self, table: Mapping[str, object], request: web.Request) -> str | None:
        # An exact path+query entry wins over the bare path (Federal Register style URLs).
        for key in (request.path_qs, request.path):
            if key in table:
                return key
        return None

    def hold_until_in_flight(self, count: int, *, timeout: float = 30.0) -> None:
        """Hold every request until `count` of them are in flight at once, then let all through.

        A test of concurrency then depends on what the client allows, not on how fast the
        machine is. If `count` is never reached within `timeout` seconds of a request's arrival,
        the held requests are answered 503 and `gate_error` says how many were in flight.
        """
        self._gate, self._gate_size, self._gate_timeout = asyncio.Event(), count, timeout
        self.gate_error = None

    def hold_per_host(self, count: int, *, patience: float) -> None:
        """Hold each request until `count` are in flight to its host name, or `patience` s passed.

        Unlike `hold_until_in_flight` this holds every request, not the first ones: clients'
        requests to one host then overlap as much as they are allowed to, so a client over its
        per-host limit shows in `max_in_flight_by_host` (with `count` one over the limit, every
        request waits out its patience, and a client within its limit still passes).
        """
        self._host_hold = (count, patience)

    async def _hold_for_host(self, host: str) -> None:
        if self._host_hold is None:
            return
        count, patience = self._host_hold
        if self.in_flight_by_host[host] >= count:
            released = self._host_release.pop(host, None)
            if released is not None:
                released.set()
            return
        released = self._host_release.setdefault(host, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), patience)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        host = request.url.host or ""
        self.in_flight_by_host[host] = self.in_flight_by_host.get(host, 0) + 1
        self.max_in_flight_by_host[host] = max(
            self.max_in_flight_by_host.get(host, 0), self.in_flight_by_host[host]
        )
        try:
            await self._hold_for_host(host)
            gate = self._gate
            if gate is not None and not gate.is_set():
                if self.in_flight >= self._gate_size:
                    gate.set()
                else:
                    try:
                        await asyncio.wait_for(gate.wait(), self._gate_timeout)
                    except TimeoutError:
                        self.gate_error = (
                            f"only {self.in_flight} requests were in flight after {self._gate_timeout} s;"
                            f" the test waited for {self._gate_size}"
                        )
                        return web.Response(status=503, text=self.gate_error)
            return await self._respond(request)
        finally:
            self.in_flight -= 1
            self.in_flight_by_host[host] -= 1

    def _record(self, request: web.Request, status: int) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                status=status,
            )
        )

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        failure_key = self._lookup(self._failures, request)
        if failure_key is not None:
            failure = self._failures[failure_key]
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self._failures[failure_key]
            self._record(request, failure.status)
            if failure.status == RESET:
                return await self._reset(request)
            return web.Response(
                status=failure.status, headers=failure.headers, text=f"failure {failure.status}\n"
            )

        redirect_key = self._lookup(self._redirects, request)
        if redirect_key is not None:
            to, status = self._redirects[redirect_key]
            self._record(request, status)
            return web.Response(status=status, headers={"Location": to})

        resource_key = self._lookup(self._resources, request)
        if resource_key is not None:
            return await self._serve(request, self._resources[resource_key])

        if self.directory is not None:
            resource = self._from_directory(request.path)
            if resource is not None:
                return await self._serve(request, resource)

        self._record(request, 404)
        return web.Response(status=404, text="not found\n")

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": DEFAULT_CONTENT_TYPE})
        response.content_length = 100_000
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>cut')
        if request.transport is not None:
            request.transport.abort()  # a reset, not a clean end
        return response

    def _from_directory(self, path: str) -> _Resource | None:
        assert self.directory is not None
        candidate = (self.directory / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        try:
            data = candidate.read_bytes()
            mtime = candidate.stat().st_mtime
        except OSError:
            return None
        headers = {"Content-Encoding": "gzip"} if candidate.name.endswith(".gz") else {}
        return _Resource(
            body=data,
            content_type=guess_content_type(candidate.name),
            status=200,
            headers=headers,
            delay=0.0,
            etag=_strong_etag(data),
            last_modified=_http_date(mtime),
            chunked=False,
        )

    async def _serve(self, request: web.Request, resource: _Resource) -> web.StreamResponse:
        validators: dict[str, str] = {}
        if resource.etag:
            validators["ETag"] = resource.etag
        if resource.last_modified:
            validators["Last-Modified"] = resource.last_modified

        if_none_match = request.headers.get("If-None-Match")
        if_modified_since = request.headers.get("If-Modified-Since")
        not_modified = False
        if resource.status == 200:
            if if_none_match is not None:
                # If-None-Match takes precedence; If-Modified-Since is then ignored (RFC 9110 13.2.2).
                not_modified = resource.etag is not None and _etag_matches(if_none_match, resource.etag)
            elif if_modified_since is not None and resource.last_modified:
                not_modified = _not_modified_since(if_modified_since, resource.last_modified)

        status = 304 if not_modified else resource.status
        self._record(request, status)
        if resource.delay:
            await asyncio.sleep(resource.delay)

        if not_modified:
            passthrough = {k: v for k, v in resource.headers.items() if k.lower() == "cache-control"}
            return web.Response(status=304, headers={**validators, **passthrough})

        headers = {**validators, **resource.headers}
        if resource.content_type:
            headers["Content-Type"] = resource.content_type
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        if not resource.chunked:
            return web.Response(status=status, headers=headers, body=resource.body)

        response = web.StreamResponse(status=status, headers=headers)
        response.enable_chunked_encoding()
        # A client that stops reading (size-cap tests) resets the connection; that is expected.
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            for start in range(0, len(resource.body), _WRITE_CHUNK):
                await response.write(resource.body[start : start + _WRITE_CHUNK])
            await response.write_eof()
        return response


async def _serve_forever(host: str, port: int, directory: Path) -> None:
    server = FeedServer(host=host, port=port, directory=directory)
    await server.start()
    print(server.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the files of a directory with ETag/Last-Modified and 304s until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.feedserver", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--dir", type=Path, required=True, help="directory whose files are served")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"--dir {args.dir} is not a directory")
    asyncio.run(_serve_forever(args.host, args.port, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
