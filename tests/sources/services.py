"""Build the real service parts for adapter tests: a sources file with kinds and options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.settings import Settings, load_settings


def source_toml(name: str, url: str, kind: str, options: dict[str, Any] | None = None) -> str:
    """Return one [[source]] table of a sources file (DESIGN 3.6)."""
    text = f"[[source]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}\nkind = {json.dumps(kind)}\n"
    if options:
        text += "[source.options]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    return text


def settings_with(tmp_path: Path, sources: str, subscriptions: str, **overrides: Any) -> Settings:
    """Write the sources and subscriptions files and return settings that use them."""
    (tmp_path / "sources.toml").write_text(sources)
    (tmp_path / "subs.toml").write_text(subscriptions)
    values: dict[str, Any] = {
        "database_path": tmp_path / "regwatch.db",
        "sources_file": tmp_path / "sources.toml",
        "subscriptions_file": tmp_path / "subs.toml",
        "allow_private_networks": True,
        "poll_interval_seconds": 5,
        "http_timeout_seconds": 5,
    }
    values.update(overrides)
    return load_settings(**values)
