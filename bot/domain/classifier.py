"""The action classifier: which regulatory action an item reports, who issued it, against whom.

Rules, in order (docs/classifier.md explains them with examples):
1. One Aho-Corasick pass over the title and the lead of the text (its first 600 characters)
   finds every cue of bot/domain/classifier_lexicon.py and every catalog vendor name.
2. Issuer: the longest named body found (title first), else a country that starts the title or
   the lead. Its jurisdiction comes with it.
3. Action: each cue adds its weight, twice in the title. STRONG cues always count; WEAK cues
   and the cues of investigations and warnings need an issuer; other NORMAL cues need an issuer
   or a regulatory word ("government", "ministry") in the title or near the cue. A title with an
   advisory identifier (CVE-..., ICSA-...) is a vulnerability notice: only a STRONG cue in the
   title makes it an action. The highest score wins; ties go to the more specific action.
4. Veto: a title that starts with a catalog vendor followed by a reporter verb ("Kaspersky
   uncovers", "Huawei says", "Kaspersky sues") reports no action.
5. Targets: the catalog vendors named in the title or lead of an item with an action, except a
   vendor named as the reporter ("Kaspersky researchers", "according to Kaspersky").
6. Severity follows from type, issuer and target (see `_severity`).

Every decision leaves a reason string, so `/alerts why` can show it. Deterministic, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import ahocorasick

from bot.domain.classifier_lexicon import (
    ACTION_CUES,
    BODIES,
    BOILERPLATE,
    CONTEXT,
    COUNTRIES,
    GOVERNMENT_NAMES,
    MASKS,
    NORMAL,
    NOTICE_WORDS,
    NUMBERED_DIRECTION_PREFIXES,
    NUMBERED_DIRECTION_TAIL,
    NUMBERED_DIRECTIVE_PREFIXES,
    NUMBERED_DIRECTIVE_TAIL,
    REPORTER,
    STRONG,
    WEAK,
)
from bot.domain.models import SourceContext
from bot.domain.text import NOSPACE_RANGES, is_word_char
from bot.domain.vendors import VendorCatalog

ACTION_TYPES = tuple(action for action, _ in ACTION_CUES)
SEVERITIES = ("high", "medium", "low")

_LEAD_CHARS = 600
_CONTEXT_CHARS = 300
_TITLE = 0
_LEAD = 1
_SOURCE = 2  # the source's page title and nearest heading (SourceContext)
_FIELD_NAMES = ("title", "text", "source context")
_SPECIFICITY = {action: rank for rank, action in enumerate(ACTION_TYPES)}
_BASE_SEVERITY = {
    "ban": 3,
    "directive": 3,
    "sanction": 3,
    "entity_list": 3,
    "covered_list": 3,
    "fine": 2,
    "investigation": 2,
    "guidance": 1,
}
_NUMBER_TAILS = (re.compile(NUMBERED_DIRECTIVE_TAIL), re.compile(NUMBERED_DIRECTION_TAIL))
_NOSPACE = re.compile(f"[{NOSPACE_RANGES}]")
_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"})
# Case endings a name takes in Polish, Lithuanian, Ukrainian and Russian text ("TikToka",
# "Huawei'u" is written without the apostrophe too); a name followed by one still matches.
_CASE_ENDINGS = frozenset(
    {
        "a",
        "u",
        "em",
        "iem",
        "owi",
        "ie",
        "y",
        "ą",
        "o",
        "e",
        "as",
        "ui",
        "ai",
        "ом",
        "у",
        "а",
        "е",
        "і",
        "ї",
        # Korean particles attach to the name: "딥시크의", "딥시크가", "딥시크를".
        "의",
        "가",
        "는",
        "은",
        "를",
        "을",
        "에",
        "와",
        "과",
        "도",
        "로",
        "에서",
        "에게",
    }
)
# A money amount: a title naming one next to a fine or "sanction" cue reports a fine
# ("TikTok hit with €530m fine", "sanction de 150 millions d'euros").
_MONEY = re.compile(
    r"[$€£¥]\s?\d|\d(?:[\d.,]*\d)?\s?(?:m|bn|k|mln|mld|million|millions|billion|billions|milliards?"
    r"|млн|млрд|тыс|тис|zł|euros?|eur|usd|рублей|гривень)(?!\w)|\d(?:\.\d+)?[亿万]元"
)
# What may stand before a country that opens a title: "The Netherlands", "Les États-Unis".
_ARTICLES = frozenset({"", "the", "les", "la", "le", "l'", "die", "der"})
# Words after a place name that make it the issuer: "Texas Gov. Abbott", "Dutch government".
_GOVERNMENT_WORDS = (
    "government",
    "authorities",
    "governor",
    "gov.",
    "gov ",
    "attorney general",
    "legislature",
)
# Words after a place name that make it part of an organisation's name.
_ORGANISATION_WORDS = (
    "instruments",
    "tech ",
    "university",
    "state university",
    "bank",
    "inc",
    "corp",
    "airlines",
    "post",
    "times",
    "tribune",
)
# Generic list words ("blacklist") take the list of the issuer that keeps it.
_GENERIC_LISTS = frozenset({"blacklist", "blacklisted", "trade blacklist", "黑名单"})
_ISSUER_LISTS = {"OFAC": "sanction", "US Department of Defense": "sanction", "BIS": "entity_list"}
# Investigations and warnings are everywhere in general news (police, scientists, companies):
# they count only with a named issuer (or a STRONG cue such as "formal proceedings").
_NEED_ISSUER = frozenset({"investigation", "guidance"})
_CONTEXT_REACH = 120
# Identifiers of vulnerability advisories and catalog entries.
_NOTICE = re.compile(r"\b(?:cve-\d{4}-\d{3,}|icsm?a-\d\d-\d{3}-\d\d|va-\d\d-\d{3}-\d\d)", re.IGNORECASE)
# Kinds of automaton payloads.
_ACTION, _BODY, _COUNTRY, _CONTEXT, _REPORTER, _VENDOR, _NUMBER, _MASK, _BOILER = range(9)
# Where a sentence ends, for boilerplate paragraphs.
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
# A country's national government, for a source that declares only its jurisdiction.
_NATIONAL = {jurisdiction: issuer for issuer, jurisdiction, _ in COUNTRIES if issuer.endswith(" government")}
# How far (characters) a reporter word may follow a vendor's name and still make it the reporter.
_REPORTER_REACH = 40


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier found in one item; `action` None means no regulatory action."""

    action: str | None = None
    issuer: str | None = None
    jurisdiction: str | None = None
    targets: tuple[str, ...] = ()
    severity: str | None = None
    reasons: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Return the one-line action summary shown in an alert, e.g. "ban · FCC (US) · against ZTE"."""
        if self.action is None:
            return ""
        parts = [self.action.replace("_", " ")]
        if self.issuer:
            parts.append(f"{self.issuer} ({self.jurisdiction})" if self.jurisdiction else self.issuer)
        if self.targets:
            parts.append("against " + ", ".join(self.targets))
        return " · ".join(parts)


class _Hit(NamedTuple):
    kind: int
    field: int
    start: int
    end: int
    cue: str
    data: tuple[str, ...]
    weight: int = 0


def _is_nospace(char: str) -> bool:
    return bool(_NOSPACE.match(char))


class _Rules:
    """The compiled lexicon (and a catalog's vendor names) as one automaton."""

    def __init__(self, vendors: VendorCatalog | None) -> None:
        entries: dict[str, list[tuple[int, tuple[str, ...], int]]] = {}

        def add(cue: str, kind: int, data: tuple[str, ...], weight: int = 0) -> None:
            # Short cues ("us", "ed", "ban") occur inside many words ("focus", "bank"); anchored
            # on the space before them, the automaton reports far fewer candidates to check.
            # Vendor names stay unanchored: "ZTE" follows Kana in "ファーウェイとZTE製".
            if len(cue.rstrip("=")) <= 3 and not _is_nospace(cue[0]) and kind != _VENDOR:
                cue = " " + cue
            entries.setdefault(cue, []).append((kind, data, weight))

        for action, weighted in ACTION_CUES:
            for cue, weight in weighted:
                add(cue, _ACTION, (action,), weight)
        for kind, table in ((_BODY, BODIES), (_COUNTRY, COUNTRIES)):
            for issuer, jurisdiction, names in table:
                for name in names:
                    add(name, kind, (issuer, jurisdiction))
        for cue in CONTEXT:
            add(cue, _CONTEXT, ())
        for cue in MASKS:
            add(cue, _MASK, ())
        for tail, prefixes in enumerate((NUMBERED_DIRECTIVE_PREFIXES, NUMBERED_DIRECTION_PREFIXES)):
            for prefix in prefixes:
                for digit in "0123456789":
                    add(f" {prefix} {digit}", _NUMBER, ("directive", str(tail)), STRONG)
                    add(f" {prefix}{digit}", _NUMBER, ("directive", str(tail)), STRONG)
        for cue in BOILERPLATE:
            add(cue, _BOILER, ())
        for cue in REPORTER:
            add(cue + "=" if not _is_nospace(cue[0]) else cue, _REPORTER, ())
        # Instrument phrases, folded, and the label of the instrument each cites.
        self.labels: dict[str, str] = {}
        if vendors is not None:
            for vendor in vendors:
                for name in vendor.all_names:
                    folded = _fold(name).strip()
                    label = vendors.instrument_label(name)
                    if label is not None:
                        self.labels[folded] = label
                    if folded:
                        add(folded + "=" if not _is_nospace(folded[-1]) else folded, _VENDOR, (vendor.name,))
                    # Declined Cyrillic names: "Касперского" also finds Ukrainian "Касперського".
                    if " " not in folded and len(folded) >= 8 and "\u0400" <= folded[0] <= "\u04ff":
                        add(folded[:-3], _VENDOR, (vendor.name,))
        self.automaton = ahocorasick.Automaton()
        merged: dict[str, list[tuple[int, tuple[str, ...], int, bool]]] = {}
        for cue, roles in entries.items():
            whole = cue.endswith("=")
            literal = cue[:-1] if whole else cue
            # Several roles may share one literal ("sues" starts a lawsuit and reports a reaction).
            merged.setdefault(literal, []).extend((kind, data, weight, whole) for kind, data, weight in roles)
        for literal, payloads in merged.items():
            self.automaton.add_word(literal, (len(literal), tuple(payloads)))
        self.automaton.make_automaton()

    def hits(self, text: str, field_index: int) -> list[_Hit]:
        """Return every cue found in folded `text` where words start (and end, for whole cues)."""
        found: list[_Hit] = []
        if not text:
            return found
        for end, (length, payloads) in self.automaton.iter(text):
            start = end - length + 1
            if text[start] == " ":
                start += 1  # an anchored short cue
            elif start > 0 and is_word_char(text[start]) and is_word_char(text[start - 1]):
                continue
            after = end + 1
            stops = not is_word_char(text[end]) or after >= len(text) or not is_word_char(text[after])
            literal = text[start:after]
            for kind, data, weight, whole in payloads:
                if whole and not stops and (kind != _VENDOR or not _inflected(text, after)):
                    continue
                if kind == _NUMBER:
                    numbered = _NUMBER_TAILS[int(data[1])].match(text, after)
                    if numbered is None:
                        continue
                    # A directive number in the title names it; in the text it may only be cited
                    # ("follow applicable BOD 22-01 guidance"), so there it needs an issuer.
                    strength = weight if field_index == _TITLE else NORMAL
                    found.append(
                        _Hit(_ACTION, field_index, start, numbered.end(), literal, data[:1], strength)
                    )
                    continue
                found.append(_Hit(kind, field_index, start, after, literal, data, weight))
        return found


def _inflected(text: str, after: int) -> bool:
    """Tell whether a name is followed by a case ending ("TikToka", "Huaweiu"), not a longer word."""
    tail = after
    while tail < len(text) and is_word_char(text[tail]):
        tail += 1
    return text[after:tail] in _CASE_ENDINGS


@lru_cache(maxsize=8)
def _rules(vendors: VendorCatalog | None) -> _Rules:
    return _Rules(vendors)


def _fold(text: str) -> str:
    folded = text.casefold()
    # translate() looks up every character: skip it for ASCII text, which has nothing to map.
    return folded if folded.isascii() else folded.translate(_TYPOGRAPHIC)


def _pick_issuer(hits: list[_Hit], fields: tuple[str, str, str]) -> _Hit | None:
    """Return the hit naming the issuer: a named body, else a country in subject position."""
    bodies = [h for h in hits if h.kind == _BODY]
    if bodies:
        # Title before lead, then the longest name ("美国商务部" over "商务部"), then the first.
        return min(bodies, key=lambda h: (h.field, -(h.end - h.start), h.start))
    for hit in sorted((h for h in hits if h.kind == _COUNTRY), key=lambda h: (h.field, h.start)):
        text = fields[hit.field]
        before = text[: hit.start]
        opens = before.strip(" 【[(\"'«“") in _ARTICLES or text[max(0, hit.start - 2) : hit.start] in (
            ": ",
            ". ",
        )
        after = text[hit.end : hit.end + 20].lstrip(" '’s")
        if after.startswith(_ORGANISATION_WORDS):
            continue  # "Texas Instruments", "Virginia Tech": a company or school, not the state
        followed = after.startswith(_GOVERNMENT_WORDS)
        if (
            opens
            or followed
            or hit.cue in GOVERNMENT_NAMES
            or before.endswith(("government of ", "gobierno de "))
        ):
            return hit
    return None


def _reporter_vendors(hits: list[_Hit], fields: tuple[str, str, str]) -> set[str]:
    """Return the vendors named as the reporter of the item rather than its subject."""
    reporters = [h for h in hits if h.kind == _REPORTER]
    named: set[str] = set()
    for vendor in (h for h in hits if h.kind == _VENDOR):
        text = fields[vendor.field]
        for word in reporters:
            if word.field == vendor.field and 0 <= word.start - vendor.end <= _REPORTER_REACH:
                between = text[vendor.end : word.start]
                if "," not in between and ";" not in between:
                    named.add(vendor.data[0])
        if text[max(0, vendor.start - 13) : vendor.start].endswith("according to "):
            named.add(vendor.data[0])
    return named


def _allowed(hit: _Hit, issuer: object, contexts: list[_Hit]) -> bool:
    """Tell whether an action cue counts: STRONG always, others need an issuer or nearby context."""
    if hit.weight >= STRONG or issuer is not None:
        return True
    if hit.weight <= WEAK or hit.data[0] in _NEED_ISSUER:
        return False
    # A regulatory word in the title, or near the cue: "the ministry banned ...", not a
    # "department" three sentences away in a crime report.
    return any(
        c.field == _TITLE or (c.field == hit.field and abs(c.start - hit.start) <= _CONTEXT_REACH)
        for c in contexts
    )


def _severity(action: str, issuer: str | None, targets: tuple[str, ...]) -> str:
    score = _BASE_SEVERITY[action] + (1 if targets else 0) - (0 if issuer else 1)
    if score >= 4:
        return "high"
    return "medium" if score >= 2 else "low"


def _quote(hit: _Hit, fields: tuple[str, str, str]) -> str:
    """Quote a cue as the whole word it starts ("prohibits", not the stem "prohibit")."""
    text = fields[hit.field]
    end = hit.end
    if is_word_char(text[end - 1]):
        while end < len(text) and is_word_char(text[end]):
            end += 1
    return f'"{text[hit.start : end]}" in {_FIELD_NAMES[hit.field]}'


def classify_item(
    title: str,
    text: str,
    vendors: VendorCatalog | None = None,
    context: SourceContext | None = None,
) -> Classification:
    """Classify one item: its action type, issuer, jurisdiction, targets, severity and reasons.

    `context` is what the item's source declares (docs/classifier.md, "Source context"): its page
    title and nearest heading are read as a third field; a declared `action` is the item's action
    unless the item's own text names one with a STRONG cue; a declared issuer (or the national
    government of a declared jurisdiction) stands when the text names none.
    """
    extra = " ".join(p for p in (context.title, context.heading) if p) if context is not None else ""
    fields = (
        f" {_fold(title)} ",
        f" {_fold(text[:_LEAD_CHARS])} ",
        f" {_fold(extra[:_CONTEXT_CHARS])} " if extra else "",
    )
    rules = _rules(vendors)
    hits = rules.hits(fields[_TITLE], _TITLE) + rules.hits(fields[_LEAD], _LEAD)
    if extra:
        hits += rules.hits(fields[_SOURCE], _SOURCE)
    declared = context.action if context is not None and context.action in _SPECIFICITY else None
    if declared is None and not any(hit.kind == _ACTION for hit in hits):
        return _NO_ACTION  # most items: no cue, nothing more to decide
    reasons: list[str] = []

    issuer_hit = _pick_issuer(hits, fields)
    declared_issuer = _declared_issuer(context)
    contexts = [h for h in hits if h.kind == _CONTEXT]
    masks = [h for h in hits if h.kind in (_MASK, _BOILER)]
    if masks:
        masks = _masks(masks, fields)
    # Advisory identifiers (CVE-..., ICSA-...) or flaw words in the title: a vulnerability notice,
    # not an action, unless the title itself names one with a STRONG cue.
    notice = _notice(fields[_TITLE])

    scores: dict[str, int] = {}
    best_cue: dict[str, _Hit] = {}
    ignored: list[_Hit] = []
    boiler: list[_Hit] = []
    for hit in hits:
        if hit.kind != _ACTION or any(m.field == hit.field and m.start <= hit.start < m.end for m in masks):
            if hit.kind == _ACTION:
                boiler.append(hit)
            continue
        if notice and not (hit.weight >= STRONG and hit.field == _TITLE):
            ignored.append(hit)
            continue
        if not _allowed(hit, issuer_hit or declared_issuer, contexts):
            ignored.append(hit)
            continue
        action = hit.data[0]
        gain = hit.weight * (2 if hit.field == _TITLE else 1)
        scores[action] = scores.get(action, 0) + gain
        if action not in best_cue or gain > best_cue[action].weight * (
            2 if best_cue[action].field == _TITLE else 1
        ):
            best_cue[action] = hit
    money_cues = not notice and any(h.kind == _ACTION and h.data[0] in ("fine", "sanction") for h in hits)
    money = _MONEY.search(fields[_TITLE]) if money_cues else None
    if money:
        scores["fine"] = scores.get("fine", 0) + STRONG * 2
        best_cue["fine"] = _Hit(_ACTION, _TITLE, money.start(), money.end(), money.group(), ("fine",), STRONG)
    if issuer_hit is not None and "entity_list" in scores and best_cue["entity_list"].cue in _GENERIC_LISTS:
        # "Blacklisted" by the issuer of another list: OFAC's and the Pentagon's lists are sanctions.
        listed = _ISSUER_LISTS.get(issuer_hit.data[0])
        if listed is not None and listed != "entity_list":
            scores[listed] = scores.get(listed, 0) + scores.pop("entity_list")
            best_cue[listed] = best_cue.pop("entity_list")

    own = max(scores, key=lambda a: (scores[a], -_SPECIFICITY[a])) if scores else None
    # A source that declares its items' action (the FCC Covered List page) decides it, unless the
    # item's own text names an action with a STRONG cue ("Final Determination: Case No. ICTS-...").
    from_source = declared is not None and (own is None or best_cue[own].weight < STRONG)
    if own is None and not from_source:
        if notice:
            why = (
                "a question in the title" if notice == "a question" else f"a vulnerability notice ({notice})"
            )
        else:
            why = "no issuer or regulatory context"
        for hit in ignored[:2]:
            reasons.append(f"{hit.data[0]} cue {_quote(hit, fields)} ignored: {why}")
        for hit in boiler[:1]:
            reasons.append(f"{hit.data[0]} cue {_quote(hit, fields)} ignored: a boilerplate paragraph")
        return Classification(reasons=tuple(reasons))

    reporters = _reporter_vendors(hits, fields)
    title_vendors = [h for h in hits if h.kind == _VENDOR and h.field == _TITLE]
    if title_vendors and not from_source:
        lead_vendor = min(title_vendors, key=lambda h: h.start)
        if lead_vendor.start <= 3 and lead_vendor.data[0] in reporters:
            assert own is not None
            reasons.append(
                f"no action: the title's subject {lead_vendor.data[0]} reports or reacts "
                f"({own} cue {_quote(best_cue[own], fields)} left aside)"
            )
            return Classification(reasons=tuple(reasons))

    if from_source:
        assert context is not None and declared is not None
        action = declared
        reasons.append(f"action={action}: action from the source ({_source_name(context)})")
        if own is not None and own != action:
            reasons.append(f"also {own} (score {scores[own]}): {_quote(best_cue[own], fields)}")
    else:
        assert own is not None
        action = own
        reasons.append(f"action={action}: {_quote(best_cue[action], fields)} (score {scores[action]})")
        for other in sorted(scores, key=lambda a: -scores[a]):
            if other != action:
                reasons.append(f"also {other} (score {scores[other]}): {_quote(best_cue[other], fields)}")
                break

    issuer = jurisdiction = None
    if issuer_hit is not None:
        issuer, jurisdiction = issuer_hit.data
        reasons.append(f"issuer={issuer} ({jurisdiction}): {_quote(issuer_hit, fields)}")
    elif declared_issuer is not None:
        issuer, jurisdiction = declared_issuer
        where = f" ({jurisdiction})" if jurisdiction else ""
        reasons.append(f"issuer={issuer}{where}: declared by the source")
    elif context is not None and context.jurisdiction:
        jurisdiction = context.jurisdiction
        reasons.append(f"jurisdiction={jurisdiction}: declared by the source")

    targets: list[str] = []
    # Vendors named only in the source's page title or heading are its subject, not the item's.
    for hit in sorted(
        (h for h in hits if h.kind == _VENDOR and h.field != _SOURCE), key=lambda h: (h.field, h.start)
    ):
        name = hit.data[0]
        if name in targets:
            continue
        if name in reporters:
            reasons.append(f"{name} not a target: named as the reporter ({_quote(hit, fields)})")
            continue
        targets.append(name)
        label = rules.labels.get(hit.cue)
        via = f" via {label}" if label else ""
        reasons.append(f"target={name}{via}: {_quote(hit, fields)}")

    severity = _severity(action, issuer, tuple(targets))
    reasons.append(
        f"severity={severity}: {action}{', issuer known' if issuer else ', no issuer'}"
        f"{', vendor targeted' if targets else ''}"
    )
    return Classification(action, issuer, jurisdiction, tuple(targets), severity, tuple(reasons))


def _declared_issuer(context: SourceContext | None) -> tuple[str, str | None] | None:
    """Return the issuer a source declares, else its jurisdiction's national government, else None."""
    if context is None:
        return None
    if context.issuer:
        return context.issuer, context.jurisdiction or None
    if context.jurisdiction and context.jurisdiction in _NATIONAL:
        return _NATIONAL[context.jurisdiction], context.jurisdiction
    return None


def _source_name(context: SourceContext) -> str:
    """Name a source in a reason: its issuer and page title ("FCC: List of Equipment ...")."""
    name = ": ".join(p for p in (context.issuer, context.title) if p) or "its declared action"
    return name if len(name) <= 80 else name[:79] + "…"


def _notice(title: str) -> str | None:
    """Return what makes a folded title a vulnerability notice (a CVE id, a flaw word), or None."""
    found = _NOTICE.search(title)
    if found:
        return found.group()
    if title.rstrip().endswith("?"):
        return "a question"  # "What is Section 889 of the FY 2019 NDAA?" explains, announces nothing
    return next((word.strip() for word in NOTICE_WORDS if word in title), None)


def _masks(found: list[_Hit], fields: tuple[str, str, str]) -> list[_Hit]:
    """Return the spans that mask cues: mask phrases, and the sentences of the text (not the
    title) that hold a boilerplate marker."""
    masks = []
    for hit in found:
        if hit.kind == _MASK:
            masks.append(hit)
            continue
        if hit.field == _TITLE:
            continue
        text = fields[hit.field]
        start = 0
        for end in _SENTENCE_END.finditer(text, 0, hit.start):
            start = end.end()
        stop = _SENTENCE_END.search(text, hit.end)
        masks.append(hit._replace(kind=_MASK, start=start, end=stop.end() if stop else len(text)))
    return masks


_NO_ACTION = Classification()


def classify(title: str, text: str) -> str | None:
    """Return the action type an item reports (None for none), with the built-in vendor catalog."""
    return classify_item(title, text, VendorCatalog.load_default()).action
