"""The alert picture in docs/discord.md shows what regwatch posts today (tools/render_alert.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_pictured_alert_is_the_payload_the_sink_posts_today() -> None:
    spec = importlib.util.spec_from_file_location("render_alert", ROOT / "tools" / "render_alert.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    message = tool.real_alert()  # the real fixture row through the adapter, matcher and build_message
    pictured = json.loads((ROOT / "docs" / "img" / "alert-with-buttons.json").read_text(encoding="utf-8"))
    assert message == pictured, "alerts changed: run tools/render_alert.py to redraw docs/img"
    labels = [b["label"] for b in message["components"][0]["components"]]
    assert labels == ["Acknowledge", "Why?", "Mute Kaspersky 7 days", "Open source"]
    assert "**AO Kaspersky Lab**" in message["embeds"][0]["description"]
    assert (ROOT / "docs" / "img" / "alert-with-buttons.png").stat().st_size > 10_000
