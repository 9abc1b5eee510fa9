"""Discord's request limits, checked so that the bot's over-long or malformed posts fail here too."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tests.fakediscord.faults import Reply, error

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_FIELDS_MAX = 25
NONCE_MAX = 25
ALLOWED_PARSE = {"roles", "users", "everyone"}
# (key path inside one embed, limit); all of these also count towards the 6000 total.
EMBED_TEXT_LIMITS = (
    (("title",), 256),
    (("description",), 4096),
    (("footer", "text"), 2048),
    (("author", "name"), 256),
)
EMBED_URL_KEYS = (("url",), ("author", "url"), ("thumbnail", "url"), ("image", "url"), ("footer", "icon_url"))
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


class FormError(Exception):
    """A 400 Invalid Form Body (code 50035), with Discord's nested error layout."""

    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """Return the JSON error body Discord would send."""
        errors: dict[str, Any] = {"_errors": [{"code": self.code, "message": self.message}]}
        for part in reversed(self.path.split(".")):
            errors = {part: errors}
        return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def text_length(text: str) -> int:
    """Count like Discord's limits do, in UTF-16 code units (an emoji counts as two)."""
    return len(text.encode("utf-16-le")) // 2


def _max_length(path: str, value: Any, limit: int) -> int:
    if not isinstance(value, str):
        raise FormError(path, "BASE_TYPE_STRING", "Must be a string.")
    length = text_length(value)
    if length > limit:
        raise FormError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return length


def _dig(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return None
        obj = obj[key]
    return obj


def _check_url(path: str, url: Any) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https", "attachment")
        or not (parts.netloc or parts.path)
    ):
        raise FormError(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def validate_embed(index: int, embed: Any) -> int:
    """Check one embed and return the characters it counts towards the 6000 total."""
    base = f"embeds.{index}"
    if not isinstance(embed, dict):
        raise FormError(base, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    total = 0
    for keys, limit in EMBED_TEXT_LIMITS:
        value = _dig(embed, keys)
        if value is not None:
            total += _max_length(f"{base}.{'.'.join(keys)}", value, limit)
    for keys in EMBED_URL_KEYS:
        value = _dig(embed, keys)
        if value is not None:
            _check_url(f"{base}.{'.'.join(keys)}", value)
    color = embed.get("color")
    if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
        raise FormError(f"{base}.color", "NUMBER_TYPE_MAX", "int value should be <= 16777215 and >= 0.")
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        raise FormError(f"{base}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for n, item in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = item.get(key)
            if not value:
                raise FormError(f"{base}.fields.{n}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
            total += _max_length(f"{base}.fields.{n}.{key}", value, limit)
    return total


def validate_allowed_mentions(allowed: Any) -> None:
    """Reject allowed_mentions that Discord would reject."""
    if allowed is None:
        return
    parse = allowed.get("parse", [])
    if not set(parse) <= ALLOWED_PARSE:
        raise FormError(
            "allowed_mentions.parse", "ENUM_TYPE_COERCE", f"Value must be one of {ALLOWED_PARSE}."
        )
    for kind in ("users", "roles"):
        listed = allowed.get(kind) or []
        if listed and kind in parse:
            raise FormError(
                f"allowed_mentions.{kind}", "SET_TYPE_ALREADY_CONTAINS_VALUE", "Must be either parse or list."
            )
        if len(listed) > 100:
            raise FormError(
                f"allowed_mentions.{kind}", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."
            )


ACTION_ROW, BUTTON = 1, 2
LINK_STYLE, PREMIUM_STYLE = 5, 6
ROWS_MAX, ROW_ITEMS_MAX, CUSTOM_ID_MAX, LABEL_MAX, BUTTON_URL_MAX = 5, 5, 100, 80, 512


def validate_components(components: Any) -> None:
    """Check message components the way Discord does: rows of up to 5 buttons, unique custom ids."""
    if components is None:
        return
    if not isinstance(components, list) or len(components) > ROWS_MAX:
        raise FormError("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for r, row in enumerate(components):
        path = f"components.{r}"
        if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
            raise FormError(
                f"{path}.type", "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).'
            )
        items = row.get("components")
        if not isinstance(items, list) or not 1 <= len(items) <= ROW_ITEMS_MAX:
            raise FormError(
                f"{path}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
            )
        for n, item in enumerate(items):
            _validate_button(f"{path}.components.{n}", item, seen)


def _validate_button(path: str, item: Any, seen: set[str]) -> None:
    if not isinstance(item, dict) or item.get("type") != BUTTON:
        raise FormError(f"{path}.type", "UNION_TYPE_CHOICES", "The fake models buttons (type 2) only.")
    style = item.get("style")
    if style not in range(1, 7):
        raise FormError(f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")
    if item.get("label") is not None:
        _max_length(f"{path}.label", item["label"], LABEL_MAX)
    if style == LINK_STYLE:
        if item.get("custom_id") is not None:
            raise FormError(
                f"{path}.custom_id",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "A link button cannot have a custom id",
            )
        _max_length(f"{path}.url", item.get("url"), BUTTON_URL_MAX)
        _check_url(f"{path}.url", item.get("url"))
        return
    if style != PREMIUM_STYLE:
        custom_id = item.get("custom_id")
        if not custom_id:
            raise FormError(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
        _max_length(f"{path}.custom_id", custom_id, CUSTOM_ID_MAX)
        if custom_id in seen:
            raise FormError(
                f"{path}.custom_id",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(custom_id)
        if item.get("url") is not None:
            raise FormError(f"{path}.url", "BUTTON_URL_NOT_ALLOWED", "Only link buttons may have a url")


def validate_message(body: dict[str, Any], *, edit: bool = False) -> None:
    """Check a message create/edit body against Discord's limits; raise FormError or EmptyMessage."""
    content = body.get("content")
    if content is not None:
        _max_length("content", content, CONTENT_MAX)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        raise FormError("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if sum(validate_embed(n, e) for n, e in enumerate(embeds)) > EMBED_TOTAL_MAX:
        raise FormError("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    validate_allowed_mentions(body.get("allowed_mentions"))
    validate_components(body.get("components"))
    nonce = body.get("nonce")
    if isinstance(nonce, str):
        _max_length("nonce", nonce, NONCE_MAX)
    elif nonce is not None and not isinstance(nonce, int):
        raise FormError("nonce", "BASE_TYPE_STRING", "Must be a string or an integer.")
    has_payload = content or embeds or body.get("components") or body.get("attachments") or body.get("poll")
    if not edit and not has_payload and not body.get("sticker_ids"):
        raise EmptyMessage


class EmptyMessage(Exception):
    """Discord's 50006: a message with neither content, embeds, files nor components."""


def validate_choices(choices: Any) -> None:
    """Check an autocomplete result (callback type 8)."""
    if not isinstance(choices, list):
        raise FormError("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > 25:
        raise FormError("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for n, choice in enumerate(choices):
        _max_length(f"data.choices.{n}.name", choice.get("name"), 100)
        if isinstance(choice.get("value"), str):
            _max_length(f"data.choices.{n}.value", choice["value"], 100)


def validate_commands(commands: Any) -> None:
    """Check a bulk-overwrite body the way Discord rejects bad command definitions."""
    if not isinstance(commands, list) or len(commands) > 100:
        raise FormError("_root", "BASE_TYPE_MAX_LENGTH", "Must be a list of 100 or fewer commands.")
    seen: set[tuple[str, int]] = set()
    for n, command in enumerate(commands):
        key = (command.get("name", ""), command.get("type", 1))
        if key in seen:
            raise FormError(
                f"{n}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(key)
        _validate_command_node(str(n), command, chat_input=key[1] == 1)


def _validate_command_node(path: str, node: dict[str, Any], *, chat_input: bool) -> None:
    name = node.get("name", "")
    if not COMMAND_NAME.match(name) or (chat_input and name != name.lower()):
        raise FormError(
            f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}"
        )
    if chat_input:
        _max_length(f"{path}.description", node.get("description", ""), 100)
        if not node.get("description"):
            raise FormError(f"{path}.description", "BASE_TYPE_REQUIRED", "This field is required")
    options = node.get("options") or []
    if len(options) > 25:
        raise FormError(f"{path}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    optional_seen = False
    for n, option in enumerate(options):
        sub = f"{path}.options.{n}"
        if option.get("type") not in range(1, 12):
            raise FormError(f"{sub}.type", "BASE_TYPE_CHOICES", "Value must be one of 1..11.")
        if option.get("required"):
            if optional_seen:
                raise FormError(
                    sub,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        if len(option.get("choices") or []) > 25:
            raise FormError(f"{sub}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if option.get("choices") and option.get("autocomplete"):
            raise FormError(
                f"{sub}.autocomplete", "AUTOCOMPLETE_AND_CHOICES", "Autocomplete cannot be set with choices"
            )
        _validate_command_node(sub, option, chat_input=True)


def rejection(body: dict[str, Any], *, edit: bool = False) -> Reply | None:
    """Return Discord's 400 for a message body that breaks its rules, or None if it is fine."""
    try:
        validate_message(body, edit=edit)
    except FormError as exc:
        return Reply(400, exc.body())
    except EmptyMessage:
        return error(400, message="Cannot send an empty message", code=50006)
    return None
