"""Creating, editing and deleting messages the way Discord does, announcing them on the gateway.

Shared by the REST handlers (bot, webhook and interaction messages) and by the test-side
helpers (``DiscordEmulator.send_message``), so both produce identical message objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testkit.discord_emulator import errors, limits, mentions, payloads
from testkit.discord_emulator.interaction_rules import check_message_components
from testkit.discord_emulator.state import Channel, StoredFile, StoredMessage, World, iso_now

# Resources > Message > Create Message / Edit Message and Resources > Webhook > Execute Webhook
# / Edit Webhook Message: "content: Message contents (up to 2000 characters)".
MAX_CONTENT = 2000
MAX_EMBEDS = limits.MAX_EMBEDS
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
)

TYPE_DEFAULT = 0
TYPE_REPLY = 19
TYPE_CHAT_INPUT_COMMAND = 20

Dispatch = Callable[[str, dict[str, Any]], None]


@dataclass
class Upload:
    """A file sent by a client: a multipart ``files[n]`` part, or an attachment a test provides."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"
    index: int = 0


@dataclass
class Author:
    """Who a new message is from: a user (bot or member), a webhook, or an application."""

    payload: dict[str, Any]
    user_id: int
    webhook_id: int | None = None
    application_id: int | None = None


class MessageService:
    def __init__(
        self,
        world: World,
        dispatch: Dispatch,
        file_url: Callable[[int, int, str], str],
        on_change: Callable[[StoredMessage], None],
    ) -> None:
        self._world = world
        self._dispatch = dispatch
        self._file_url = file_url
        self._on_change = on_change

    # -- files --------------------------------------------------------------------------------

    def store_file(
        self, channel_id: int, upload: Upload, description: str | None = None
    ) -> StoredFile:
        file_id = self._world.next_id()
        stored = StoredFile(
            id=file_id,
            filename=upload.filename,
            content_type=upload.content_type,
            data=upload.data,
            url=self._file_url(channel_id, file_id, upload.filename),
            description=description,
        )
        self._world.files[file_id] = stored
        return stored

    def _attachments(
        self,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        keep: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[StoredFile]]:
        """New attachment list: kept existing ones (by id) plus uploads referenced by index."""
        by_index = {u.index: u for u in uploads}
        existing = {a["id"]: a for a in keep}
        meta = body.get("attachments")
        if meta is None:
            meta = [{"id": a["id"]} for a in keep] + [{"id": u.index} for u in uploads]
        result: list[dict[str, Any]] = []
        stored: list[StoredFile] = []
        for item in meta:
            ident = str(item.get("id"))
            if ident in existing:
                result.append(existing[ident])
            elif ident.isdigit() and int(ident) in by_index:
                upload = by_index[int(ident)]
                if item.get("filename"):
                    upload = Upload(
                        item["filename"], upload.data, upload.content_type, upload.index
                    )
                file = self.store_file(channel_id, upload, item.get("description"))
                stored.append(file)
                result.append(payloads.attachment(file))
        return result, stored

    # -- create / edit / delete ---------------------------------------------------------------

    def create(
        self,
        channel: Channel,
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        author: Author,
        message_type: int = TYPE_DEFAULT,
        extra_flags: int = 0,
        interaction_metadata: dict[str, Any] | None = None,
        interaction_id: int | None = None,
        avatar_url: str | None = None,
        allow_empty: bool = False,
    ) -> StoredMessage:
        content = _content(body)
        embeds = _embeds(body)
        attachments, files = self._attachments(channel.id, body, uploads, [])
        components = body.get("components") or []
        check_message_components(components, int(body.get("flags") or 0))
        has_body = content.strip() or embeds or attachments or components or body.get("sticker_ids")
        if not (has_body or allow_empty):
            raise errors.ApiError(400, 50006, "Cannot send an empty message")
        flags = (int(body.get("flags") or 0) & _SETTABLE_FLAGS) | extra_flags
        reference, referenced = self._reference(channel, body.get("message_reference"))
        if referenced is not None and message_type == TYPE_DEFAULT:
            message_type = TYPE_REPLY
        allowed = body.get("allowed_mentions")
        message_id = self._world.next_id()
        data: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": author.payload,
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "attachments": attachments,
            "embeds": embeds,
            "pinned": False,
            "type": message_type,
            "flags": flags,
            "components": components,
        }
        for key, value in (
            ("nonce", body.get("nonce")),
            ("webhook_id", author.webhook_id),
            ("application_id", author.application_id),
            ("message_reference", reference),
            ("interaction_metadata", interaction_metadata),
        ):
            if value is not None:
                data[key] = str(value) if key.endswith("_id") else value
        if referenced is not None:
            data["referenced_message"] = referenced.data
        if channel.is_thread:
            data["position"] = channel.message_count
        msg = StoredMessage(
            data=data,
            guild_id=channel.guild_id,
            files=files,
            allowed_mentions=allowed,
            ephemeral=bool(flags & FLAG_EPHEMERAL),
            avatar_url=avatar_url,
            interaction_id=interaction_id,
        )
        self._apply_mentions(msg, channel)
        self._world.messages[message_id] = msg
        if not msg.ephemeral:
            channel.last_message_id = message_id
            channel.message_count += 1
            self._dispatch("MESSAGE_CREATE", self.gateway_payload(msg))
        self._on_change(msg)
        return msg

    def edit(
        self, msg: StoredMessage, body: dict[str, Any], uploads: list[Upload]
    ) -> StoredMessage:
        channel = self._world.channels[msg.channel_id]
        data = msg.data
        msg.revisions.append(copy.deepcopy(data))
        if "content" in body:
            data["content"] = _content(body)
        if "embeds" in body:
            data["embeds"] = _embeds(body)
        if "components" in body:
            check_message_components(body["components"] or [], int(data.get("flags", 0)))
            data["components"] = body["components"] or []
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        if "attachments" in body or uploads:
            data["attachments"], files = self._attachments(
                channel.id, body, uploads, data["attachments"]
            )
            msg.files = [
                f for f in msg.files if str(f.id) in {a["id"] for a in data["attachments"]}
            ]
            msg.files.extend(files)
        flags = int(data.get("flags", 0)) & ~FLAG_LOADING  # an edit ends a "thinking" state
        if "flags" in body and body["flags"] is not None:
            flags = (flags & ~FLAG_SUPPRESS_EMBEDS) | (int(body["flags"]) & FLAG_SUPPRESS_EMBEDS)
        data["flags"] = flags
        if not (
            data["content"].strip() or data["embeds"] or data["attachments"] or data["components"]
        ):
            raise errors.ApiError(400, 50006, "Cannot send an empty message")
        data["edited_timestamp"] = iso_now()
        self._apply_mentions(msg, channel)
        if not msg.ephemeral:
            self._dispatch("MESSAGE_UPDATE", self.gateway_payload(msg))
        self._on_change(msg)
        return msg

    def delete(self, msg: StoredMessage) -> None:
        msg.deleted = True
        if not msg.ephemeral:
            payload = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                payload["guild_id"] = str(msg.guild_id)
            self._dispatch("MESSAGE_DELETE", payload)
        self._on_change(msg)

    # -- helpers ------------------------------------------------------------------------------

    def gateway_payload(self, msg: StoredMessage) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE carry ``guild_id`` and, for member authors, ``member``."""
        payload = dict(msg.data)
        if msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
            guild = self._world.guilds[msg.guild_id]
            member = guild.members.get(msg.author_id)
            if member is not None and msg.webhook_id is None:
                payload["member"] = payloads.member(member, with_user=False)
        return payload

    def _apply_mentions(self, msg: StoredMessage, channel: Channel) -> None:
        guild = self._world.guild_of(channel)
        is_webhook = msg.webhook_id is not None
        author_perms = 0 if is_webhook else self._world.permissions_in(channel, msg.author_id)
        ref = msg.data.get("referenced_message")
        replied = int(ref["author"]["id"]) if ref else None
        result = mentions.resolve(
            self._world,
            content=msg.content,
            allowed=msg.allowed_mentions,
            guild=guild,
            author_permissions=author_perms,
            is_webhook=is_webhook,
            replied_user_id=replied if replied != msg.author_id else None,
        )
        msg.data["mentions"] = result.users
        msg.data["mention_roles"] = result.roles
        msg.data["mention_everyone"] = result.everyone

    def _reference(
        self, channel: Channel, ref: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, StoredMessage | None]:
        if not ref or ref.get("message_id") is None:
            return None, None
        target = self._world.messages.get(int(ref["message_id"]))
        if target is None or target.deleted:
            if ref.get("fail_if_not_exists", True):
                raise errors.invalid_form(
                    {"message_reference": ("REPLIES_UNKNOWN_MESSAGE", "Unknown message")}
                )
            return None, None
        reference = {
            "type": 0,
            "message_id": str(target.id),
            "channel_id": str(target.channel_id),
            "guild_id": str(channel.guild_id),
        }
        return reference, target


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    content = "" if content is None else str(content)
    if len(content) > MAX_CONTENT:
        raise errors.invalid_form(
            {"content": ("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")}
        )
    return content


def _embeds(body: dict[str, Any]) -> list[dict[str, Any]]:
    embeds = body.get("embeds") or []
    limits.check_embeds(embeds)  # Resources > Message > Embed Limits (see limits.py)
    # Discord fills in the embed type.
    return [{"type": "rich", **embed} for embed in embeds]
