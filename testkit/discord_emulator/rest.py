"""The aiohttp application: request recording, fault injection, auth, and the small routes.

Responses are built by hand because discord.py only parses a body as JSON when the
``Content-Type`` header is *exactly* ``application/json`` (aiohttp's ``json_response``
appends ``; charset=utf-8``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from testkit.discord_emulator import errors, payloads
from testkit.discord_emulator.limits import DEFAULT_UPLOAD_LIMIT, check_upload_sizes
from testkit.discord_emulator.messages import Upload
from testkit.discord_emulator.recorder import INTERESTING_HEADERS, RecordedRequest
from testkit.discord_emulator.state import Channel, Guild, StoredMessage

if TYPE_CHECKING:
    from testkit.discord_emulator.emulator import DiscordEmulator

API_PREFIX = "/api/v10"
EMU: web.AppKey[DiscordEmulator] = web.AppKey("emulator")


def _request_key(name: str, kind: type) -> Any:
    # web.RequestKey (aiohttp >= 3.14) avoids NotAppKeyWarning; plain strings work before it.
    factory = getattr(web, "RequestKey", None)
    return factory(name, kind) if factory is not None else name


BODY = _request_key("emulator.body", object)
UPLOADS = _request_key("emulator.uploads", list)

# Routes authenticated by the token in the URL rather than the Authorization header.
_TOKEN_ROUTE = re.compile(r"^/(webhooks/\d+/[^/]+|interactions/)")
_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def emu_of(request: web.Request) -> DiscordEmulator:
    return request.app[EMU]


def body_of(request: web.Request) -> dict[str, Any]:
    body = request[BODY]
    return body if isinstance(body, dict) else {}


def uploads_of(request: web.Request) -> list[Upload]:
    return request[UPLOADS]


def snowflake_arg(request: web.Request, name: str) -> int:
    value = request.match_info[name]
    if not value.isdigit():
        raise errors.invalid_form(
            {name: ("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')}
        )
    return int(value)


def channel_arg(request: web.Request) -> Channel:
    channel = emu_of(request).world.channels.get(snowflake_arg(request, "channel_id"))
    if channel is None:
        raise errors.unknown_channel()
    return channel


def guild_arg(request: web.Request) -> Guild:
    guild = emu_of(request).world.guilds.get(snowflake_arg(request, "guild_id"))
    if guild is None:
        raise errors.not_found("Guild", 10004)
    return guild


def message_arg(request: web.Request, channel: Channel) -> StoredMessage:
    msg = emu_of(request).world.messages.get(snowflake_arg(request, "message_id"))
    if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != channel.id:
        raise errors.unknown_message()
    return msg


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON bodies, or discord.py's multipart form: ``payload_json`` plus ``files[n]`` parts."""
    if request.content_type == "multipart/form-data":
        body: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.name and (match := _FILE_FIELD.match(part.name)):
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                data = bytes(await part.read())
                uploads.append(Upload(part.filename or "file", data, ctype, int(match.group(1))))
        return body, uploads
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        raise errors.ApiError(400, 50109, "The request body contains invalid JSON.") from None


_CHANNEL_PATH = re.compile(r"^/channels/(\d+)/")
_WEBHOOK_PATH = re.compile(r"^/webhooks/(\d+)/([^/]+)")
_CALLBACK_PATH = re.compile(r"^/interactions/(\d+)/")


def upload_limit(emu: DiscordEmulator, path: str) -> int:
    """The upload limit of the server a request posts into (what its interactions announce as
    ``attachment_size_limit``); the default where the route names no server."""
    world = emu.world
    guild_id: int | None = None
    if match := _CHANNEL_PATH.match(path):
        channel = world.channels.get(int(match.group(1)))
        guild_id = channel.guild_id if channel is not None else None
    elif match := _WEBHOOK_PATH.match(path):
        if int(match.group(1)) == world.application_id:
            record = emu.interactions.by_token(match.group(2))
            guild_id = int(record.payload["guild_id"]) if record is not None else None
        elif (webhook := world.webhooks.get(int(match.group(1)))) is not None:
            guild_id = webhook.guild_id
    elif match := _CALLBACK_PATH.match(path):
        found = emu.interactions.records.get(int(match.group(1)))
        guild_id = int(found.payload["guild_id"]) if found is not None else None
    guild = world.guilds.get(guild_id) if guild_id is not None else None
    return guild.attachment_size_limit if guild is not None else DEFAULT_UPLOAD_LIMIT


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)  # the gateway websocket and attachment downloads
    emu = emu_of(request)
    path = request.path[len(API_PREFIX) :]
    headers = {h: request.headers[h] for h in INTERESTING_HEADERS if h in request.headers}
    record = RecordedRequest(request.method, path, dict(request.query), headers)
    emu.recorder.add(record)
    try:
        record.json, record.files = await _read_body(request)
        request[BODY], request[UPLOADS] = record.json, record.files
        if record.files:  # Reference > Uploading Files: a per-file limit (see limits.py)
            check_upload_sizes([len(u.data) for u in record.files], upload_limit(emu, path))
        response: web.StreamResponse | None = emu.faults.take(request.method, path)
        record.injected_fault = response is not None
        if response is None:
            token_route = _TOKEN_ROUTE.match(path) is not None
            if not token_route and headers.get("Authorization") != f"Bot {emu.world.token}":
                raise errors.unauthorized()
            response = await handler(request)
    except errors.ApiError as exc:
        response = json_response(exc.body(), exc.status)
    except web.HTTPException as exc:  # unknown route or method: Discord answers with JSON too
        response = json_response({"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status)
    except Exception as exc:
        # An emulator bug: keep it for the test to fail on, and answer 400 rather than 500 so
        # discord.py raises at once instead of retrying with back-off.
        emu.internal_errors.append(exc)
        response = json_response({"message": f"emulator error: {exc!r}", "code": 0}, 400)
    record.status = response.status
    emu.recorder.completed(record)
    return response


# -- small routes ---------------------------------------------------------------------------


async def get_gateway(request: web.Request) -> web.Response:
    return json_response({"url": emu_of(request).gateway_url})


async def get_gateway_bot(request: web.Request) -> web.Response:
    limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
    return json_response(
        {
            "url": emu_of(request).gateway_url,
            "shards": emu_of(request).recommended_shards,
            "session_start_limit": limit,
        }
    )


async def get_me(request: web.Request) -> web.Response:
    return json_response(payloads.current_user(emu_of(request).world.bot))


async def get_user(request: web.Request) -> web.Response:
    user = emu_of(request).world.users.get(snowflake_arg(request, "user_id"))
    if user is None:
        raise errors.not_found("User", 10013)
    return json_response(payloads.user(user))


async def get_application(request: web.Request) -> web.Response:
    return json_response(payloads.application(emu_of(request).world))


async def get_channel(request: web.Request) -> web.Response:
    channel = channel_arg(request)
    if not emu_of(request).bot_permissions_in(channel):
        raise errors.missing_access()
    return json_response(payloads.channel(channel))


async def get_guild(request: web.Request) -> web.Response:
    return json_response(payloads.guild(guild_arg(request)))


async def get_guild_channels(request: web.Request) -> web.Response:
    guild = guild_arg(request)
    return json_response([payloads.channel(c) for c in guild.text_channels])


async def get_guild_roles(request: web.Request) -> web.Response:
    return json_response([payloads.role(r) for r in guild_arg(request).roles.values()])


async def get_member(request: web.Request) -> web.Response:
    guild = guild_arg(request)
    raw = request.match_info["user_id"]
    user_id = emu_of(request).world.bot.id if raw == "@me" else snowflake_arg(request, "user_id")
    member = guild.members.get(user_id)
    if member is None:
        raise errors.not_found("Member", 10007)
    return json_response(payloads.member(member))


async def get_file(request: web.Request) -> web.Response:
    """Attachment download (what discord.py's ``Attachment.read()`` fetches)."""
    stored = emu_of(request).world.files.get(int(request.match_info["file_id"]))
    if stored is None:
        raise web.HTTPNotFound()
    return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})


def add_routes(app: web.Application) -> None:
    r = app.router
    a = API_PREFIX
    r.add_get(f"{a}/gateway", get_gateway)
    r.add_get(f"{a}/gateway/bot", get_gateway_bot)
    r.add_get(f"{a}/users/@me", get_me)
    r.add_get(f"{a}/users/{{user_id}}", get_user)
    r.add_get(f"{a}/oauth2/applications/@me", get_application)
    r.add_get(f"{a}/applications/@me", get_application)
    r.add_get(f"{a}/channels/{{channel_id}}", get_channel)
    r.add_get(f"{a}/guilds/{{guild_id}}", get_guild)
    r.add_get(f"{a}/guilds/{{guild_id}}/channels", get_guild_channels)
    r.add_get(f"{a}/guilds/{{guild_id}}/roles", get_guild_roles)
    r.add_get(f"{a}/guilds/{{guild_id}}/members/{{user_id}}", get_member)
    r.add_get("/attachments/{channel_id}/{file_id}/{filename}", get_file)
