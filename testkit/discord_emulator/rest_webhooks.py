"""Webhook routes: channel webhooks (create/list/delete with Discord's limits) and execution.

``/webhooks/{application_id}/{interaction_token}/...`` is the same URL family Discord uses
for interaction followups and ``@original``; those are handed to the interaction service.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from testkit.discord_emulator import errors, payloads
from testkit.discord_emulator import permissions as perms
from testkit.discord_emulator.messages import Author
from testkit.discord_emulator.rest import (
    API_PREFIX,
    body_of,
    channel_arg,
    emu_of,
    guild_arg,
    json_response,
    no_content,
    snowflake_arg,
    uploads_of,
)
from testkit.discord_emulator.state import Channel, StoredMessage, Webhook

# Topics > Opcodes and Status Codes > JSON Error Codes: 30007 "Maximum number of webhooks reached
# (15)" (per channel) and 30058 "Maximum number of webhooks per guild reached (1000)".
MAX_WEBHOOKS_PER_CHANNEL = 15
MAX_WEBHOOKS_PER_GUILD = 1000
_FORBIDDEN_NAME_PARTS = ("discord", "clyde")


def _check_name(field: str, name: Any) -> str:
    """Resources > Webhook > Create Webhook: a name is 1-80 characters and "does not contain the
    substrings clyde or discord (case-insensitive)". Execute Webhook's ``username`` override is
    held to the same rules: the docs state no rule for it; Discord applies these (observed, not
    documented), as do the 50035 body's inner error codes."""
    name = "" if name is None else str(name)
    if not 1 <= len(name) <= 80:
        raise errors.invalid_form(
            {field: ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")}
        )
    for part in _FORBIDDEN_NAME_PARTS:
        if part in name.lower():
            message = f'Username cannot contain "{part}"'
            raise errors.invalid_form({field: ("USERNAME_INVALID_CONTAINS", message)})
    return name


def _require_manage(request: web.Request, channel: Channel) -> None:
    granted = emu_of(request).bot_permissions_in(channel)
    if not granted & perms.VIEW_CHANNEL:
        raise errors.missing_access()
    if not granted & perms.MANAGE_WEBHOOKS:
        raise errors.missing_permissions()


def _webhook(request: web.Request, *, token: bool) -> Webhook:
    webhook = emu_of(request).world.webhooks.get(snowflake_arg(request, "webhook_id"))
    if webhook is None:
        raise errors.unknown_webhook()
    if token and request.match_info["token"] != webhook.token:
        raise errors.ApiError(401, 50027, "Invalid Webhook Token")
    return webhook


def _is_interaction(request: web.Request) -> bool:
    return snowflake_arg(request, "webhook_id") == emu_of(request).world.application_id


# -- management (bot token) -------------------------------------------------------------------


async def create_webhook(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    if channel.is_thread:
        raise errors.wrong_channel_type()  # webhooks live on the parent; threads use thread_id
    _require_manage(request, channel)
    body = body_of(request)
    name = _check_name("name", body.get("name"))
    if len(emu.world.webhooks_in(channel.id)) >= MAX_WEBHOOKS_PER_CHANNEL:
        raise errors.ApiError(400, 30007, "Maximum number of webhooks reached (15)")
    in_guild = sum(1 for w in emu.world.webhooks.values() if w.guild_id == channel.guild_id)
    if in_guild >= MAX_WEBHOOKS_PER_GUILD:
        raise errors.ApiError(400, 30058, "Maximum number of webhooks per guild reached (1000)")
    webhook = emu.world.add_webhook(channel, name, creator=emu.world.bot)
    if body.get("avatar"):
        webhook.avatar = hashlib.md5(str(body["avatar"]).encode()).hexdigest()
    emu.dispatch(
        "WEBHOOKS_UPDATE", {"guild_id": str(channel.guild_id), "channel_id": str(channel.id)}
    )
    return json_response(payloads.webhook(webhook, emu.world))


async def channel_webhooks(request: web.Request) -> web.Response:
    emu = emu_of(request)
    channel = channel_arg(request)
    _require_manage(request, channel)
    hooks = emu.world.webhooks_in(channel.id)
    return json_response([payloads.webhook(w, emu.world) for w in hooks])


async def guild_webhooks(request: web.Request) -> web.Response:
    emu = emu_of(request)
    guild = guild_arg(request)
    if not perms.base(guild, emu.world.bot_member(guild)) & perms.MANAGE_WEBHOOKS:
        raise errors.missing_permissions()
    hooks = [w for w in emu.world.webhooks.values() if w.guild_id == guild.id]
    return json_response([payloads.webhook(w, emu.world) for w in hooks])


async def get_webhook(request: web.Request) -> web.Response:
    emu = emu_of(request)
    token = "token" in request.match_info
    webhook = _webhook(request, token=token)
    return json_response(payloads.webhook(webhook, emu.world, with_token=not token))


async def edit_webhook(request: web.Request) -> web.Response:
    """PATCH a webhook's name or avatar (the avatar's data URI is kept for tests to read)."""
    emu = emu_of(request)
    token = "token" in request.match_info
    webhook = _webhook(request, token=token)
    if not token:
        _require_manage(request, emu.world.channels[webhook.channel_id])
    body = body_of(request)
    if "name" in body:
        webhook.name = _check_name("name", body["name"])
    if "avatar" in body:
        data = body["avatar"]
        webhook.avatar = hashlib.md5(str(data).encode()).hexdigest() if data else None
        webhook.avatar_data = data
    _announce(emu, webhook)  # Resources > Webhook > Modify Webhook: fires Webhooks Update
    return json_response(payloads.webhook(webhook, emu.world, with_token=not token))


def _announce(emu: Any, webhook: Webhook) -> None:
    """Events > Gateway Events > Webhooks Update: ``guild_id`` and ``channel_id``."""
    emu.dispatch(
        "WEBHOOKS_UPDATE",
        {"guild_id": str(webhook.guild_id), "channel_id": str(webhook.channel_id)},
    )


async def delete_webhook(request: web.Request) -> web.Response:
    """Resources > Webhook > Delete Webhook: 204, and a Webhooks Update event; every later use
    of the webhook answers 10015 Unknown Webhook (JSON Error Codes)."""
    emu = emu_of(request)
    token = "token" in request.match_info
    webhook = _webhook(request, token=token)
    if not token:
        _require_manage(request, emu.world.channels[webhook.channel_id])
    del emu.world.webhooks[webhook.id]
    _announce(emu, webhook)
    return no_content()


# -- execution (token in URL) -----------------------------------------------------------------


def _target_channel(request: web.Request, webhook: Webhook) -> Channel:
    emu = emu_of(request)
    channel = emu.world.channels[webhook.channel_id]
    thread_id = request.query.get("thread_id")
    if thread_id:
        thread = emu.world.channels.get(int(thread_id))
        if thread is None or thread.parent_id != channel.id:
            raise errors.unknown_channel()
        return thread
    return channel


def _wants_body(request: web.Request) -> bool:
    return request.query.get("wait", "false").lower() in ("1", "true")


async def execute_webhook(request: web.Request) -> web.Response:
    emu = emu_of(request)
    body, uploads = body_of(request), uploads_of(request)
    if _is_interaction(request):
        msg = emu.interactions.followup(request.match_info["token"], body, uploads)
        return json_response(msg.data)
    webhook = _webhook(request, token=True)
    username = body.get("username")
    if username is not None:
        _check_name("username", username)
    author = payloads.webhook_author(webhook, username)
    msg = emu.messages.create(
        _target_channel(request, webhook),
        body,
        uploads,
        author=Author(
            author, webhook.id, webhook_id=webhook.id, application_id=webhook.application_id
        ),
        avatar_url=body.get("avatar_url"),
    )
    return json_response(msg.data) if _wants_body(request) else no_content()


def _webhook_message(request: web.Request, webhook: Webhook) -> StoredMessage:
    msg = emu_of(request).world.messages.get(snowflake_arg(request, "message_id"))
    if msg is None or msg.deleted or msg.webhook_id != webhook.id:
        raise errors.unknown_message()
    return msg


async def get_webhook_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    if _is_interaction(request):
        _, msg = emu.interactions.message(
            request.match_info["token"], request.match_info["message_id"]
        )
        return json_response(msg.data)
    return json_response(_webhook_message(request, _webhook(request, token=True)).data)


async def edit_webhook_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    body, uploads = body_of(request), uploads_of(request)
    if _is_interaction(request):
        token, message_id = request.match_info["token"], request.match_info["message_id"]
        return json_response(emu.interactions.edit(token, message_id, body, uploads).data)
    msg = _webhook_message(request, _webhook(request, token=True))
    emu.messages.edit(msg, body, uploads)
    return json_response(msg.data)


async def delete_webhook_message(request: web.Request) -> web.Response:
    emu = emu_of(request)
    if _is_interaction(request):
        emu.interactions.delete(request.match_info["token"], request.match_info["message_id"])
        return no_content()
    emu.messages.delete(_webhook_message(request, _webhook(request, token=True)))
    return no_content()


def add_routes(app: web.Application) -> None:
    r = app.router
    a = API_PREFIX
    r.add_post(f"{a}/channels/{{channel_id}}/webhooks", create_webhook)
    r.add_get(f"{a}/channels/{{channel_id}}/webhooks", channel_webhooks)
    r.add_get(f"{a}/guilds/{{guild_id}}/webhooks", guild_webhooks)
    hook = f"{a}/webhooks/{{webhook_id}}"
    r.add_get(hook, get_webhook)
    r.add_patch(hook, edit_webhook)
    r.add_patch(f"{hook}/{{token}}", edit_webhook)
    r.add_delete(hook, delete_webhook)
    r.add_get(f"{hook}/{{token}}", get_webhook)
    r.add_delete(f"{hook}/{{token}}", delete_webhook)
    r.add_post(f"{hook}/{{token}}", execute_webhook)
    msg = f"{hook}/{{token}}/messages/{{message_id}}"
    r.add_get(msg, get_webhook_message)
    r.add_patch(msg, edit_webhook_message)
    r.add_delete(msg, delete_webhook_message)
