"""Read CISA's Known Exploited Vulnerabilities catalog (the KEV JSON, or its GitHub mirror).

The catalog is one document holding every entry ever added, newest first. Each entry's identity is
its `cveID`, so the poller's "store only new identities" step is exactly the diff against the last
poll: a poll after CISA adds four CVEs yields those four and nothing else.

Rules, in order:

1. The body must be a JSON object with a `vulnerabilities` array; anything else (an HTML challenge
   page, another JSON document) is a ParseError naming what it is instead.
2. An entry without a `cveID` is skipped (it could not be told apart from the next one).
3. Title: "CVE-… — vendorProject product: vulnerabilityName", with the vendor left out when the
   product already starts with it, and the "vendor product" prefix that CISA repeats at the start
   of the name cut, so the line stays short in a chat message.
4. Text: shortDescription, then the required action and due date, then known ransomware use.
5. Published: `dateAdded` (a day; midnight UTC). Link: the CVE's NVD page, since KEV entries have
   no page of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.domain.models import Entry, ParsedFeed
from bot.sources.htmltext import TEXT_MAX_CHARS
from bot.sources.jsondoc import day_of, dicts, load_json, shape_error, text_of

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_NVD = "https://nvd.nist.gov/vuln/detail/{cve}"


def parse_kev(
    body: bytes, *, content_type: str | None, url: str, options: Mapping[str, Any], max_bytes: int
) -> ParsedFeed:
    """Parse a KEV catalog into one entry per CVE, identified by its cveID."""
    doc = load_json(body, max_bytes=max_bytes, what="a KEV catalog")
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise shape_error(doc, "a KEV catalog")
    entries = [e for raw in dicts(doc["vulnerabilities"]) if (e := _entry(raw)) is not None]
    version = text_of(doc.get("catalogVersion"))
    title = text_of(doc.get("title")) or "CISA Known Exploited Vulnerabilities"
    return ParsedFeed(
        title=f"{title} {version}".strip(), format="cisa_kev", entries=entries, parser="cisa_kev"
    )


def kev_title(cve: str, vendor: str, product: str, name: str) -> str:
    """Return "CVE — vendor product: name" without the repetitions KEV entries carry."""
    subject = product if product.casefold().startswith(vendor.casefold()) else f"{vendor} {product}"
    subject = subject.strip()
    rest = name
    for prefix in (f"{vendor} {product}", subject):
        if prefix and name.casefold().startswith(prefix.casefold() + " "):
            rest = name[len(prefix) :].strip()
            break
    if not subject:
        return f"{cve} — {name}" if name else cve
    return f"{cve} — {subject}: {rest}" if rest else f"{cve} — {subject}"


def _entry(raw: Mapping[str, Any]) -> Entry | None:
    cve = text_of(raw.get("cveID"))
    if not cve:
        return None
    title = kev_title(
        cve,
        text_of(raw.get("vendorProject")),
        text_of(raw.get("product")),
        text_of(raw.get("vulnerabilityName")),
    )
    parts = [text_of(raw.get("shortDescription"), limit=TEXT_MAX_CHARS)]
    if action := text_of(raw.get("requiredAction"), limit=TEXT_MAX_CHARS):
        parts.append(f"Required action: {action}")
    if due := text_of(raw.get("dueDate")):
        parts.append(f"Due date: {due}.")
    if text_of(raw.get("knownRansomwareCampaignUse")).casefold() == "known":
        parts.append("Known to be used in ransomware campaigns.")
    return Entry(
        guid=cve,
        link=_NVD.format(cve=cve) if _CVE.fullmatch(cve) else None,
        title=title,
        text=text_of(" ".join(p for p in parts if p), limit=TEXT_MAX_CHARS),
        published=day_of(raw.get("dateAdded")),
    )
