"""Parser limits: hostile documents are refused with the reason, or read without expanding anything.

Limits live in bot/sources/http.py (size cap while streaming, decompressed bytes counted),
bot/sources/parse.py (gzip cap, DOCTYPE and entities refused, nesting depth, entries and field
lengths, dates between 1990 and 2100), bot/sources/jsondoc.py (JSON depth) and
bot/sources/adapters.py (entries per document, whatever the kind). The same limits closer to the
code: tests/sources/test_parse.py ("Hostile XML") and tests/sources/test_http.py (caps).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.errors import ParseError
from bot.settings import load_settings
from bot.sources.adapters import MAX_ENTRIES_PER_DOCUMENT, parse_document
from bot.sources.htmltext import TITLE_MAX_CHARS
from bot.storage import sources
from tests.feedserver import FeedServer
from tests.helpers import fixture_bytes, rss_item, with_items

NASA_NAME = "spec_rss2sample_nasa_liftoff.xml"
NASA = fixture_bytes(NASA_NAME)
KEV = fixture_bytes("cisa_kev_2025-08-18_truncated.json")


def with_doctype(doctype: bytes, title: bytes) -> bytes:
    """Return the NASA sample feed with a DOCTYPE before its root and `title` as its first title."""
    body = NASA.replace(b'<rss version="2.0">', doctype + b'\n<rss version="2.0">')
    return body.replace(b"<title>Star City</title>", b"<title>" + title + b"</title>")


def gzip_of_zeros(size: int) -> bytes:
    """Return a gzip stream that inflates to `size` zero bytes, built without holding them."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([comp.compress(block) for _ in range(size // len(block))] + [comp.flush()])


# -- entity expansion and external entities ----------------------------------------------------


def test_billion_laughs_is_read_literally() -> None:
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    feed = parse_document("feed", with_doctype(b"<!DOCTYPE rss [" + entities + b"]>", b"Star &lol9; City"))
    assert feed.entries[0].title == "Star &lol9; City"  # 3 GB if it were expanded
    assert len(feed.entries) == 4


def test_quadratic_blowup_is_read_literally() -> None:
    body = with_doctype(b'<!DOCTYPE rss [<!ENTITY a "' + b"x" * 100_000 + b'">]>', b"&a;" * 20_000)
    title = parse_document("feed", body).entries[0].title
    assert "xxx" not in title and title.startswith("&a;&a;") and len(title) <= TITLE_MAX_CHARS


def test_external_file_dtd_and_entities_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak SYSTEM "file://{secret}">')
    for doctype, title in [
        (f'<!DOCTYPE rss SYSTEM "file://{dtd}">', b"Star &leak; City"),
        (f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{dtd}"> %p;]>', b"Star &leak; City"),
        (f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>', b"Star &xxe; City"),
    ]:
        feed = parse_document("feed", with_doctype(doctype.encode(), title))
        assert feed.entries[0].title == title.decode()
        assert "TOPSECRET" not in repr(feed)


# -- compression bombs and size caps -----------------------------------------------------------


def test_gzip_file_bomb_is_refused_with_the_reason() -> None:
    bomb = gzip_of_zeros(64 * 1024 * 1024)
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="gzip body inflates to more than 20000000 bytes"):
        parse_document("feed", bomb)


def settings_for(tmp_path: Path, url: str, **overrides: object) -> object:
    """Return settings with one source at `url`, private networks allowed (the feed server is local)."""
    (tmp_path / "sources.toml").write_text(f'[[source]]\nname = "hostile"\nurl = "{url}"\n')
    (tmp_path / "subs.toml").write_text('[[subscription]]\nname = "k"\nquery = "kaspersky"\n')
    return load_settings(
        database_path=tmp_path / "regwatch.db",
        sources_file=tmp_path / "sources.toml",
        subscriptions_file=tmp_path / "subs.toml",
        allow_private_networks=True,
        poll_interval_seconds=60,
        http_timeout_seconds=10,
        **overrides,
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_http_gzip_bomb_fails_the_poll_and_backs_off(
    tmp_path: Path, feed_server: FeedServer, chunked: bool
) -> None:
    url = feed_server.set(
        "/bomb.xml", gzip_of_zeros(64 * 1024 * 1024), headers={"Content-Encoding": "gzip"}, chunked=chunked
    )
    settings = settings_for(tmp_path, url, max_response_bytes=1024 * 1024)
    async with build_services(settings) as services:
        [result] = await services.scheduler.poll_all()
        assert result.status == "failed" and result.error == "response larger than 1048576 bytes"
        [src] = await services.adb.call(sources.list_sources)
        assert src.failures == 1 and src.last_error == "response larger than 1048576 bytes"
        assert src.next_check_at > datetime.now(UTC) + timedelta(seconds=30)


async def test_oversized_body_is_abandoned_while_streaming(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.set("/big.xml", b"<rss>" + b" " * (3 * 1024 * 1024), chunked=True)
    settings = settings_for(tmp_path, url, max_response_bytes=1024 * 1024)
    async with build_services(settings) as services:
        [result] = await services.scheduler.poll_all()
    assert result.status == "failed" and result.error == "response larger than 1048576 bytes"


# -- nesting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 1_000_000])
def test_deeply_nested_json_is_refused(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    feed = b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [' + nested + b"]}"
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_document("feed", feed)
    kev = b'{"vulnerabilities": [' + nested + b"]}"
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_document("cisa_kev", kev)


@pytest.mark.parametrize("well_formed", [True, False], ids=["well-formed", "ill-formed"])
def test_deeply_nested_xml_is_refused(well_formed: bool) -> None:
    # Ill-formed (the stray "&"), it would go to feedparser, which took two minutes on this before
    # the depth limit: now refused at once.
    n = 1_000_000
    title = b"x" if well_formed else b"x & y"
    body = b'<rss version="2.0"><channel><item><title>' + title + b"</title><description>"
    body += b"<a>" * n + (b"</a>" * n if well_formed else b"") + b"</description></item></channel></rss>"
    with pytest.raises(ParseError, match="nested more than 256 deep"):
        parse_document("feed", body)


def test_ordinary_nesting_and_unclosed_html_tags_are_fine() -> None:
    nested = b"<div>" * 100 + b"deep" + b"</div>" * 100
    loose = b"a<br>b<br/>c<img src=x.png>d<p>e</p>" * 300  # void and closed tags
    for description in (nested, loose + b" & more"):
        body = with_items(NASA_NAME, "").replace(
            b"<item>",
            b"<item><title>t</title><description>" + description + b"</description></item><item>",
            1,
        )
        assert len(parse_document("feed", body).entries) == 5


# -- items per document ------------------------------------------------------------------------


def test_feed_items_are_capped_at_5000_keeping_the_newest_in_document_order(caplog) -> None:
    # Newest first at the top, as feeds are written; NASA's 4 items of 2003 follow, oldest of all.
    start = datetime(2025, 1, 1, tzinfo=UTC)
    items = "".join(
        rss_item(f"item {i}", f"https://x.example/{i}", published=start - timedelta(minutes=i))
        for i in range(6000)
    )
    with caplog.at_level("WARNING", logger="bot.sources.parse"):
        feed = parse_document("feed", with_items(NASA_NAME, items), url="https://x.example/feed")
    assert len(feed.entries) == 5000
    assert [e.title for e in feed.entries[:2]] == ["item 0", "item 1"]
    assert feed.entries[-1].title == "item 4999"
    assert "https://x.example/feed has 6004 entries; kept the newest 5000, dropped 1004" in caplog.text


def test_json_catalog_entries_are_capped_per_document() -> None:
    doc = json.loads(KEV)
    template = doc["vulnerabilities"][0]
    doc["vulnerabilities"] = [{**template, "cveID": f"CVE-2025-{i:05d}"} for i in range(20_000)]
    feed = parse_document("cisa_kev", json.dumps(doc).encode())
    assert len(feed.entries) == MAX_ENTRIES_PER_DOCUMENT == 5_000
    assert feed.entries[0].guid == "CVE-2025-00000" and feed.entries[-1].guid == "CVE-2025-04999"


# -- absurd dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "Mon, 01 Jan 99999 00:00:00 GMT",
        "0000-00-00T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-13-45T99:99:99Z",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "1e308",
        "\x00" * 10_000,
        "9" * 5_000,
    ],
)
def test_absurd_dates_become_unknown(raw: str) -> None:
    body = with_items(NASA_NAME, "").replace(
        b"<item>", f"<item><title>t</title><pubDate>{raw}</pubDate></item><item>".encode(), 1
    )
    [first, *_] = parse_document("feed", body).entries
    assert first.title == "t" and first.published is None


async def test_an_item_with_an_absurd_date_still_alerts_once(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.set("/f.xml", NASA)
    out = io.StringIO()
    async with build_services(settings_for(tmp_path, url), sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()
        item = rss_item("Kaspersky banned again", "https://x.example/k").replace(
            "<pubDate>", "<pubDate>Mon, 01 Jan 99999 00:00:00 GMT</pubDate><x>"
        )
        item = item.replace("</pubDate></item>", "</x></item>")
        feed_server.set("/f.xml", with_items(NASA_NAME, item))
        [result] = await services.scheduler.poll_all()
        assert result.status == "new" and result.alerts == 1
        assert (await services.dispatcher.drain()).sent == 1
        await services.scheduler.poll_all()
        assert (await services.dispatcher.drain()).sent == 0
    assert out.getvalue().count("Kaspersky banned again") == 1


def test_compressed_json_is_capped_too() -> None:
    big = json.dumps({"vulnerabilities": [], "pad": "x" * 30_000_000}).encode()
    with pytest.raises(ParseError, match="gzip body inflates to more than 20000000 bytes"):
        parse_document("feed", gzip.compress(big))
