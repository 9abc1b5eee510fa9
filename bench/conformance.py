"""Compare parse_feed with feedparser, entry by entry, over feedparser's own test documents.

feedparser's corpus is not part of this repository. Get it once, outside the repository:

    git clone --depth 1 https://github.com/kurtmckee/feedparser /tmp/feedparser
    python bench/conformance.py /tmp/feedparser/tests

Per entry it compares the title (as plain text), link, guid, published date (to the minute) and
whether there is any text. Documents whose comment carries `Header: Content-type: ...` are given
that content type, as feedparser's own tests do. Mismatches are sorted into:

- defect: regwatch loses or garbles something feedparser reads, and nothing explains it;
- by design: a rule of parse.py (plain text instead of HTML, no DTD entities, a guid that is not
  used as a link, entries with nothing to match dropped, HTML pages refused, ...);
- feedparser quirk: feedparser's value is wrong for an alerting bot (a date it rolls over, a title
  it builds from an image's alt text, ...).

The rules are in RULES below; docs/parsing.md lists them with an example each. The exit status is
1 when a defect remains, or a document has entry text in feedparser and none in regwatch, or a
title lost words.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedparser

from bot.domain.errors import ParseError
from bot.domain.models import Entry
from bot.sources.htmltext import TITLE_MAX_CHARS, html_to_text, plain_text
from bot.sources.parse import looks_like_html, parse_feed

FIELDS = ("title", "link", "guid", "published", "text")
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
_WORD = re.compile(r"\w+")


@dataclass
class Mismatch:
    """One field of one entry on which the two parsers disagree."""

    path: str
    index: int
    field: str
    theirs: object
    ours: object
    category: str = "defect"
    reason: str = ""


@dataclass
class Case:
    """What both parsers made of one document (for the rules)."""

    path: str
    raw: bytes
    fp: Any  # feedparser's result
    fp_entry: dict[str, Any] | None
    ours: Entry | None


def _content_type(raw: bytes) -> str | None:
    head = raw[:2000].decode("utf-8", "replace")
    for name, value in _HEADER.findall(head):
        if name.strip().lower() == "content-type":
            return value.strip()
    return None


def _fp_title(e: dict[str, Any]) -> str:
    detail = e.get("title_detail") or {}
    value = e.get("title") or ""
    if detail.get("type") == "text/plain":
        return plain_text(value, limit=TITLE_MAX_CHARS)
    return html_to_text(value, limit=TITLE_MAX_CHARS)


def _fp_text(e: dict[str, Any]) -> str:
    text = html_to_text(e.get("summary") or "")
    if not text:
        content = e.get("content") or [{}]
        text = html_to_text(content[0].get("value") or "")
    return text


def _fp_date(e: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = e.get(key)
        if st:
            try:
                return datetime(*st[:5], tzinfo=UTC)
            except (ValueError, TypeError):
                return None
    return None


def _minute(when: datetime | None) -> datetime | None:
    return when.replace(second=0, microsecond=0) if when else None


def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def _has_anything(e: dict[str, Any]) -> bool:
    return bool(e.get("id") or e.get("link") or _fp_title(e) or _fp_text(e))


# ---------------------------------------------------------------------------------------------
# Rules: (field, test, category, reason). The first that holds names the mismatch.

Rule = tuple[str, Callable[[Mismatch, Case], bool], str, str]

_BY_DESIGN = "by design"
_QUIRK = "feedparser quirk"


def _in(path_part: str) -> Callable[[Mismatch, Case], bool]:
    return lambda m, c: path_part in c.path


def _theirs_not_http(m: Mismatch, c: Case) -> bool:
    value = str(m.theirs or "")
    return bool(value) and not value.lower().startswith(("http://", "https://"))


def _ours_none(m: Mismatch, c: Case) -> bool:
    return m.ours in (None, "")


def _theirs_none(m: Mismatch, c: Case) -> bool:
    return m.theirs in (None, "")


def _fp_entity_from_dtd(m: Mismatch, c: Case) -> bool:
    return b"<!ENTITY" in c.raw


def _year_out_of_range(m: Mismatch, c: Case) -> bool:
    when = m.theirs
    return isinstance(when, datetime) and not 1990 <= when.year <= 2100


def _fp_guid_link(m: Mismatch, c: Case) -> bool:
    e = c.fp_entry or {}
    return bool(e.get("guidislink")) and m.ours is None


_TEST_HEADER = re.compile(r"<!--\s*Description:.*?-->", re.DOTALL)
_CODE = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.DOTALL | re.IGNORECASE)


def _lost_words_are_code(m: Mismatch, c: Case) -> bool:
    # The test's own header comment (Description/Expect) quotes expected values: not the document.
    raw = html.unescape(_TEST_HEADER.sub("", c.raw.decode("utf-8", "replace")))
    code = " ".join(match.group() for match in _CODE.finditer(raw))
    lost = _words(str(m.theirs or "")) - _words(str(m.ours or ""))
    return bool(code) and lost <= _words(code)


def _plain_title_looks_like_html(m: Mismatch, c: Case) -> bool:
    e = c.fp_entry or {}
    raw = str(e.get("title") or "")
    plain = (e.get("title_detail") or {}).get("type") == "text/plain"
    return plain and looks_like_html(raw) and _words(html_to_text(raw)) <= _words(str(m.ours or ""))


def _same_words(m: Mismatch, c: Case) -> bool:
    return _words(str(m.theirs or "")) == _words(str(m.ours or ""))


def _ours_has_more(m: Mismatch, c: Case) -> bool:
    return _words(str(m.theirs or "")) < _words(str(m.ours or ""))


RULES: list[Rule] = [
    (
        "*",
        _fp_entity_from_dtd,
        _BY_DESIGN,
        "entities a DTD declares are never expanded (XXE, billion laughs)",
    ),
    ("link", _theirs_not_http, _BY_DESIGN, "links other than http(s) are dropped"),
    ("link", _fp_guid_link, _BY_DESIGN, "a permalink guid that is not a valid http(s) URL is not a link"),
    ("published", _year_out_of_range, _BY_DESIGN, "dates outside 1990-2100 are treated as no date"),
    ("title", _same_words, _BY_DESIGN, "same words; spacing or punctuation of plain text differs"),
    ("title", _lost_words_are_code, _BY_DESIGN, "script, style and comments in HTML are code, not text"),
    (
        "title",
        _plain_title_looks_like_html,
        _BY_DESIGN,
        "text that looks like HTML (a closing tag or an entity, HTML names only) is read as HTML",
    ),
    ("document", _in("/cdf/"), _BY_DESIGN, "CDF (Microsoft, 1997) is not a feed format regwatch reads"),
    ("document", _in("cdf_"), _BY_DESIGN, "CDF (Microsoft, 1997) is not a feed format regwatch reads"),
    ("entry", _in("entry_link_no_href"), _QUIRK, "an Atom <link> with text instead of href is not Atom"),
    ("link", _in("link_rel_enclosure_no_href"), _QUIRK, "an enclosure without href wins over the alternate"),
    ("entry", _in("item_category_image"), _QUIRK, "the title of an <image> inside <category> as the item's"),
    ("guid", _in("isPermaLink_ValueError"), _QUIRK, "a guid that is not a valid URL is dropped, not kept"),
    ("title", _ours_has_more, _BY_DESIGN, "regwatch keeps words feedparser drops"),
]


def _classify(m: Mismatch, case: Case) -> None:
    for field_name, test, category, reason in RULES:
        if field_name in ("*", m.field) and test(m, case):
            m.category, m.reason = category, reason
            return


# ---------------------------------------------------------------------------------------------


def _pair(fp_entries: list[dict[str, Any]], ours: list[Entry]) -> list[tuple[dict[str, Any], Entry | None]]:
    """Pair feedparser's entries with ours; ours drops entries that carry nothing to match."""
    if len(fp_entries) == len(ours):
        return list(zip(fp_entries, ours, strict=True))
    kept = iter(ours)
    pairs: list[tuple[dict[str, Any], Entry | None]] = []
    pending = next(kept, None)
    for e in fp_entries:
        if pending is not None and _has_anything(e):
            pairs.append((e, pending))
            pending = next(kept, None)
        else:
            pairs.append((e, None))
    return pairs


def compare(path: Path, root: Path) -> tuple[list[Mismatch], dict[str, int]]:
    """Parse one document both ways; return its mismatches and per-document flags."""
    raw = path.read_bytes()
    rel = str(path.relative_to(root))
    content_type = _content_type(raw)
    headers = {"content-type": content_type} if content_type else {}
    fp = feedparser.parse(BytesIO(raw), response_headers=headers)
    fp_entries = list(fp.get("entries") or [])
    flags: dict[str, int] = Counter()
    try:
        ours = list(parse_feed(raw, content_type=content_type).entries)
        flags["parsed"] = 1
    except ParseError as exc:
        ours = []
        flags["refused"] = 1
        if any(_has_anything(e) for e in fp_entries):
            flags["refused_with_entries"] = 1
            refusal = Mismatch(rel, -1, "document", f"{len(fp_entries)} entries", str(exc))
            _classify(refusal, Case(rel, raw, fp, None, None))
            return [refusal], flags
        return [], flags
    out: list[Mismatch] = []
    fp_text = our_text = False
    for index, (e, mine) in enumerate(_pair(fp_entries, ours)):
        case = Case(rel, raw, fp, e, mine)
        theirs_text = _fp_text(e)
        fp_text = fp_text or bool(theirs_text)
        if mine is None:
            if _has_anything(e):
                m = Mismatch(rel, index, "entry", _fp_title(e) or e.get("id") or e.get("link"), None)
                _classify(m, case)
                out.append(m)
            continue
        our_text = our_text or bool(mine.text)
        values = {
            "title": (_fp_title(e), mine.title),
            "link": (e.get("link") or None, mine.link),
            "guid": ((e.get("id") or "").strip() or None, mine.guid),
            "published": (_minute(_fp_date(e)), _minute(mine.published)),
            "text": (bool(theirs_text), bool(mine.text)),
        }
        for name, (theirs, ours_value) in values.items():
            if theirs == ours_value:
                continue
            m = Mismatch(rel, index, name, theirs, ours_value)
            _classify(m, case)
            if name == "title" and m.category == "defect" and _words(str(theirs)) - _words(str(ours_value)):
                flags["title_word_loss"] += 1
            out.append(m)
    if fp_text and not our_text:
        flags["text_lost"] = 1
    return out, flags


def main() -> int:
    """Run the comparison over a feedparser tests/ folder and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="feedparser's tests/ folder")
    ap.add_argument("--worst", type=int, default=25, help="mismatches to list per category")
    args = ap.parse_args()
    root: Path = args.path
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    if not files:
        print(f"no .xml documents under {root}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    mismatches: list[Mismatch] = []
    totals: Counter[str] = Counter()
    lost_docs: list[str] = []
    word_loss_docs: list[str] = []
    crashes: list[str] = []
    for path in files:
        try:
            found, flags = compare(path, root)
        except Exception as exc:  # a crash is the worst mismatch of all: list it, go on
            crashes.append(f"{path.relative_to(root)}: {type(exc).__name__}: {exc}")
            continue
        mismatches.extend(found)
        totals.update(flags)
        if flags.get("text_lost"):
            lost_docs.append(str(path.relative_to(root)))
        if flags.get("title_word_loss"):
            word_loss_docs.append(str(path.relative_to(root)))
    elapsed = time.perf_counter() - started

    print(f"## Conformance: parse_feed vs feedparser {feedparser.__version__} ({len(files)} documents)\n")
    print(
        f"parsed {totals['parsed']}, refused {totals['refused']} (of which feedparser found entries in"
        f" {totals['refused_with_entries']}), crashed {len(crashes)}; {elapsed:.1f} s\n"
    )
    by_field: dict[str, Counter[str]] = defaultdict(Counter)
    for m in mismatches:
        by_field[m.field][m.category] += 1
    print("| field | defect | by design | feedparser quirk |")
    print("|---|---:|---:|---:|")
    for name in (*FIELDS, "entry", "document"):
        counts = by_field.get(name, Counter())
        print(f"| {name} | {counts['defect']} | {counts[_BY_DESIGN]} | {counts[_QUIRK]} |")
    print(f"\ndocuments where feedparser has entry text and regwatch has none: {len(lost_docs)}")
    for doc in lost_docs[: args.worst]:
        print(f"  - {doc}")
    print(f"documents with title word losses: {len(word_loss_docs)}")
    for doc in word_loss_docs[: args.worst]:
        print(f"  - {doc}")
    for doc in crashes:
        print(f"CRASH {doc}")
    for category in ("defect", _BY_DESIGN, _QUIRK):
        chosen = [m for m in mismatches if m.category == category]
        if not chosen:
            continue
        reasons = Counter(m.reason for m in chosen if m.reason)
        print(f"\n### {category}: {len(chosen)}")
        for reason, count in reasons.most_common():
            print(f"- {count} x {reason}")
        # Worst first: lost entries and text, then title, link, guid, dates.
        order = {"document": 0, "entry": 1, "text": 2, "title": 3, "link": 4, "guid": 5, "published": 6}
        for m in sorted(chosen, key=lambda m: (order.get(m.field, 9), m.path))[: args.worst]:
            print(f"  {m.field:9} {m.path}[{m.index}]: feedparser {m.theirs!r:.90} | regwatch {m.ours!r:.90}")
    bad = sum(1 for m in mismatches if m.category == "defect") + len(crashes)
    return 1 if bad or lost_docs or word_loss_docs else 0


if __name__ == "__main__":
    sys.exit(main())
