"""The html page-watch adapter.

No real capture of a watched page exists in the fixtures, so the pages here are SYNTHETIC: made
up in this file, shaped like a covered-list table and a directives index. They are not copies of
any government page.
"""

from __future__ import annotations

import io
import re

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.domain.errors import ParseError
from bot.sources.adapters import parse_document
from bot.sources.pagewatch import row_identity
from tests.helpers import local_settings, source_toml

PAGE_URL = "https://agency.example/supplychain/list"

# Synthetic.
ROWS = [
    ("Example Telecom Ltd.", "Telecommunications equipment", "2021-03-12", "/document/order-1"),
    ("Example Video Co.", "Video surveillance equipment", "2021-03-12", "/document/order-2"),
]


def table_page(rows=ROWS, *, extra_head: str = "") -> str:
    """Return a synthetic page with a table of rows (entity, what, date, link)."""
    body = "".join(
        f"<tr><td><a href='{href}'>{who}</a></td><td>{what}</td><td>{when}</td></tr>"
        for who, what, when, href in rows
    )
    return (
        f"<!DOCTYPE html><html><head><title>Synthetic list</title>{extra_head}</head><body>"
        "<nav><a href='/'>Home</a></nav>"
        f"<table id='list'><thead><tr><th>Entity</th><th>Covered</th><th>Date</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


def watch(page: str | bytes, url: str = PAGE_URL, content_type: str | None = "text/html", **options):
    body = page.encode() if isinstance(page, str) else page
    return parse_document("html", body, url=url, content_type=content_type, options=options)


def test_each_selected_row_is_an_entry_with_an_absolute_link():
    feed = watch(table_page(), selector="#list tbody tr")
    assert feed.title == "Synthetic list" and feed.format == "html"
    assert [e.title for e in feed.entries] == [
        "Example Telecom Ltd. Telecommunications equipment 2021-03-12",
        "Example Video Co. Video surveillance equipment 2021-03-12",
    ]
    assert [e.link for e in feed.entries] == [
        "https://agency.example/document/order-1",
        "https://agency.example/document/order-2",
    ]
    assert all(e.published is None and e.guid and e.guid.startswith("row:") for e in feed.entries)
    # The row's text, then its context: the page title (no heading on this page).
    assert feed.entries[0].text == feed.entries[0].title + " — Listed on: Synthetic list"
    assert feed.entries[0].page_title == "Synthetic list" and feed.entries[0].heading is None


def test_title_and_link_selectors_pick_inside_the_row():
    page = table_page().replace("<td>Telecommunications", "<td><a href='/faq'>FAQ</a> Telecommunications")
    feed = watch(page, selector="#list tbody tr", title_selector="td:first-child", link_selector="td + td a")
    assert feed.entries[0].title == "Example Telecom Ltd."
    assert feed.entries[0].link == "https://agency.example/faq"
    # Its row has no link in the second cell: it links to its place on the page.
    assert (
        feed.entries[1].link
        == PAGE_URL + "#:~:text=Example%20Video%20Co.%20Video%20surveillance%20equipment%202021%2D03%2D12"
    )


def test_rows_that_are_links_use_their_own_href_against_the_base():
    page = (
        "<html><head><base href='https://agency.example/news/'></head><body><ul>"
        "<li><a class='d' href='directives/ed-1'>Emergency Directive 1</a></li>"
        "<li><a class='d' href='javascript:void(0)'>Broken</a></li></ul></body></html>"
    )
    feed = watch(page, selector="a.d")
    assert [(e.title, e.link) for e in feed.entries] == [
        ("Emergency Directive 1", "https://agency.example/news/directives/ed-1"),
        ("Broken", "https://agency.example/supplychain/list#:~:text=Broken"),
    ]


def test_link_rows_to_one_target_are_one_item_titled_by_the_first():
    page = (
        "<html><body><div class='teaser'><a href='/directives/ed-2'>Emergency Directive 2</a>"
        "<p>Summary</p><a href='/directives/ed-2'>Read more</a></div>"
        "<a href='/directives/ed-3'>Emergency Directive 3</a></body></html>"
    )
    feed = watch(page, selector="a[href*='/directives/']")
    assert [(e.title, e.link) for e in feed.entries] == [
        ("Emergency Directive 2", "https://agency.example/directives/ed-2"),
        ("Emergency Directive 3", "https://agency.example/directives/ed-3"),
    ]


def test_a_changed_row_is_a_new_item_and_markup_is_not_a_change():
    before = {e.guid for e in watch(table_page(), selector="tbody tr").entries}
    restyled = table_page().replace("<td>", "<td class='x'>  ").replace("Video Co.", "VIDEO  Co.")
    assert {e.guid for e in watch(restyled, selector="tbody tr").entries} == before
    changed = [ROWS[0], (*ROWS[1][:2], "2024-07-23", ROWS[1][3])]
    after = {e.guid for e in watch(table_page(changed), selector="tbody tr").entries}
    assert len(after - before) == 1 and len(after & before) == 1


def test_rows_sharing_a_link_link_to_the_page_with_a_text_fragment():
    # Several entities added by one order link the same document; alerts are kept once per
    # (channel, link), so a shared link would let one row hide the other: each links to the
    # page with a text fragment of its own first words instead.
    shared = [(*row[:3], "/document/order-9") for row in ROWS] + [("Third Co.", "Services", "2022", "/o/3")]
    feed = watch(table_page(shared), selector="tbody tr")
    assert [e.link for e in feed.entries] == [
        PAGE_URL + "#:~:text=Example%20Telecom%20Ltd.%20Telecommunications%20equipment%202021%2D03%2D12",
        PAGE_URL + "#:~:text=Example%20Video%20Co.%20Video%20surveillance%20equipment%202021%2D03%2D12",
        "https://agency.example/o/3",
    ]
    assert len({e.guid for e in feed.entries}) == 3


def test_a_repeated_row_counts_once():
    feed = watch(table_page([*ROWS, ROWS[0]]), selector="tbody tr")
    assert len(feed.entries) == 2


def test_the_page_charset_is_honoured():
    page = table_page([("Société Générale Télécom", "Équipement", "2021", "/o/1")])
    latin = page.replace("<head>", "<head><meta charset='iso-8859-1'>").encode("iso-8859-1")
    assert (
        watch(latin, content_type="text/html", selector="tbody tr")
        .entries[0]
        .title.startswith("Société Générale Télécom")
    )
    cp1252 = watch(page.encode("cp1252"), content_type="text/html; charset=windows-1252", selector="tbody tr")
    assert cp1252.entries[0].title.startswith("Société Générale Télécom")


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"selector": "table.missing tr"}, "selector 'table.missing tr' matched nothing on the page"),
        ({}, "an html source needs options.selector"),
        ({"selector": "tr[["}, "invalid CSS selector 'tr[['"),
        ({"selector": "tr", "title_selector": ""}, "options.title_selector must be a CSS selector"),
    ],
)
def test_bad_selectors_are_errors_in_words(options, reason):
    with pytest.raises(ParseError, match=re.escape(reason)):
        watch(table_page(), **options)


def test_a_page_over_the_cap_is_refused():
    with pytest.raises(ParseError, match="larger than"):
        parse_document("html", table_page().encode(), options={"selector": "tr"}, max_decompressed_bytes=100)


def test_identity_ignores_case_width_and_spacing():
    assert row_identity("Ｋaspersky  Lab", None) == row_identity("kaspersky lab", None)
    assert row_identity("Kaspersky Lab", "https://a.example/1") != row_identity("Kaspersky Lab", None)


SUBS = """
[[subscription]]
name = "kaspersky"
query = 'vendor:Kaspersky'
"""


async def test_a_row_added_to_the_page_alerts_once(tmp_path, feed_server):
    """The real poller path: kind = html with a selector; the table gains a row → one new item."""
    url = feed_server.set("/list", table_page(), content_type="text/html; charset=utf-8")
    sources = source_toml("Synthetic list", url, "html", {"selector": "#list tbody tr"})
    settings = local_settings(tmp_path, sources, SUBS)
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        [first] = await services.scheduler.poll_all()
        assert first.status == "primed" and first.new_items == 2

        added = ("AO Kaspersky Lab", "Information security products", "2022-03-25", "/document/order-3")
        feed_server.set("/list", table_page([added, *ROWS]), content_type="text/html; charset=utf-8")
        [second] = await services.scheduler.poll_all()
        assert second.status == "new" and second.new_items == 1 and second.alerts == 1
        assert (await services.dispatcher.drain()).sent == 1
        assert "AO Kaspersky Lab Information security products 2022-03-25" in out.getvalue()

        # The selector stops matching (the page was redesigned): a failure, not "nothing new".
        feed_server.set("/list", "<html><body><div>New design</div></body></html>", content_type="text/html")
        [third] = await services.scheduler.poll_all()
        assert third.status == "failed" and "matched nothing on the page" in (third.error or "")


FCC_URL = "https://www.fcc.gov/supplychain/coveredlist"
FCC_PAGE = (
    __import__("pathlib").Path(__file__).parents[1]
    / "fixtures"
    / "pages"
    / "fcc_coveredlist_2024-09-03_trimmed.html"
).read_text(encoding="utf-8")


def test_rows_carry_the_page_title_and_the_nearest_heading_above_them():
    page = FCC_PAGE.replace("<table>", "<h3>Earlier</h3><table>", 1)
    feed = watch(page, url=FCC_URL, selector="table tbody tr")
    title = "List of Equipment and Services Covered By Section 2 of The Secure Networks Act"
    assert feed.title == title
    assert {(e.page_title, e.heading) for e in feed.entries} == {(title, "Earlier")}
    kaspersky = feed.entries[3]
    assert kaspersky.text.endswith(f"March 25, 2022 — Listed on: {title} › Earlier")


def test_footnotes_and_whitespace_do_not_change_a_row_words_do():
    before = {e.guid: e.link for e in watch(FCC_PAGE, url=FCC_URL, selector="tbody tr").entries}
    edited = (
        FCC_PAGE.replace("ZTE Corporation,", "ZTE\n   Corporation,<sup>2</sup>")
        .replace("AO Kaspersky Lab or", "AO Kaspersky Lab* or")
        .replace("March 12, 2021</td></tr>\n<tr><td>Video", "March 12, 2021 †</td></tr>\n<tr><td>Video")
    )
    after = {e.guid: e.link for e in watch(edited, url=FCC_URL, selector="tbody tr").entries}
    assert after == before
    reworded = FCC_PAGE.replace(
        "Telecommunications services provided by China Telecom", "Services of China Telecom"
    )
    changed = {e.guid for e in watch(reworded, url=FCC_URL, selector="tbody tr").entries}
    assert len(changed - set(before)) == 1


def test_rows_that_start_alike_get_longer_text_fragments():
    # Ten words alike: the 8-word fragments would collide, so both grow to 12 words.
    rows = [("Same words " * 5 + "one", "x", "1", ""), ("Same words " * 5 + "two", "x", "1", "")]
    page = table_page(rows).replace("<a href=''>", "<span>").replace("</a>", "</span>")
    links = [e.link for e in watch(page, selector="tbody tr").entries]
    assert len(set(links)) == 2
    assert links[0] is not None and links[0].endswith("words%20one%20x")
    assert links[1] is not None and links[1].endswith("words%20two%20x")
