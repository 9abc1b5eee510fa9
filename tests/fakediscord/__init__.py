r"""A fake Discord (REST + gateway) on 127.0.0.1 for end-to-end tests of the real discord.py client.

async with FakeDiscord() as fake:                      # or the `fake_discord` fixture
    # point the bot at fake.api_base and fake.gateway_url, start it, then:
    await fake.wait_ready()
    reply = await fake.invoke("watch vendor", options={"name": "Kaspersky"}, user_id=fake.admin.user.id)
    choices = await fake.autocomplete("watch", "vendor", "name", "kas")
    fake.inject("POST", r"^/channels/\d+/messages$", 429, retry_after=0.01)
    [alert] = await fake.wait_for_messages(fake.channel.id)
    fake.webhooks.in_channel(fake.channel.id)          # channel webhooks the bot made (webhooks.py)
"""

from tests.fakediscord.faults import Fault
from tests.fakediscord.interactions import InteractionResult
from tests.fakediscord.invoker import CommandUnavailable, ComponentUnavailable
from tests.fakediscord.options import OptionError
from tests.fakediscord.rest import Call
from tests.fakediscord.server import FakeDiscord
from tests.fakediscord.world import Overwrite, Permission

__all__ = [
    "Call",
    "CommandUnavailable",
    "ComponentUnavailable",
    "FakeDiscord",
    "Fault",
    "InteractionResult",
    "OptionError",
    "Overwrite",
    "Permission",
]
