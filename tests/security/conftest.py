"""Fixtures for the hostile-input and fault tests: the fake Discord fixtures of the chat tests."""

from __future__ import annotations

from tests.chat.conftest import discord_at_fake, fake_discord

__all__ = ["discord_at_fake", "fake_discord"]
