"""The documentation covers the product: every command, slash command and setting is in docs/.

These read the real parser, the real slash-command groups and the real Settings model, so a new
command or setting without documentation fails here. The README stays a short front door.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from bot.chat.alerts_cmd import AlertsGroup
from bot.chat.help_cmd import help_command, watch_test_command
from bot.chat.settings_cmd import SettingsGroup, WebhookGroup
from bot.chat.source_cmd import SourceGroup
from bot.chat.triage_cmd import embed_style_command, triage_role_command
from bot.chat.watch_cmd import WatchGroup
from bot.cli import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))


def _word(word: str, line: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", line) is not None


def cli_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield every leaf command of the parser, e.g. ("subs", "add")."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path
        return
    for name, sub in groups[0].choices.items():
        yield from cli_commands(sub, (*path, name))


def test_every_cli_command_is_documented() -> None:
    commands = list(cli_commands(_parser()))
    assert ("run",) in commands and ("subs", "add") in commands  # the walk sees the real parser
    missing = [
        " ".join(path)
        for path in commands
        if not any(
            f"regwatch {path[0]}" in line and all(_word(w, line) for w in path[1:])
            for line in DOCS.splitlines()
        )
    ]
    assert not missing, f"commands not documented in docs/: {missing}"


def test_every_slash_command_is_documented() -> None:
    groups = (WatchGroup(None, None), SourceGroup(None), AlertsGroup(None), SettingsGroup(None))  # type: ignore[arg-type]
    names = [f"/{group.name} {command.name}" for group in groups for command in group.commands]
    # Commands added beside the groups (bot/chat/client.py setup_hook).
    names += ["/watch test", "/settings triage-role", "/settings embed", f"/{help_command().name}"]
    names += [f"/settings webhook {command.name}" for command in WebhookGroup(None).commands]  # type: ignore[arg-type]
    assert watch_test_command(None, None).name == "test"  # type: ignore[arg-type]
    assert triage_role_command(None).name == "triage-role"  # type: ignore[arg-type]
    assert embed_style_command(None).name == "embed"  # type: ignore[arg-type]
    assert "/watch vendor" in names
    missing = [name for name in names if name not in DOCS]
    assert not missing, f"slash commands not documented in docs/: {missing}"


def test_every_setting_is_documented_and_in_the_example_file() -> None:
    example = (ROOT / "settings.example.env").read_text(encoding="utf-8")
    names = [f"REGWATCH_{field.upper()}" for field in Settings.model_fields]
    assert "REGWATCH_DISCORD_TOKEN" in names
    assert not [n for n in names if n not in DOCS], "settings missing from docs/"
    assert not [n for n in names if n not in example], "settings missing from settings.example.env"


def test_the_readme_is_a_front_door_and_nothing_cites_notes_users_lack() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 8192
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), f"README links to a missing {link}"
    cited = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "README.md", *ROOT.glob("docs/**/*"), *ROOT.glob("bot/**/*")]
        if path.is_file()
        and path.suffix in (".md", ".py", ".toml")
        and re.search(r"DESIGN|\.\./shared|shared/|notes/", path.read_text(encoding="utf-8"))
    ]
    assert not cited, f"these cite documents a user's clone does not have: {cited}"
