"""What users do, from the test's side: post messages, run commands, click, submit modals.

Each action stores/dispatches exactly what Discord would put on the gateway; interaction
actions return an :class:`InteractionRecord` to await the bot's answer on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testkit.discord_emulator import payloads
from testkit.discord_emulator.interaction_payloads import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionPayloads,
)
from testkit.discord_emulator.interaction_rules import check_submitted_text
from testkit.discord_emulator.interactions import InteractionRecord, InteractionService
from testkit.discord_emulator.messages import Author, MessageService, Upload
from testkit.discord_emulator.state import Channel, Member, StoredMessage, User, World

BUTTON, STRING_SELECT = 2, 3


def _user(who: User | Member) -> User:
    return who.user if isinstance(who, Member) else who


ChannelRef = Channel | int


class DriverMixin:
    if TYPE_CHECKING:
        world: World
        messages: MessageService
        interactions: InteractionService
        interaction_payloads: InteractionPayloads

        def dispatch(self, event: str, data: dict[str, Any]) -> None: ...

    def _channel(self, channel: ChannelRef) -> Channel:
        """Accept a channel/thread object or its id."""
        if isinstance(channel, Channel):
            return channel
        found = self.world.channels.get(channel)
        if found is None:
            raise LookupError(f"no channel {channel}")
        return found

    # -- messages -----------------------------------------------------------------------------

    async def send_message(
        self,
        channel: ChannelRef,
        author: User | Member,
        content: str = "",
        *,
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[Upload] | None = None,
        reply_to: StoredMessage | None = None,
        allowed_mentions: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """A user posts in ``channel``; dispatched as MESSAGE_CREATE (content per intents)."""
        user, channel = _user(author), self._channel(channel)
        if user.id not in self.world.guild_of(channel).members:
            raise ValueError(f"{user.username} is not a member of the channel's guild")
        uploads = [
            Upload(u.filename, u.data, u.content_type, index)
            for index, u in enumerate(attachments or [])
        ]
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to.id)}
        if allowed_mentions is not None:
            body["allowed_mentions"] = allowed_mentions
        return self.messages.create(
            channel, body, uploads, author=Author(payloads.user(user), user.id)
        )

    async def edit_message(self, message: StoredMessage, content: str) -> StoredMessage:
        """A user edits their message; dispatched as MESSAGE_UPDATE."""
        return self.messages.edit(message, {"content": content}, [])

    async def delete_message(self, message: StoredMessage) -> None:
        """A message disappears (user or moderator); dispatched as MESSAGE_DELETE."""
        self.messages.delete(message)

    # -- interactions -------------------------------------------------------------------------

    def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        user: User | Member,
        channel: Channel,
        message: StoredMessage | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        payload = self.interaction_payloads.base(
            kind, data, user=_user(user), channel=channel, message=message, locale=locale
        )
        record = self.interactions.register(payload)
        self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def invoke_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: User | Member,
        channel: ChannelRef,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Run ``/name`` where ``name`` may be a path: ``"char say"`` or ``"admin char reset"``.

        Option types come from the synced command when available, else from the Python
        values (``User``/``Member``, ``Channel``, ``Role``, ``Upload`` for attachments).
        """
        path, channel = name.split(), self._channel(channel)
        data = self.interaction_payloads.command_data(path, options or {}, channel=channel)
        return self._interact(APPLICATION_COMMAND, data, user, channel, locale=locale)

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        user: User | Member,
        channel: ChannelRef,
    ) -> InteractionRecord:
        """The user types into option ``focused``; ``record.choices`` holds the answer."""
        path, channel = name.split(), self._channel(channel)
        data = self.interaction_payloads.command_data(
            path, options, channel=channel, focused=focused
        )
        return self._interact(AUTOCOMPLETE, data, user, channel)

    async def click_button(
        self, message: StoredMessage, custom_id: str, user: User | Member
    ) -> InteractionRecord:
        return self._component(message, custom_id, user, BUTTON, None)

    async def select(
        self, message: StoredMessage, custom_id: str, values: list[str], user: User | Member
    ) -> InteractionRecord:
        return self._component(message, custom_id, user, STRING_SELECT, values)

    def _component(
        self,
        message: StoredMessage,
        custom_id: str,
        user: User | Member,
        component_type: int,
        values: list[str] | None,
    ) -> InteractionRecord:
        current = self.world.messages[message.id]  # the latest version of the message
        component = InteractionPayloads.find_component(
            current.data.get("components", []), custom_id
        )
        if component is None:
            raise LookupError(f"message {message.id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; Discord would not send a click")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        channel = self.world.channels[current.channel_id]
        return self._interact(MESSAGE_COMPONENT, data, user, channel, message=current)

    async def submit_modal(
        self,
        custom_id: str | None,
        values: dict[str, Any],
        user: User | Member,
        *,
        opened_by: InteractionRecord | None = None,
    ) -> InteractionRecord:
        """``user`` submits a modal the bot opened for them.

        Discord shows a modal only to the member whose interaction opened it (the MODAL
        callback answers that interaction: Interactions > Receiving and Responding >
        Interaction Callback Type 9), so the MODAL_SUBMIT carries that member, and the
        channel and server where they opened it. Without ``opened_by`` the form is the
        latest one the bot opened for ``user`` (with ``custom_id``, when given). Opening one
        form for another member's submission is refused: Discord cannot send that.
        """
        user = _user(user)
        if opened_by is None:
            opened = [
                r
                for r in self.interactions.records.values()
                if r.modal
                and r.user_id == user.id
                and (custom_id is None or r.modal.get("custom_id") == custom_id)
            ]
            if not opened:
                raise LookupError(f"the bot never opened a modal {custom_id!r} for {user.username}")
            opened_by = opened[-1]
        if opened_by.user_id != user.id:
            raise ValueError("Discord shows a modal only to the member who opened it")
        modal = opened_by.modal
        if modal is None:
            raise LookupError(f"interaction {opened_by.id} did not open a modal")
        check_submitted_text(modal, values)  # what the client lets a member submit
        data = {
            "custom_id": modal["custom_id"] if custom_id is None else custom_id,
            "components": InteractionPayloads.modal_submission(modal, values),
        }
        channel = self.world.channels[opened_by.channel_id]
        message = self.world.messages.get(opened_by.message_id or 0)
        return self._interact(MODAL_SUBMIT, data, user, channel, message=message)
