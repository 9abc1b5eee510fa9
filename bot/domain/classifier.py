"""A first, lexicon-based action classifier: which kind of regulatory action an item reports.

Rules are checked from the most specific to the most general; the first cue found decides.
It reads the title first, then the text, so a headline's action wins over a passing mention.
This is deliberately small and explainable; it powers `action:` queries and the alert's action line.
"""

from __future__ import annotations

import re

# (action, cue patterns). Cues are matched on casefolded text, at word starts.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entity_list", ("entity list", "entity-list", "liste des entités", "entity listing")),
    ("covered_list", ("covered list",)),
    (
        "directive",
        (
            "binding operational directive",
            "emergency directive",
            "bod \\d",
            "ed \\d\\d-\\d",
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

_COMPILED = tuple((action, re.compile(r"(?<!\w)(?:" + "|".join(cues) + ")")) for action, cues in _RULES)

ACTION_TYPES = tuple(action for action, _ in _RULES)


def classify(title: str, text: str) -> str | None:
    """Return the action type an item reports, or None when it reports no regulatory action."""
    for field in (title, text[:3000]):
        folded = f" {field.casefold()} "
        for action, pattern in _COMPILED:
            if pattern.search(folded):
                return action
    return None
