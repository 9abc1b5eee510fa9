"""A fake Discord (REST + gateway) on 127.0.0.1 for end-to-end tests of the real discord.py client."""

from tests.fakediscord.faults import Fault
from tests.fakediscord.interactions import InteractionResult
from tests.fakediscord.options import OptionError
from tests.fakediscord.rest import Call
from tests.fakediscord.server import CommandUnavailable, FakeDiscord
from tests.fakediscord.world import Overwrite, Permission

__all__ = [
    "Call",
    "CommandUnavailable",
    "FakeDiscord",
    "Fault",
    "InteractionResult",
    "OptionError",
    "Overwrite",
    "Permission",
]
