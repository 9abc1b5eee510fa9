"""Which characters must never reach a person raw, and the terminal's sanitizer.

Text from sources (titles, summaries, error messages, names) is hostile. Two media show it:

- the terminal (every CLI command, console alerts and notices, the text log): `terminal` here;
- Discord (every message, reply, notice and edit): `bot.delivery.embed.escape`, which starts
  from `strip_unsafe` and then escapes markdown, masked links and mentions.

Unsafe characters are every C0 and C1 control (ESC starts terminal sequences: colours, OSC 52
clipboard writes, OSC 8 links; BEL ends them), line and paragraph separators, lone surrogates,
every format character (bidi overrides and isolates, zero-width characters, the soft hyphen,
invisible tag characters), and characters that draw nothing although they are letters or
symbols (Hangul fillers, the braille blank, variation selectors, the combining grapheme joiner).
`INVISIBLE` is the subset that folding drops before matching (bot/domain/text.py), so a name
split by one of them still matches.
"""

from __future__ import annotations

import json
import re
import unicodedata

# Format characters (Unicode category Cf, checked exhaustively in the tests, with room for the
# blocks later Unicode versions extend) and invisible letters, marks and symbols.
INVISIBLE_CLASS = (
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]")
# Controls (C0, DEL, C1), line/paragraph separators, lone surrogates, and the invisibles.
_UNSAFE_CLASS = f"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{INVISIBLE_CLASS}"
UNSAFE = re.compile(f"[{_UNSAFE_CLASS}]")
# The same but keeping newlines: a block of lines the program itself laid out.
_UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{INVISIBLE_CLASS}]")


def strip_unsafe(text: str) -> str:
    """Return `text` in NFC without controls, separators and invisible characters (whitespace kept)."""
    # Whitespace controls become spaces first, so "a\tb" stays two words.
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ").replace("\u2028", " ")
    return UNSAFE.sub("", unicodedata.normalize("NFC", text.replace("\u2029", " ")))


def terminal(text: object, limit: int | None = None) -> str:
    """Return one line that a terminal shows literally: unsafe characters gone, whitespace collapsed.

    `limit` cuts the line to that many characters, the last one an ellipsis.
    """
    line = " ".join(strip_unsafe("" if text is None else str(text)).split())
    if limit is not None and len(line) > limit:
        return line[: max(0, limit - 1)].rstrip() + "…"
    return line


def terminal_block(text: str) -> str:
    """Return lines laid out by the program with every unsafe character but the newline removed."""
    return _UNSAFE_IN_BLOCK.sub("", unicodedata.normalize("NFC", text.replace("\t", "    ")))


def _json_escape(match: re.Match[str]) -> str:
    encoded = match.group().encode("utf-16-be", "surrogatepass")
    units = [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]
    return "".join(f"\\u{unit:04x}" for unit in units)


def json_line(value: object) -> str:
    """Return `value` as one JSON line whose unsafe characters are \\u escapes (same data, inert)."""
    return UNSAFE.sub(_json_escape, json.dumps(value, ensure_ascii=False))
