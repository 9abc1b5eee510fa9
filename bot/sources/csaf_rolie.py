"""Read CSAF ROLIE feeds (CISA's machine-readable ICS and IT advisory indexes).

A ROLIE feed is `{"feed": {"title", "entry": [...]}}`; each entry has an advisory `id`
(ICSA-24-298-03, VA-24-254-02), a `title`, `published`, `updated` and `link[]` to the CSAF
document, its signature and its hash.

Rules, in order:

1. The body must be a JSON object with `feed.entry` as an array, else ParseError.
2. Identity is the advisory id alone. CISA re-dates an advisory when it revises it ("Update A",
   `updated` moves, the id and the document link stay): a revision is not a new advisory, and it
   could not alert anyway, because alerts are kept once per (target, link) and the link does not
   change. So revisions neither store a second item nor alert again.
3. Title: "ICSA-… — title" (the official identifier first, so every sink shows it).
4. Link: the `rel: self` link (the CSAF document), else `content.src`; signature and hash links
   are never used. CISA's IT feed spells some rels as `ref`, so those are read too.
5. Published: `published`, else `updated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.models import Entry, ParsedFeed
from bot.sources.jsondoc import dicts, http_link, load_json, shape_error, text_of
from bot.sources.parse import parse_date

_NOT_THE_DOCUMENT = (".asc", ".sha256", ".sha512")


def parse_rolie(
    body: bytes, *, content_type: str | None, url: str, options: Mapping[str, Any], max_bytes: int
) -> ParsedFeed:
    """Parse a CSAF ROLIE feed into one entry per advisory, identified by its id."""
    doc = load_json(body, max_bytes=max_bytes, what="a CSAF ROLIE feed")
    feed = doc.get("feed") if isinstance(doc, dict) else None
    if not isinstance(feed, dict) or not isinstance(feed.get("entry"), list):
        raise shape_error(doc, "a CSAF ROLIE feed")
    feed_title = text_of(feed.get("title")) or "CSAF advisories"
    entries = [e for raw in dicts(feed["entry"]) if (e := _entry(raw, feed_title)) is not None]
    return ParsedFeed(title=feed_title, format="csaf_rolie", entries=entries, parser="csaf_rolie")


def _document_link(raw: Mapping[str, Any]) -> str | None:
    links = dicts(raw.get("link"))
    for link in links:
        if str(link.get("rel") or link.get("ref") or "").strip() == "self" and (
            href := http_link(link.get("href"))
        ):
            return href
    content = raw.get("content")
    if isinstance(content, dict) and (src := http_link(content.get("src"))):
        return src
    for link in links:
        href = http_link(link.get("href"))
        if href and not href.lower().endswith(_NOT_THE_DOCUMENT):
            return href
    return None


def _entry(raw: Mapping[str, Any], feed_title: str) -> Entry | None:
    advisory = text_of(raw.get("id"))
    if not advisory:
        return None
    name = text_of(raw.get("title"))
    published = parse_date(text_of(raw.get("published"))) or parse_date(text_of(raw.get("updated")))
    updated = parse_date(text_of(raw.get("updated")))
    text = f"{feed_title}: advisory {advisory}"
    if published is not None:
        text += f", published {published:%Y-%m-%d}"
    if updated is not None and published is not None and updated.date() != published.date():
        text += f", last updated {updated:%Y-%m-%d}"
    return Entry(
        guid=advisory,
        link=_document_link(raw),
        title=f"{advisory} — {name}" if name else advisory,
        text=text + ".",
        published=published,
    )
