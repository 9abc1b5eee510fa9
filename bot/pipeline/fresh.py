"""Keep what is new and make it whole: dedupe by identity, convert only the new entries, and
fetch the linked article or document body of new items when the source asks for it.

Rules, in order: identities come first (for a feed read by the fast path, only the fields identity
needs are converted); identities the source stored already, and repeats within the document,
are dropped; only the entries left are converted (text, dates, canonical links).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from bot.domain.identity import canonical_link, link_key
from bot.domain.models import Entry
from bot.domain.semantics import with_body
from bot.sources.entries import Preselected, identities_of
from bot.sources.fulltext import extract_article, fetch_article_page, fetch_body, max_bodies, max_per_poll
from bot.sources.http import Fetcher
from bot.sources.workers import Offload, WorkerStopped
from bot.storage import items
from bot.storage.db import AsyncDatabase
from bot.storage.items import NewItem
from bot.storage.sources import Source

log = logging.getLogger(__name__)


async def new_items(
    adb: AsyncDatabase, source_id: int, entries: Sequence[Entry], identities: list[str] | None = None
) -> list[NewItem]:
    """Return the entries not stored yet, unclassified (matching classifies what it needs)."""
    if identities is None:
        identities = identities_of(entries)
    known = await adb.call(items.known_identities, source_id, identities)
    return select_new(entries, identities, known)


def select_new(entries: Sequence[Entry], identities: list[str], known: set[str]) -> list[NewItem]:
    """Convert the entries whose identity is not known (the first of repeats) into new items.

    Raises NotSent when `entries` is a preselection that left out an entry `known` calls new.
    """
    fresh: list[NewItem] = []
    seen: set[str] = set()
    preselected = entries if isinstance(entries, Preselected) else None
    for index, identity in enumerate(identities):
        if identity in known or identity in seen:
            continue
        seen.add(identity)
        if preselected is not None:
            # Converted in the parse worker; raises NotSent when the hint was wrong.
            entry, canonical, key = preselected.sent(index)
        else:
            entry = entries[index]  # converted here, on first read (bot/sources/entries.py)
            canonical, key = canonical_link(entry.link), link_key(entry.link)
        fresh.append(
            NewItem(
                identity=identity,
                guid=entry.guid,
                link=entry.link,
                canonical_link=canonical,
                link_key=key,
                title=entry.title,
                text=entry.text,
                published=entry.published,
                classified=False,
                page_title=entry.page_title,
                heading=entry.heading,
                body_url=entry.body_url,
            )
        )
    return fresh


async def with_full_text(
    fetcher: Fetcher, offload: Offload, source: Source, new: list[NewItem]
) -> list[NewItem]:
    """Replace teasers by the linked pages' article text (the longer one wins).

    Raises WorkerStopped when the worker pool is shutting down.
    """
    chosen = [n for n, it in enumerate(new) if it.link and it.link.startswith(("http://", "https://"))]
    chosen = chosen[: max_per_poll(source.options)]
    pages = await asyncio.gather(
        *(fetch_article_page(fetcher, new[n].link or "", source.options) for n in chosen)
    )
    fetched = [(n, page) for n, page in zip(chosen, pages, strict=True) if page is not None]
    # All pages of a poll go to one worker in one round trip, each with its own deadline.
    extracted = await offload.run_many([(extract_article, (body, url), {}) for _, (body, url) in fetched])
    out = list(new)
    for (n, (_, url)), outcome in zip(fetched, extracted, strict=True):
        if isinstance(outcome, WorkerStopped):
            raise outcome
        if isinstance(outcome, BaseException):
            log.info("full text of %s not read: %s", url, outcome, extra={"source_id": source.id})
            continue
        if outcome and len(outcome) > len(out[n].text):
            out[n] = replace(out[n], text=outcome)  # classified, if needed, on the article text
    return out


async def with_bodies(fetcher: Fetcher, source: Source, new: list[NewItem]) -> list[NewItem]:
    """Append each new document's full text (its body_url) to its summary."""
    chosen = [n for n, it in enumerate(new) if it.body_url][: max_bodies(source.options)]
    # One at a time: the fetcher spaces requests to a host, and bodies can be large.
    out = list(new)
    for n in chosen:
        body = await fetch_body(fetcher, out[n].body_url or "", source.options)
        if body:
            out[n] = replace(out[n], text=with_body(out[n].text, body))  # classified, if needed, with it
    return out
