"""Interaction lifecycle: records of dispatched interactions and the bot's responses to them.

Follows Discord's rules (Interactions > Receiving and Responding > Responding to an
Interaction): one initial callback within 3 seconds (``callback_deadline``; later: 404 10062),
then ``@original`` edits and followups through the application webhook while the token lives,
15 minutes (later: 401 50027); after a deferred ("thinking") response the first followup edits
the loading message instead of posting. A modal callback is checked against the modal limits
and message components against the component limits (see ``interaction_rules``).

Time is read from :class:`InteractionClock`, which a test moves forward by hand
(``emu.interactions.clock.advance(14 * 60)``) so the 15-minute rule is tested without waiting.
"""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testkit.discord_emulator import errors, interaction_rules, payloads
from testkit.discord_emulator.messages import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    TYPE_CHAT_INPUT_COMMAND,
    TYPE_DEFAULT,
    Author,
    MessageService,
    Upload,
)
from testkit.discord_emulator.recorder import Waiters
from testkit.discord_emulator.state import StoredMessage, World

PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 6, 7, 8, 9


class InteractionClock:
    """Monotonic time plus whatever a test added with :meth:`advance`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class InteractionRecord:
    """An interaction the test dispatched, and everything the bot answered to it."""

    payload: dict[str, Any]
    world: World = field(repr=False)
    waiters: Waiters[InteractionRecord] = field(repr=False)
    created: float = field(default_factory=time.monotonic)  # on the service's clock
    callback: dict[str, Any] | None = None
    response_message_id: int | None = None
    followups: list[StoredMessage] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def token(self) -> str:
        return self.payload["token"]

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def user_id(self) -> int:
        """The member who triggered the interaction."""
        return int(self.payload["member"]["user"]["id"])

    @property
    def message_id(self) -> int | None:
        """For component interactions: the message carrying the clicked component."""
        message = self.payload.get("message")
        return int(message["id"]) if message else None

    @property
    def original(self) -> StoredMessage | None:
        """The response message (``@original``), as currently stored."""
        if self.response_message_id is None:
            return None
        return self.world.messages.get(self.response_message_id)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        if self.callback and self.callback["type"] == AUTOCOMPLETE_RESULT:
            return self.callback["data"].get("choices", [])
        return None

    @property
    def modal(self) -> dict[str, Any] | None:
        if self.callback and self.callback["type"] == MODAL:
            return self.callback["data"]
        return None

    def changed(self) -> None:
        self.waiters.notify(self)

    async def wait_until(
        self, predicate: Callable[[InteractionRecord], bool], timeout: float = 5.0
    ) -> InteractionRecord:
        return await self.waiters.wait([self], predicate, timeout, f"interaction {self.id}")

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The initial callback body ``{"type", "data"}`` once the bot sent it."""
        await self.wait_until(lambda r: r.callback is not None, timeout)
        assert self.callback is not None
        return self.callback

    async def followup(self, index: int = 0, timeout: float = 5.0) -> StoredMessage:
        await self.wait_until(lambda r: len(r.followups) > index, timeout)
        return self.followups[index]


class InteractionService:
    def __init__(
        self, world: World, messages: MessageService, *, callback_deadline: float = 3.0
    ) -> None:
        self._world = world
        self._messages = messages
        self.callback_deadline = callback_deadline
        self.token_lifetime = interaction_rules.TOKEN_LIFETIME
        self.clock = InteractionClock()
        self.records: dict[int, InteractionRecord] = {}
        self.waiters: Waiters[InteractionRecord] = Waiters()

    def register(self, payload: dict[str, Any]) -> InteractionRecord:
        record = InteractionRecord(
            payload=payload, world=self._world, waiters=self.waiters, created=self.clock()
        )
        self.records[record.id] = record
        return record

    def by_token(self, token: str) -> InteractionRecord | None:
        return next((r for r in self.records.values() if r.token == token), None)

    # -- initial response ---------------------------------------------------------------------

    def callback(
        self, interaction_id: int, token: str, body: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any]:
        record = self.records.get(interaction_id)
        if record is None or record.token != token:
            raise errors.unknown_interaction()
        if record.callback is not None:
            raise interaction_rules.already_acknowledged()
        if self.clock() - record.created > self.callback_deadline:
            raise errors.unknown_interaction()  # the 3 second rule: the token is invalidated
        kind, data = int(body["type"]), body.get("data") or {}
        self._check_allowed(record, kind)
        if kind == MODAL:
            interaction_rules.check_modal(data)
        info: dict[str, Any] = {"id": str(record.id), "type": record.type}
        resource: dict[str, Any] | None = None
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            loading = kind == DEFERRED_CHANNEL_MESSAGE
            msg = self._post(record, {} if loading else data, uploads, loading, data.get("flags"))
            record.response_message_id = msg.id
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=loading,
                response_message_ephemeral=msg.ephemeral,
            )
            resource = {"type": kind, "message": msg.data}
        elif kind in (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE):
            target = self._world.messages[record.message_id or 0]
            if kind == UPDATE_MESSAGE:
                self._messages.edit(target, data, uploads)
                resource = {"type": kind, "message": target.data}
            record.response_message_id = target.id
            info["response_message_id"] = str(target.id)
        record.callback = {"type": kind, "data": data}
        record.changed()
        result: dict[str, Any] = {"interaction": info}
        if resource is not None:
            result["resource"] = resource
        return result

    @staticmethod
    def _check_allowed(record: InteractionRecord, kind: int) -> None:
        """Interactions > Receiving and Responding > Interaction Response Object > Interaction
        Callback Type: which callback types each interaction type accepts (PONG for PING only,
        AUTOCOMPLETE_RESULT for autocomplete, no MODAL in answer to a modal submission, the
        UPDATE types only where a message carries the component)."""
        allowed = {
            2: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
            3: {
                CHANNEL_MESSAGE,
                DEFERRED_CHANNEL_MESSAGE,
                DEFERRED_UPDATE_MESSAGE,
                UPDATE_MESSAGE,
                MODAL,
            },
            4: {AUTOCOMPLETE_RESULT},
            5: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
        }.get(record.type, {PONG})
        if kind not in allowed:
            raise errors.invalid_form(
                {"type": ("INTERACTION_RESPONSE_TYPE_INVALID", "Invalid type")}
            )
        if kind in (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE) and record.message_id is None:
            raise errors.invalid_form({"type": ("INTERACTION_RESPONSE_TYPE_INVALID", "No message")})

    def _post(
        self,
        record: InteractionRecord,
        data: dict[str, Any],
        uploads: list[Upload],
        loading: bool,
        flags: Any,
    ) -> StoredMessage:
        bot = self._world.bot
        app_id = self._world.application_id
        extra = FLAG_LOADING if loading else 0
        if loading and int(flags or 0) & FLAG_EPHEMERAL:
            extra |= FLAG_EPHEMERAL
        metadata = {
            "id": str(record.id),
            "type": record.type,
            "user": record.payload["member"]["user"],
            "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
        }
        return self._messages.create(
            self._world.channels[record.channel_id],
            data,
            uploads,
            author=Author(payloads.user(bot), bot.id, webhook_id=app_id, application_id=app_id),
            message_type=TYPE_CHAT_INPUT_COMMAND if record.type == 2 else TYPE_DEFAULT,
            extra_flags=extra,
            interaction_metadata=metadata,
            interaction_id=record.id,
            allow_empty=loading,
        )

    # -- the application webhook: @original and followups ------------------------------------

    def _acknowledged(self, token: str) -> InteractionRecord:
        record = self.by_token(token)
        if record is None or record.callback is None:
            raise errors.unknown_webhook()  # no webhook exists until the interaction is acked
        if self.clock() - record.created > self.token_lifetime:
            raise interaction_rules.invalid_webhook_token()  # tokens live 15 minutes
        return record

    def followup(self, token: str, body: dict[str, Any], uploads: list[Upload]) -> StoredMessage:
        record = self._acknowledged(token)
        original = record.original
        if original is not None and original.flags & FLAG_LOADING:
            msg = self._messages.edit(original, body, uploads)
        else:
            msg = self._post(record, body, uploads, loading=False, flags=None)
        record.followups.append(msg)
        record.changed()
        return msg

    def message(self, token: str, message_id: str) -> tuple[InteractionRecord, StoredMessage]:
        record = self._acknowledged(token)
        original = record.original
        if message_id == "@original" or (original is not None and str(original.id) == message_id):
            msg = original
        else:
            msg = next((m for m in record.followups if str(m.id) == message_id), None)
        if msg is None or msg.deleted:
            raise errors.unknown_message()
        return record, msg

    def edit(
        self, token: str, message_id: str, body: dict[str, Any], uploads: list[Upload]
    ) -> StoredMessage:
        record, msg = self.message(token, message_id)
        self._messages.edit(msg, body, uploads)
        record.changed()
        return msg

    def delete(self, token: str, message_id: str) -> None:
        record, msg = self.message(token, message_id)
        self._messages.delete(msg)
        record.changed()
