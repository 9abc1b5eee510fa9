"""Fixtures for the hostile-input and fault tests: the chat tests' fake Discord and running app."""

from __future__ import annotations

from tests.chat.conftest import app, discord_at_fake, fake_discord

__all__ = ["app", "discord_at_fake", "fake_discord"]
