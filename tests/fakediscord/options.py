"""Turn a test's `options={...}` into the typed, nested options Discord's client would send."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tests.fakediscord import payloads
from tests.fakediscord.world import Channel, Guild, Member, Role, User, World

JSON = dict[str, Any]
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)


class OptionError(ValueError):
    """The options do not fit the synced schema; Discord's client would not send them."""


def find_leaf(command: JSON, path: list[str]) -> tuple[JSON, list[JSON]]:
    """Walk subcommand groups and subcommands; return the leaf and the nodes passed on the way."""
    node, chain = command, []
    for name in path:
        children = [o for o in node.get("options") or [] if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        child = next((o for o in children if o["name"] == name), None)
        if child is None:
            raise OptionError(
                f"/{node['name']} has no subcommand {name!r}; synced: {[o['name'] for o in children]}"
            )
        node = child
        chain.append(child)
    subcommands = [
        o["name"] for o in node.get("options") or [] if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
    ]
    if subcommands:
        raise OptionError(f"/{node['name']} needs a subcommand, one of {subcommands}")
    return node, chain


def nest(chain: list[JSON], options: list[JSON]) -> list[JSON]:
    """Wrap leaf options in their subcommand and group, as interaction data carries them."""
    for node in reversed(chain):
        options = [{"type": node["type"], "name": node["name"], "options": options}]
    return options


def _snowflake(value: Any) -> int:
    if isinstance(value, User | Role | Channel):
        return value.id
    if isinstance(value, Member):
        return value.user.id
    if isinstance(value, int | str) and str(value).isdigit():
        return int(value)
    raise OptionError(f"expected an id or a world object, got {value!r}")


class OptionBuilder:
    """Build one interaction's options and the `resolved` data that goes with them."""

    def __init__(self, world: World, guild: Guild, channel: Channel, invoker_id: int) -> None:
        self.world = world
        self.guild = guild
        self.channel = channel
        self.invoker_id = invoker_id
        self.resolved: dict[str, dict[str, JSON]] = {}

    def build(self, leaf: JSON, values: Mapping[str, Any], *, focused: str | None = None) -> list[JSON]:
        """Return the leaf's options in schema order; autocomplete marks one as focused and skips checks."""
        schema = {o["name"]: o for o in leaf.get("options") or []}
        unknown = set(values) - set(schema)
        if unknown:
            raise OptionError(f"/{leaf['name']} has no option(s) {sorted(unknown)}; synced: {list(schema)}")
        if focused is not None and not schema.get(focused, {}).get("autocomplete"):
            raise OptionError(f"option {focused!r} of /{leaf['name']} was not synced with autocomplete")
        built = []
        for name, option in schema.items():
            if name == focused:
                built.append(
                    {"name": name, "type": option["type"], "value": str(values[name]), "focused": True}
                )
            elif name in values:
                value = self._convert(option, values[name], resolve=focused is None)
                built.append({"name": name, "type": option["type"], "value": value})
            elif option.get("required") and focused is None:
                raise OptionError(f"/{leaf['name']} needs option {name!r}")
        return built

    def _convert(self, option: JSON, value: Any, *, resolve: bool) -> Any:
        kind, name = option["type"], option["name"]
        if kind == STRING:
            converted: Any = self._check_string(option, value)
        elif kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(f"option {name!r} takes an integer, got {value!r}")
            converted = self._check_range(option, value)
        elif kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise OptionError(f"option {name!r} takes a number, got {value!r}")
            converted = self._check_range(option, value)
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise OptionError(f"option {name!r} takes a boolean, got {value!r}")
            converted = value
        elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
            converted = str(self._resolve(option, _snowflake(value), keep=resolve))
        else:
            raise OptionError(f"option {name!r} has type {kind}, which the fake does not support")
        choices = option.get("choices")
        if choices and converted not in [c["value"] for c in choices]:
            raise OptionError(
                f"option {name!r} must be one of {[c['value'] for c in choices]}, got {converted!r}"
            )
        return converted

    def _check_string(self, option: JSON, value: Any) -> str:
        if not isinstance(value, str):
            raise OptionError(f"option {option['name']!r} takes a string, got {value!r}")
        if not option.get("min_length", 0) <= len(value) <= option.get("max_length", 6000):
            raise OptionError(f"option {option['name']!r}: length {len(value)} is outside the synced bounds")
        return value

    def _check_range(self, option: JSON, value: float) -> float:
        low, high = option.get("min_value"), option.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(f"option {option['name']!r}: {value} is outside [{low}, {high}]")
        return value

    def _resolve(self, option: JSON, snowflake: int, *, keep: bool) -> int:
        kind, guild = option["type"], self.guild
        member = guild.members.get(snowflake)
        if kind in (USER, MENTIONABLE) and (member is not None or snowflake in self.world.users):
            if keep:
                self._add("users", snowflake, payloads.user(self.world.users[snowflake]))
                if member is not None:
                    perms = self.world.permissions(guild, snowflake, self.channel)
                    self._add(
                        "members", snowflake, payloads.member(member, permissions=perms, with_user=False)
                    )
            return snowflake
        if kind in (ROLE, MENTIONABLE) and snowflake in guild.roles:
            if keep:
                self._add("roles", snowflake, payloads.role(guild.roles[snowflake]))
            return snowflake
        if kind == CHANNEL and snowflake in guild.channels:
            channel = guild.channels[snowflake]
            allowed = option.get("channel_types")
            if allowed and channel.type not in allowed:
                raise OptionError(
                    f"option {option['name']!r} takes channel types {allowed}, not {channel.type}"
                )
            if keep:
                perms = self.world.permissions(guild, self.invoker_id, channel)
                self._add("channels", snowflake, {**payloads.channel(channel), "permissions": str(perms)})
            return snowflake
        raise OptionError(f"option {option['name']!r}: no such target {snowflake} in guild {guild.id}")

    def _add(self, kind: str, snowflake: int, payload: JSON) -> None:
        self.resolved.setdefault(kind, {})[str(snowflake)] = payload
