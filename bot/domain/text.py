"""Text normalisation shared by queries and items: one `fold` for both sides.

Folding is NFKC, then casefold, then accents dropped (NFKD, marks removed, NFC), then every
whitespace run becomes one space. Typographic apostrophes and hyphens become ASCII ones, so
"Kaspersky’s" and "TP‑Link" (non-breaking hyphen) read like their ASCII spellings. Invisible
characters (bot/domain/safetext.py `INVISIBLE`: soft hyphen, zero-width, bidi controls, Hangul
fillers, braille blank) fold to nothing, so a name split by one still matches.

Only the marks of the Combining Diacritical Marks blocks are dropped (Latin, Greek and Cyrillic
accents). Marks that are part of a script's spelling (Kana voicing, Thai vowels, Indic signs)
stay, or "バイ" would fold to "ハイ".

The folded text is built cluster by cluster (a character plus its combining marks), so a span in
the folded text can be mapped back to the original text (`FoldedText.original_span`): the matcher
reports terms as they appear in the item.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

from bot.domain.safetext import INVISIBLE

# Combining marks we treat as accents (dropped when folding).
_ACCENT_RANGES = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ACCENTS = re.compile(f"[{_ACCENT_RANGES}]")

# Characters that continue a cluster: accents, Kana voicing marks (also half-width), Hangul
# vowel and final jamo.
_CONTINUATION = f"{_ACCENT_RANGES}\u3099\u309a\uff9e\uff9f\u1160-\u11ff"

# Scripts written without spaces between words: a term in them matches as a substring, and
# their characters never count as word characters for the whole-word rule.
NOSPACE_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_NOSPACE = re.compile(f"[{NOSPACE_RANGES}]")

# A word character for the whole-word rule, as a regex class: \w minus no-space scripts.
WORD_CLASS = rf"[^\W{NOSPACE_RANGES}]"

# Runs whose fold is the identity (common Han, Kana, Hangul syllables; checked exhaustively in
# the tests): kept as one segment so Chinese or Japanese text does not cost a call per character.
_STABLE_RUN = "[\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff\uac00-\ud7a3]+"

# Whitespace that needs rewriting: any run that is not exactly one plain space.
_WS = re.compile(r"[^\S ]\s*| \s+")

# The definition of folding, segment by segment (used to map offsets back): whitespace runs
# become one space, stable runs stay, other non-ASCII clusters fold, ASCII is lowered.
_SEGMENT = re.compile(rf"(?P<ws>[^\S ]\s*| \s+)|(?P<stable>{_STABLE_RUN})|[^\x00-\x7f][{_CONTINUATION}]*")
# The same inside one run of non-ASCII characters (whitespace is already collapsed there).
_IN_RUN = re.compile(rf"(?P<stable>{_STABLE_RUN})|[^\x00-\x7f][{_CONTINUATION}]*")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")

_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"})

_CACHE_MAX = 50_000
_CLUSTER_CACHE: dict[str, str] = {}
_RUN_CACHE: dict[str, str] = {}


def _fold_cluster(cluster: str) -> str:
    """Fold one non-ASCII cluster (a character and its combining marks)."""
    folded = _CLUSTER_CACHE.get(cluster)
    if folded is None:
        folded = unicodedata.normalize("NFKC", cluster).casefold().translate(_TYPOGRAPHIC)
        folded = _ACCENTS.sub("", unicodedata.normalize("NFKD", folded))
        folded = unicodedata.normalize("NFC", folded)
        # Invisible characters (soft hyphen, zero-width and bidi controls, Hangul fillers, the
        # braille blank) fold to nothing: "Kas\u00adpersky" reads, and matches, as "kaspersky".
        folded = INVISIBLE.sub("", folded)
        # NFKC can turn a lone character into whitespace (U+00A8 is " " + a diaeresis).
        folded = _WS.sub(" ", folded)
        if len(_CLUSTER_CACHE) >= _CACHE_MAX:
            _CLUSTER_CACHE.clear()
        _CLUSTER_CACHE[cluster] = folded
    return folded


def _fold_segment(match: re.Match[str]) -> str:
    if match.lastgroup == "ws":
        return " "
    if match.lastgroup == "stable":
        return match.group()
    return _fold_cluster(match.group())


def _fold_run(match: re.Match[str]) -> str:
    run = match.group()
    folded = _RUN_CACHE.get(run)
    if folded is None:
        folded = _IN_RUN.sub(_fold_segment, run)
        if len(run) <= 8:  # short runs (quotes, dashes, accented letters) repeat a lot
            if len(_RUN_CACHE) >= _CACHE_MAX:
                _RUN_CACHE.clear()
            _RUN_CACHE[run] = folded
    return folded


def _has_odd_space(text: str) -> bool:
    # On every item's hot path (ASCII text): one `in` at memchr speed and one pass of
    # isprintable, which is False for every other ASCII whitespace (\t \n \r \x0b \x0c
    # \x1c-\x1f) and for other control characters (then the split below changes nothing).
    return "  " in text or not text.isprintable()


def _collapse_spaces(text: str) -> str:
    """Replace every whitespace run by one space (same result as _WS.sub, faster)."""
    if text.isascii() and not _has_odd_space(text):
        return text
    return _join_spaces(text)


def _join_spaces(text: str) -> str:
    """Replace every whitespace run by one space, by splitting."""
    joined = " ".join(text.split())
    if not joined:
        return " " if text else ""
    if text[0].isspace():
        joined = " " + joined
    if text[-1].isspace():
        joined += " "
    return joined


def fold(text: str) -> str:
    """Return the case-, width- and accent-insensitive form of `text`, whitespace collapsed."""
    if text.isascii():
        lowered = text.lower()
        return _join_spaces(lowered) if _has_odd_space(lowered) else lowered
    folded = _NON_ASCII_RUN.sub(_fold_run, _collapse_spaces(text))
    # bytes.lower() lowers ASCII only, and folded clusters never contain ASCII capitals.
    return folded.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def fold_by_segments(text: str) -> str:
    """Fold `text` segment by segment, as offset mapping does; equals `fold(text)` (tested)."""
    folded = _SEGMENT.sub(_fold_segment, text)
    return folded.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


_WORD_CACHE: dict[str, bool] = {chr(c): chr(c).isalnum() or chr(c) == "_" for c in range(128)}


def is_word_char(char: str) -> bool:
    """Tell whether `char` takes part in the whole-word rule (letters, digits, _; not Han/Kana/Thai)."""
    known = _WORD_CACHE.get(char)
    if known is None:
        known = (char.isalnum() or char == "_") and _NOSPACE.match(char) is None
        if len(_WORD_CACHE) < _CACHE_MAX:
            _WORD_CACHE[char] = known
    return known


# Every character that is not a word character, as runs: ASCII ones are rewritten by a byte
# table (C speed), the others (rare: typographic punctuation, no-space scripts) by this regex.
_ASCII_NON_WORD_TO_SPACE = bytes(
    c if c >= 0x80 or chr(c).isalnum() or c == ord("_") else ord(" ") for c in range(256)
)
_NON_ASCII_NON_WORD = re.compile(rf"(?:[^\x00-\x7f\w]|[{NOSPACE_RANGES}])+")


def _spaces(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def words_only(folded: str) -> str:
    """Return `folded` with every non-word character made a space, padded with one space each side.

    The length is kept (plus the two pads), so offsets map back by one. A literal term written
    " term " then occurs in it exactly where the term occurs in `folded` as a whole word.
    """
    if not folded.isascii():
        folded = _NON_ASCII_NON_WORD.sub(_spaces, folded)
    data = folded.encode("utf-8", "surrogatepass").translate(_ASCII_NON_WORD_TO_SPACE)
    return " " + data.decode("utf-8", "surrogatepass") + " "


def words_only_bytes(folded: str) -> tuple[bytes, bool]:
    """Return `words_only(folded)` as UTF-8 bytes, and whether it is ASCII (offsets are the same)."""
    if folded.isascii():  # the usual case: one table pass, no decoding back
        return b" " + folded.encode("ascii").translate(_ASCII_NON_WORD_TO_SPACE) + b" ", True
    return words_only(folded).encode("utf-8", "surrogatepass"), False


# A position token for NEAR: a run of word characters, or one character of a no-space script.
_TOKEN = re.compile(rf"[{NOSPACE_RANGES}]|{WORD_CLASS}+")


def word_tokens(folded: str) -> list[int]:
    """Return the start offset of each word token of a folded text, in order (NEAR distances)."""
    return [m.start() for m in _TOKEN.finditer(folded)]


class FoldedText:
    """A field's original text and its folded form, with spans mapped back on demand."""

    __slots__ = ("_identity", "_map", "folded", "original")

    def __init__(self, original: str) -> None:
        self.original = original
        self.folded = fold(original)
        # ASCII text of unchanged length had nothing rewritten: offsets are the same.
        self._identity = len(self.folded) == len(original) and original.isascii()
        self._map: tuple[list[int], list[int], list[int]] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the folded text to the span of the original text it came from."""
        if self._identity:
            return start, end
        if self._map is None:
            self._map = self._build_map()
        fstarts, ostarts, olens = self._map
        # The last segment starting at or before `start` is the one holding that character:
        # segments that folded to nothing come before the one that follows them.
        k = bisect_right(fstarts, start) - 1
        ostart = ostarts[k] + (start - fstarts[k]) if olens[k] < 0 else ostarts[k]
        k = bisect_right(fstarts, end - 1) - 1
        oend = ostarts[k] + (end - fstarts[k]) if olens[k] < 0 else ostarts[k] + olens[k]
        # Take along marks that folded to nothing right after the span ("cafe" + U+0301).
        k += 1
        while k < len(fstarts) - 1 and fstarts[k] == end and fstarts[k + 1] == end and olens[k] >= 0:
            oend = ostarts[k] + olens[k]
            k += 1
        return ostart, oend

    def _build_map(self) -> tuple[list[int], list[int], list[int]]:
        # Segments in folded order as parallel lists: folded start, original start, original
        # length. Length -1 marks an identity run (offsets map 1:1); any other segment was
        # rewritten and maps as a whole. A sentinel segment closes the list.
        fstarts: list[int] = []
        ostarts: list[int] = []
        olens: list[int] = []
        ascii_only = self.original.isascii()
        pattern = _WS if ascii_only else _SEGMENT
        fpos = 0
        opos = 0
        for match in pattern.finditer(self.original):
            if match.start() > opos:
                fstarts.append(fpos)
                ostarts.append(opos)
                olens.append(-1)
                fpos += match.start() - opos
            replaced = " " if ascii_only else _fold_segment(match)
            fstarts.append(fpos)
            ostarts.append(match.start())
            olens.append(-1 if match.lastgroup == "stable" else match.end() - match.start())
            fpos += len(replaced)
            opos = match.end()
        if opos < len(self.original):
            fstarts.append(fpos)
            ostarts.append(opos)
            olens.append(-1)
            fpos += len(self.original) - opos
        fstarts.append(fpos)
        ostarts.append(len(self.original))
        olens.append(-1)
        return fstarts, ostarts, olens
