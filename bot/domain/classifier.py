"""A first, lexicon-based action classifier: which kind of regulatory action an item reports.

Rules are checked from the most specific to the most general; the first cue found decides.
It reads the title first, then the text, so a headline's action wins over a passing mention.
This is deliberately small and explainable; it powers `action:` queries and the alert's action line.
"""

from __future__ import annotations

import re

import ahocorasick

# (action, cues), most specific first. Cues are casefolded literals matched at word starts.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entity_list", ("entity list", "entity-list", "liste des entités", "entity listing")),
    ("covered_list", ("covered list",)),
    (
        "directive",
        (
            "binding operational directive",
            "emergency directive",
            "dhs directive",
            "pspf direction",
            "protective security policy framework direction",
        ),
    ),
    (
        "sanction",
        (
            "sanction",
            "ofac",
            "specially designated national",
            "sdn list",
            "asset freeze",
            "санкци",
            "sankcij",
        ),
    ),
    (
        "ban",
        (
            "ban ",
            "bans ",
            "banned",
            "banning",
            "prohibit",
            "prohibition",
            "removal of",
            "remove all",
            "must remove",
            "verbot",
            "verbietet",
            "interdi",
            "запрет",
            "заборон",
            "draudim",
            "zakaz",
            "禁止",
            "禁令",
        ),
    ),
    ("fine", ("fined", "fines ", "civil penalty", "monetary penalty", "bußgeld", "штраф", " amende")),
    (
        "investigation",
        ("investigation", "investigating", "probe into", "inquiry", "ermittlung", "расследован"),
    ),
    (
        "guidance",
        ("guidance", "advisory", "warning", "warnt", "warnung", "recommend", "avertissement", "предупрежд"),
    ),
)

ACTION_TYPES = tuple(action for action, _ in _RULES)

# Directive numbers ("BOD 22-01", "ED 24-02") need digits; everything else is a literal cue.
_NUMBERED = re.compile(r"(?<!\w)(?:bod|ed) \d\d-\d")
_DIRECTIVE_RANK = next(i for i, (action, _) in enumerate(_RULES) if action == "directive")


def _automaton() -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for rank, (_, cues) in enumerate(_RULES):
        for cue in cues:
            if "\\" in cue:
                continue
            previous = automaton.get(cue, None)
            if previous is None or rank < previous[0]:
                automaton.add_word(cue, (rank, len(cue)))
    automaton.make_automaton()
    return automaton


# One Aho-Corasick pass finds every cue; a cue counts only where a word starts.
_CUES = _automaton()


def _best_rank(text: str) -> int | None:
    folded = f" {text.casefold()} "
    best: int | None = None
    for end, (rank, length) in _CUES.iter(folded):
        start = end - length + 1
        if (best is None or rank < best) and not folded[start - 1].isalnum():
            best = rank
    if (best is None or best > _DIRECTIVE_RANK) and _NUMBERED.search(folded):
        best = _DIRECTIVE_RANK
    return best


def classify(title: str, text: str) -> str | None:
    """Return the action type an item reports, or None when it reports no regulatory action."""
    # The lead of the text says what the item reports; cues deep in a long text are mostly noise.
    for field in (title, text[:800]):
        rank = _best_rank(field)
        if rank is not None:
            return _RULES[rank][0]
    return None
