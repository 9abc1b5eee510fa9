"""The character classes behind both media's sanitizers (bot/domain/safetext.py) and folding."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from bot.domain.safetext import INVISIBLE, UNSAFE, json_line, strip_unsafe, terminal, terminal_block
from bot.domain.text import FoldedText, fold


def test_every_control_format_separator_and_surrogate_is_unsafe() -> None:
    # Exhaustive over this Python's Unicode tables: the static class must not lag them.
    missing = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp", "Cs") and not UNSAFE.match(chr(cp))
    ]
    assert missing == []


def test_every_format_character_folds_away() -> None:
    kept = [f"U+{cp:04X}" for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp)) == "Cf" and not INVISIBLE.match(chr(cp))]  # fmt: skip
    assert kept == []


INVISIBLES = list("\u00ad\u115f\u1160\u3164\uffa0\u2800\u034f\u200b\u200d\u2060\ufeff\U000e0041\ufe0f")


@pytest.mark.parametrize("char", INVISIBLES)
def test_an_invisible_character_inside_a_name_folds_to_nothing(char: str) -> None:
    text = f"Ban on Kas{char}per{char}sky Lab"
    assert fold(text) == "ban on kaspersky lab"
    folded = FoldedText(text)
    start = folded.folded.index("kaspersky")
    span = folded.original_span(start, start + len("kaspersky"))
    assert text[slice(*span)] == f"Kas{char}per{char}sky"


def test_terminal_makes_one_inert_line() -> None:
    hostile = "a\x1b]52;c;QUFB\x07b\x9bc\u202ed\u2066e\u00adf\nALERT g\r\nh\u2028i"
    assert terminal(hostile) == "a]52;c;QUFBbcdef ALERT g h i"
    assert terminal("x" * 10, 5) == "xxxx…"
    assert terminal(None) == ""
    assert strip_unsafe("a\tb") == "a b"


def test_terminal_block_keeps_the_programs_newlines_only() -> None:
    assert terminal_block("one\x1b[2J\ntwo\u202e\r\n") == "one[2J\ntwo\n"


def test_json_line_escapes_unsafe_characters_and_keeps_the_data() -> None:
    value = {"title": "a\x85b\u202ec\U000e0041d\ud800"}
    line = json_line(value)
    assert not UNSAFE.search(line)
    assert json.loads(line) == value
