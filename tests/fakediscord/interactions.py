"""Interactions the fake sent, and the bot's answers: callbacks, followups and edits of the original."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakediscord import payloads
from tests.fakediscord.faults import Reply, error
from tests.fakediscord.messages import MessageStore
from tests.fakediscord.validation import FormError, rejection, validate_choices
from tests.fakediscord.world import World

JSON = dict[str, Any]
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
EPHEMERAL, LOADING = 64, 128
CALLBACKS_FOR = {
    APPLICATION_COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MESSAGE_COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}


@dataclass
class InteractionResult:
    """The bot's visible answer to one interaction, as the invoking member would see it."""

    interaction_id: int
    callback_type: int | None
    message: JSON | None = None
    followups: list[JSON] = field(default_factory=list)
    choices: list[JSON] | None = None

    @property
    def content(self) -> str:
        """Return the original response's text."""
        return (self.message or {}).get("content") or ""

    @property
    def embeds(self) -> list[JSON]:
        """Return the original response's embeds."""
        return (self.message or {}).get("embeds") or []

    @property
    def flags(self) -> int:
        """Return the original response's message flags."""
        return (self.message or {}).get("flags") or 0

    @property
    def ephemeral(self) -> bool:
        """Tell whether only the invoking member sees the response."""
        return bool(self.flags & EPHEMERAL)


@dataclass
class InteractionRecord:
    """One interaction and everything the bot answered to it, in order."""

    id: int
    token: str
    type: int
    name: str
    guild_id: int
    channel_id: int
    user_id: int
    created: float
    payload: JSON
    callback_type: int | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    choices: list[JSON] | None = None
    responses: list[JSON] = field(default_factory=list)
    message_id: int | None = None  # a component interaction: the message its component is on


class InteractionStore:
    """Answer the bot's interaction callbacks and webhook calls the way Discord does."""

    def __init__(
        self,
        world: World,
        messages: MessageStore,
        on_message: Callable[[JSON], None],
        on_edit: Callable[[JSON], None] = lambda message: None,
    ) -> None:
        self.world = world
        self.messages = messages
        self.on_message = on_message
        self.on_edit = on_edit
        self.clock: Callable[[], float] = time.monotonic
        # Discord drops an interaction not answered within 3 s. The fake's clock is the machine's,
        # so its default is a failure deadline generous enough for a loaded CI machine; a test of
        # late answers sets `deadline` itself (e.g. -1: every answer is too late).
        self.deadline = 30.0
        self.records: dict[int, InteractionRecord] = {}

    def add(self, record: InteractionRecord) -> None:
        """Remember an interaction that is about to be dispatched."""
        self.records[record.id] = record

    def is_complete(self, record: InteractionRecord) -> bool:
        """Tell whether the bot has given its final visible answer (a deferral is not one)."""
        if record.callback_type is None:
            return False
        if record.callback_type == DEFERRED_MESSAGE and record.original_id in self.messages.by_id:
            return not self.messages.by_id[record.original_id]["flags"] & LOADING
        return True

    def result(self, record: InteractionRecord) -> InteractionResult:
        """Snapshot the bot's answer."""
        by_id = self.messages.by_id
        return InteractionResult(
            record.id,
            record.callback_type,
            dict(by_id[record.original_id]) if record.original_id in by_id else None,
            [dict(by_id[m]) for m in record.followup_ids if m in by_id],
            record.choices,
        )

    def callback(self, interaction_id: int, token: str, body: JSON) -> Reply:
        """Handle POST /interactions/{id}/{token}/callback."""
        record = self.records.get(interaction_id)
        if record is None or record.token != token or self.clock() - record.created > self.deadline:
            return error(404, message="Unknown interaction", code=10062)
        if record.callback_type is not None:
            return error(400, message="Interaction has already been acknowledged.", code=40060)
        kind, data = body.get("type"), body.get("data") or {}
        if kind not in CALLBACKS_FOR[record.type]:
            return Reply(400, FormError("type", "BASE_TYPE_CHOICES", f"Invalid callback type {kind}").body())
        if kind == AUTOCOMPLETE_RESULT:
            try:
                validate_choices(data.get("choices"))
            except FormError as exc:
                return Reply(400, exc.body())
            record.choices = data["choices"]
        elif (
            kind in (MESSAGE, UPDATE_MESSAGE)
            and (problem := rejection(data, edit=kind == UPDATE_MESSAGE)) is not None
        ):
            return problem
        record.callback_type = kind
        record.responses.append({"kind": "callback", "body": body})
        reply: JSON = {"interaction": {"id": str(record.id), "type": record.type}}
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            flags = (data.get("flags") or 0) & EPHEMERAL
            if kind == DEFERRED_MESSAGE:
                data = {"content": "", "flags": flags | LOADING}
            message = self._create(record, data, original=True)
            reply["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=kind == DEFERRED_MESSAGE,
                response_message_ephemeral=bool(flags),
            )
            reply["resource"] = {"type": kind, "message": message}
        elif kind in (UPDATE_MESSAGE, DEFERRED_UPDATE) and record.message_id in self.messages.by_id:
            # The component's message is the response: a later @original edit changes it too.
            record.original_id = record.message_id
            if kind == UPDATE_MESSAGE:
                message = self._edit(self.messages.by_id[record.message_id], data)
                self.on_edit(message)
                reply["resource"] = {"type": kind, "message": message}
        return Reply(200, reply)

    def execute(self, application_id: int, token: str, body: JSON, *, wait: bool) -> Reply:
        """Handle POST /webhooks/{app}/{token}: a followup, or the answer to a deferral."""
        record = self._by_token(application_id, token)
        if record is None or record.callback_type is None:
            return error(404, message="Unknown Webhook", code=10015)
        problem = rejection(body)
        if problem is not None:
            return problem
        record.responses.append({"kind": "followup", "body": body})
        original = self.messages.by_id.get(record.original_id or 0)
        if original is not None and original["flags"] & LOADING:
            # Discord turns the first followup after a deferral into the deferred message itself.
            message = self._edit(original, body)
        else:
            message = self._create(record, body, original=False)
            record.followup_ids.append(int(message["id"]))
        return Reply(200, message) if wait else Reply(204)

    def get_message(self, application_id: int, token: str, message_id: str) -> Reply:
        """Handle GET /webhooks/{app}/{token}/messages/{id or @original}."""
        _, message = self._message(application_id, token, message_id)
        return Reply(200, message) if message is not None else _unknown_message()

    def edit_message(self, application_id: int, token: str, message_id: str, body: JSON) -> Reply:
        """Handle PATCH /webhooks/{app}/{token}/messages/{id or @original}."""
        record, message = self._message(application_id, token, message_id)
        if record is None or message is None:
            return _unknown_message()
        problem = rejection(body, edit=True)
        if problem is not None:
            return problem
        record.responses.append({"kind": "edit", "message_id": message["id"], "body": body})
        return Reply(200, self._edit(message, body))

    def delete_message(self, application_id: int, token: str, message_id: str) -> Reply:
        """Handle DELETE /webhooks/{app}/{token}/messages/{id or @original}."""
        _, message = self._message(application_id, token, message_id)
        if message is None:
            return _unknown_message()
        self.messages.delete(int(message["id"]))
        return Reply(204)

    def _by_token(self, application_id: int, token: str) -> InteractionRecord | None:
        if application_id != self.world.application_id:
            return None
        return next((r for r in self.records.values() if r.token == token), None)

    def _message(
        self, application_id: int, token: str, message_id: str
    ) -> tuple[InteractionRecord | None, JSON | None]:
        record = self._by_token(application_id, token)
        if record is None:
            return None, None
        wanted = (
            record.original_id
            if message_id == "@original"
            else int(message_id)
            if message_id.isdigit()
            else 0
        )
        if wanted != record.original_id and wanted not in record.followup_ids:
            return record, None
        return record, self.messages.by_id.get(wanted or 0)

    def _edit(self, message: JSON, body: JSON) -> JSON:
        # An edit can neither make a message ephemeral nor public, and always ends the "thinking" state.
        flags = ((body.get("flags") or 0) & ~(EPHEMERAL | LOADING)) | (message["flags"] & EPHEMERAL)
        return self.messages.edit(int(message["id"]), {**body, "flags": flags})

    def _create(self, record: InteractionRecord, body: JSON, *, original: bool) -> JSON:
        ephemeral = bool((body.get("flags") or 0) & EPHEMERAL)
        app = str(self.world.application_id)
        metadata = {
            "id": str(record.id),
            "type": record.type,
            "name": record.name,
            "user": payloads.user(self.world.users[record.user_id]),
            "authorizing_integration_owners": {"0": str(record.guild_id)},
        }
        extra = {
            "type": 20 if original else 0,
            "webhook_id": app,
            "application_id": app,
            "interaction_metadata": metadata,
        }
        message = self.messages.create(
            record.channel_id, self.world.bot, body, listed=not ephemeral, extra=extra
        )
        if original:
            record.original_id = int(message["id"])
        if not ephemeral:
            self.on_message(message)
        return message


def _unknown_message() -> Reply:
    return Reply(404, {"message": "Unknown Message", "code": 10008})
