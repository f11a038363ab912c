"""Channel message routes: create/list/get/edit/delete, typing, reactions and threads."""

from __future__ import annotations

from aiohttp import web

from testkit.discord_emulator import errors, payloads
from testkit.discord_emulator import permissions as perms
from testkit.discord_emulator.rest import (
    API_PREFIX,
    body_of,
    channel_arg,
    emu_of,
    json_response,
    message_arg,
    no_content,
    uploads_of,
)
from testkit.discord_emulator.state import PRIVATE_THREAD, PUBLIC_THREAD, Channel


def _require(request: web.Request, channel: Channel, needed: int) -> int:
    """Check the bot's channel permissions like Discord: 50001 if it can't see, else 50013."""
    granted = emu_of(request).bot_permissions_in(channel)
    if not granted & perms.VIEW_CHANNEL:
        raise errors.missing_access()
    if granted & needed != needed:
        raise errors.missing_permissions()
    return granted


async def create_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    send = perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else perms.SEND_MESSAGES
    uploads = uploads_of(request)
    _require(request, channel, send | (perms.ATTACH_FILES if uploads else 0))
    msg = emu.messages.create(channel, body_of(request), uploads, author=emu.bot_author())
    return json_response(msg.data)


async def list_messages(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    _require(request, channel, perms.READ_MESSAGE_HISTORY)
    query = request.query
    limit = int(query.get("limit", 50))
    if not 1 <= limit <= 100:
        raise errors.invalid_form({"limit": ("NUMBER_TYPE_MAX", "int value should be <= 100.")})
    found = emu.world.channel_messages(channel.id)  # oldest first
    if "before" in query:
        found = [m for m in found if m.id < int(query["before"])][-limit:]
    elif "after" in query:
        found = [m for m in found if m.id > int(query["after"])][:limit]
    elif "around" in query:
        pivot = int(query["around"])
        older = [m for m in found if m.id <= pivot][-((limit + 1) // 2) :]
        newer = [m for m in found if m.id > pivot][: limit // 2]
        found = older + newer
    else:
        found = found[-limit:]
    # Discord always answers newest first, whatever the direction asked.
    return json_response([m.data for m in reversed(found)])


async def get_message(request: web.Request) -> web.Response:
    channel = channel_arg(request)
    _require(request, channel, perms.READ_MESSAGE_HISTORY)
    return json_response(message_arg(request, channel).data)


async def edit_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    msg = message_arg(request, channel)
    if msg.author_id != emu.world.bot.id or msg.webhook_id is not None:
        raise errors.ApiError(403, 50005, "Cannot edit a message authored by another user")
    emu.messages.edit(msg, body_of(request), uploads_of(request))
    return json_response(msg.data)


async def delete_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    msg = message_arg(request, channel)
    own = msg.author_id == emu.world.bot.id and msg.webhook_id is None
    _require(request, channel, 0 if own else perms.MANAGE_MESSAGES)
    emu.messages.delete(msg)
    return no_content()


async def trigger_typing(request: web.Request) -> web.Response:
    channel = channel_arg(request)
    _require(
        request,
        channel,
        perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else perms.SEND_MESSAGES,
    )
    return no_content()


async def add_reaction(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    _require(request, channel, perms.ADD_REACTIONS | perms.READ_MESSAGE_HISTORY)
    msg = message_arg(request, channel)
    emoji = request.match_info["emoji"]
    name, _, emoji_id = emoji.partition(":")
    emoji_payload = {"id": emoji_id or None, "name": name}
    reactions = msg.data.setdefault("reactions", [])
    entry = next((r for r in reactions if r["emoji"] == emoji_payload), None)
    if entry is None:
        entry = {"emoji": emoji_payload, "count": 0, "me": False, "burst_colors": []}
        entry["count_details"] = {"burst": 0, "normal": 0}
        reactions.append(entry)
    if not entry["me"]:
        entry.update(me=True, count=entry["count"] + 1)
        bot_member = emu.world.bot_member(emu.world.guild_of(channel))
        emu.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(emu.world.bot.id),
                "channel_id": str(channel.id),
                "message_id": str(msg.id),
                "guild_id": str(channel.guild_id),
                "member": payloads.member(bot_member),
                "emoji": emoji_payload,
                "burst": False,
                "type": 0,
            },
        )
    return no_content()


def _thread_name(request: web.Request) -> str:
    name = str(body_of(request).get("name") or "")
    if not 1 <= len(name) <= 100:
        raise errors.invalid_form(
            {"name": ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")}
        )
    return name


async def thread_from_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    if channel.is_thread:
        raise errors.wrong_channel_type()
    _require(request, channel, perms.CREATE_PUBLIC_THREADS)
    msg = message_arg(request, channel)
    if msg.id in emu.world.channels:
        raise errors.ApiError(400, 160004, "A thread has already been created for this message")
    body = body_of(request)
    thread = emu.create_thread(
        channel,
        _thread_name(request),
        owner=emu.world.bot,
        thread_id=msg.id,  # Discord reuses the starter message id as the thread id
        auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
    )
    return json_response(payloads.thread(thread), 201)


async def thread_without_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    if channel.is_thread:
        raise errors.wrong_channel_type()
    body = body_of(request)
    kind = int(body.get("type") or PRIVATE_THREAD)
    if kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
        raise errors.invalid_form({"type": ("BASE_TYPE_CHOICES", "Value must be one of (11, 12).")})
    needed = perms.CREATE_PUBLIC_THREADS if kind == PUBLIC_THREAD else perms.CREATE_PRIVATE_THREADS
    _require(request, channel, needed)
    thread = emu.create_thread(
        channel,
        _thread_name(request),
        owner=emu.world.bot,
        private=kind == PRIVATE_THREAD,
        auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
    )
    return json_response(payloads.thread(thread), 201)


def add_routes(app: web.Application) -> None:
    r = app.router
    base = f"{API_PREFIX}/channels/{{channel_id}}"
    msg = f"{base}/messages/{{message_id}}"
    r.add_post(f"{base}/messages", create_message)
    r.add_get(f"{base}/messages", list_messages)
    r.add_get(msg, get_message)
    r.add_patch(msg, edit_message)
    r.add_delete(msg, delete_message)
    r.add_post(f"{base}/typing", trigger_typing)
    r.add_put(f"{msg}/reactions/{{emoji}}/@me", add_reaction)
    r.add_post(f"{msg}/threads", thread_from_message)
    r.add_post(f"{base}/threads", thread_without_message)
