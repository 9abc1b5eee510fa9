"""The fake Discord refuses message components the way Discord documents (so the bot's are checked)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakediscord.validation import FormError, validate_components


def _row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


def _button(custom_id: str, **kw: Any) -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": "x", "custom_id": custom_id, **kw}


def _link(**kw: Any) -> dict[str, Any]:
    return {"type": 2, "style": 5, "label": "Open", "url": "https://e.org/", **kw}


def test_valid_rows_pass() -> None:
    validate_components(
        [_row(_button("a"), {"type": 2, "style": 5, "label": "Open", "url": "https://e.org/"})]
    )


@pytest.mark.parametrize(
    ("components", "path"),
    [
        ([_row()], "components.0.components"),
        ([_row(*[_button(str(n)) for n in range(6)])], "components.0.components"),
        ([_row(_button("a")) for _ in range(6)], "components"),
        ([_row(_button("a"), _button("a"))], "components.0.components.1.custom_id"),
        ([_row(_button("x" * 101))], "components.0.components.0.custom_id"),
        ([_row(_button("a", label="L" * 81))], "components.0.components.0.label"),
        ([_row(_link(custom_id="a"))], "components.0.components.0.custom_id"),
        ([_row(_link(url="javascript:alert(1)"))], "components.0.components.0.url"),
        ([_row({"type": 2, "style": 2, "label": "no id"})], "components.0.components.0.custom_id"),
        ([_button("a")], "components.0.type"),
    ],
)
def test_invalid_components_are_refused(components: list[dict[str, Any]], path: str) -> None:
    with pytest.raises(FormError) as caught:
        validate_components(components)
    assert caught.value.path == path
