"""The local feed server that other tests rely on, in process and as a separate process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.errors import FetchError
from bot.sources.http import Fetcher
from tests.feedserver import FIXTURES_DIR, FeedServer

REPO = Path(__file__).resolve().parent.parent
RSS = "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(user_agent="regwatch-tests", allow_private=True) as f:
        yield f


async def _raw_get(port: int, target: str) -> int:
    """Send a request line exactly as written (no client-side normalisation); return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def test_fail_then_serve_and_record(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    feed_server.fail("/feed.xml", 503, times=2)

    for _ in range(2):
        with pytest.raises(FetchError, match="HTTP 503"):
            await fetcher.fetch(url)
    result = await fetcher.fetch(url)

    assert result.status == 200
    assert feed_server.hits("/feed.xml") == 3
    assert [r.status for r in feed_server.requests_for("/feed.xml")] == [503, 503, 200]


async def test_query_specific_content_wins_over_the_bare_path(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.set("/api/documents.json", '{"count": 0}', content_type="application/json")
    feed_server.set("/api/documents.json?term=kaspersky", '{"count": 1}', content_type="application/json")

    assert (
        await fetcher.fetch(feed_server.url("/api/documents.json?term=kaspersky"))
    ).body == b'{"count": 1}'
    assert (await fetcher.fetch(feed_server.url("/api/documents.json?term=other"))).body == b'{"count": 0}'
    assert feed_server.hits("/api/documents.json") == 2
    assert feed_server.hits("/api/documents.json?term=kaspersky") == 1


async def test_remove_makes_a_path_404(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS)
    feed_server.remove("/feed.xml")
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetcher.fetch(url)


async def test_weak_and_listed_etags_match(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.set("/feed.xml", RSS, etag='"v1"')
    assert (await fetcher.fetch(url, etag='W/"v1"')).not_modified
    assert (await fetcher.fetch(url, etag='"v0", "v1"')).not_modified
    assert not (await fetcher.fetch(url, etag='"v0"')).not_modified


async def test_serve_fixture_sets_type_from_the_name(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.serve_fixture("/kev.json", "cisa_kev_2025-08-18_truncated.json")
    result = await fetcher.fetch(url)
    assert result.content_type == "application/json"
    assert result.body == (FIXTURES_DIR / "cisa_kev_2025-08-18_truncated.json").read_bytes()


async def test_directory_mode_in_process(tmp_path: Path, fetcher: Fetcher) -> None:
    (tmp_path / "feed.rss").write_text(RSS)
    async with FeedServer(directory=tmp_path) as server:
        first = await fetcher.fetch(server.url("/feed.rss"))
        assert first.body == RSS.encode() and first.etag and first.last_modified
        assert (await fetcher.fetch(server.url("/feed.rss"), etag=first.etag)).not_modified


async def test_standalone_process_serves_a_directory(tmp_path: Path, fetcher: Fetcher) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("outside the served directory")
    feed = root / "feed.rss"
    feed.write_text(RSS)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.feedserver",
        "--port",
        "0",
        "--dir",
        str(root),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        port = int(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        url = f"http://127.0.0.1:{port}/feed.rss"

        first = await fetcher.fetch(url)
        assert first.status == 200 and first.body == RSS.encode()
        assert first.content_type == "application/rss+xml"
        assert (await fetcher.fetch(url, etag=first.etag)).not_modified

        # Replace the file the way a test should: write aside, rename over.
        staged = root / ".feed.rss.tmp"
        staged.write_text(RSS.replace("<title>t</title>", "<title>changed</title>"))
        staged.replace(feed)
        changed = await fetcher.fetch(url, etag=first.etag)
        assert changed.status == 200 and b"changed" in changed.body

        with pytest.raises(FetchError, match="HTTP 404"):
            await fetcher.fetch(f"http://127.0.0.1:{port}/missing.rss")
        assert await _raw_get(port, "/../secret.txt") == 404
        assert await _raw_get(port, "/..%2Fsecret.txt") == 404
    finally:
        proc.terminate()
        returncode = await proc.wait()
    assert returncode == 0
