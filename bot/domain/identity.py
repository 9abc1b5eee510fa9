"""Item identity and canonical links (DESIGN section 4)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bot.domain.models import Entry

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


def _title_published(entry: Entry) -> str | None:
    if not entry.title and entry.published is None:
        return None
    stamp = entry.published.isoformat() if entry.published else ""
    return f"{entry.title}\x1f{stamp}"


def _content_hash(entry: Entry) -> str:
    raw = "\x1f".join((entry.title, entry.text, entry.link or "", str(entry.published)))
    return hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()


def assign_identities(entries: Sequence[Entry]) -> list[str]:
    """Give each entry its identity: GUID, else link, else title + published.

    A field that is not unique within the document cannot identify an item, so an entry whose
    GUID repeats falls back to its link, and so on; as a last resort the content hash. Entries
    that are identical in every field share an identity (they are the same item).
    """
    guids = Counter(e.guid.strip() for e in entries if e.guid and e.guid.strip())
    links = Counter(canonical_link(e.link) for e in entries if e.link)
    tps = Counter(_title_published(e) for e in entries)
    result = []
    for entry in entries:
        guid = entry.guid.strip() if entry.guid else ""
        link = canonical_link(entry.link) if entry.link else None
        tp = _title_published(entry)
        if guid and guids[guid] == 1:
            result.append(f"guid:{guid}")
        elif link and links[link] == 1:
            result.append(f"link:{link}")
        elif tp is not None and tps[tp] == 1:
            digest = hashlib.sha1(tp.encode("utf-8", "surrogatepass")).hexdigest()
            result.append(f"tp:{digest}")
        else:
            result.append(f"hash:{_content_hash(entry)}")
    return result
