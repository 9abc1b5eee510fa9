"""Item identity and canonical links."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader; removing them makes syndicated copies of one
# article compare equal.
_TEXT_FRAGMENT = ":~:text="
_TRACKING_PREFIXES = ("utm_", "wt_", "mc_", "pk_", "at_", "hmb_", "ga_", "oly_", "__twitter")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mkt_tok", "cmpid", "ocid",
        "ncid", "sr_share", "ref_src", "ref_url", "rss", "feed", "cid", "s_cid", "icid",
        "share", "spm", "_hsenc", "_hsmi", "vero_id", "wt.mc_id", "xtor", "smid", "partner",
    }
)  # fmt: skip


@lru_cache(maxsize=65536)
def canonical_link(url: str | None) -> str | None:
    """Return the link without tracking parameters, fragment, default port or case noise.

    A text fragment (`#:~:text=…`) is kept: it names a passage, not a place to scroll to, and
    page-watch rows without links of their own are told apart by it (bot/sources/pagewatch.py).
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not (k.lower() in _TRACKING_NAMES or k.lower().startswith(_TRACKING_PREFIXES))
    ]
    path = parts.path or "/"
    fragment = ""
    if parts.fragment.startswith(_TEXT_FRAGMENT):
        # One spelling for one passage: a browser's copy may encode it otherwise.
        fragment = text_fragment(unquote(parts.fragment.removeprefix(_TEXT_FRAGMENT)))
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), fragment))


def text_fragment(text: str) -> str:
    """Return a text fragment directive for `text`: "-", "&" and "," are syntax there, so encoded."""
    return _TEXT_FRAGMENT + quote(" ".join(text.split()), safe="").replace("-", "%2D")


@lru_cache(maxsize=65536)
def link_key(url: str | None) -> str | None:
    """Return the key under which one link alerts once per target: canonical, scheme-less."""
    canon = canonical_link(url)
    if not canon or "://" not in canon:
        return canon
    rest = canon.split("://", 1)[1]
    rest = rest.removeprefix("www.")
    return rest.rstrip("/") if rest.count("/") > 1 or rest.endswith("/") else rest


class IdentityFields(Protocol):
    """What identity reads of an entry (an Entry, or a parser's item that converts on demand)."""

    @property
    def guid(self) -> str | None: ...
    @property
    def link(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def published(self) -> datetime | None: ...


def _title_published(entry: IdentityFields) -> str | None:
    if not entry.title and entry.published is None:
        return None
    stamp = entry.published.isoformat() if entry.published else ""
    return f"{entry.title}\x1f{stamp}"


def _content_hash(entry: IdentityFields) -> str:
    raw = "\x1f".join((entry.title, entry.text, entry.link or "", str(entry.published)))
    return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()


def assign_identities(entries: Sequence[IdentityFields]) -> list[str]:
    """Give each entry its identity: GUID, else link, else title + published.

    A field that is not unique within the document cannot identify an item, so an entry whose
    GUID repeats falls back to its link, and so on; as a last resort the content hash. Entries
    that are identical in every field share an identity (they are the same item).

    Each field is read only when some entry needs it: when every GUID is unique (most feeds), no
    link, title, date or text is read at all, so entries that convert on demand stay unconverted.
    """
    guids = [e.guid.strip() if e.guid else "" for e in entries]
    guid_counts = Counter(g for g in guids if g)
    result: list[str | None] = [f"guid:{g}" if g and guid_counts[g] == 1 else None for g in guids]
    if all(result):
        return [r for r in result if r]
    links = [canonical_link(e.link) if e.link else None for e in entries]
    link_counts = Counter(link for link in links if link)
    for index, link in enumerate(links):
        if result[index] is None and link and link_counts[link] == 1:
            result[index] = f"link:{link}"
    if all(result):
        return [r for r in result if r]
    tps = [_title_published(e) for e in entries]
    tp_counts = Counter(tps)
    for index, tp in enumerate(tps):
        if result[index] is not None:
            continue
        if tp is not None and tp_counts[tp] == 1:
            digest = hashlib.sha1(tp.encode("utf-8", "surrogatepass")).hexdigest()
            result[index] = f"tp:{digest}"
        else:
            result[index] = f"hash:{_content_hash(entries[index])}"
    return [r for r in result if r]
