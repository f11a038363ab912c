"""Interaction callback route and application command registration (what ``tree.sync`` hits)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from testkit.discord_emulator import errors, interaction_rules
from testkit.discord_emulator.rest import (
    API_PREFIX,
    BODY,
    body_of,
    emu_of,
    json_response,
    no_content,
    snowflake_arg,
    uploads_of,
)


async def interaction_callback(request: web.Request) -> web.Response:
    emu = emu_of(request)
    result = emu.interactions.callback(
        snowflake_arg(request, "interaction_id"),
        request.match_info["token"],
        body_of(request),
        uploads_of(request),
    )
    # Without ?with_response Discord answers 204; discord.py always asks for the body.
    if request.query.get("with_response", "").lower() in ("1", "true"):
        return json_response(result)
    return no_content()


def _scope(request: web.Request) -> int | None:
    emu = emu_of(request)
    if snowflake_arg(request, "application_id") != emu.world.application_id:
        raise errors.ApiError(
            403, 20012, "You are not authorized to perform this action on this application"
        )
    if "guild_id" not in request.match_info:
        return None
    guild_id = snowflake_arg(request, "guild_id")
    if guild_id not in emu.world.guilds:
        raise errors.missing_access()
    return guild_id


def _normalise(request: web.Request, scope: int | None, command: dict[str, Any]) -> dict[str, Any]:
    """Store a command like Discord returns it, keeping ids stable across re-syncs by name."""
    emu = emu_of(request)
    interaction_rules.check_command(command)  # Application Commands: names, lengths, options
    name = command.get("name") or ""
    kind = int(command.get("type", 1))
    previous = next(
        (c for c in emu.world.commands.get(scope, []) if c["name"] == name and c["type"] == kind),
        None,
    )
    stored = {
        "id": previous["id"] if previous else str(emu.world.next_id()),
        "application_id": str(emu.world.application_id),
        "version": str(emu.world.next_id()),
        "type": kind,
        "name": name,
        "description": command.get("description", ""),
        "options": command.get("options", []),
        "default_member_permissions": command.get("default_member_permissions"),
        "dm_permission": command.get("dm_permission", True),
        "nsfw": command.get("nsfw", False),
        "contexts": command.get("contexts"),
        "integration_types": command.get("integration_types", [0]),
        "name_localizations": command.get("name_localizations"),
        "description_localizations": command.get("description_localizations"),
    }
    if scope is not None:
        stored["guild_id"] = str(scope)
    return stored


async def list_commands(request: web.Request) -> web.Response:
    return json_response(emu_of(request).world.commands.get(_scope(request), []))


async def bulk_overwrite(request: web.Request) -> web.Response:
    scope = _scope(request)
    body = request[BODY]
    if not isinstance(body, list):
        raise errors.invalid_form({"_": ("BASE_TYPE_ARRAY", "Must be an array.")})
    interaction_rules.check_command_set(body)  # Registering a Command: counts, unique names
    commands = [_normalise(request, scope, c) for c in body]
    emu_of(request).world.commands[scope] = commands
    return json_response(commands)


async def upsert_command(request: web.Request) -> web.Response:
    scope = _scope(request)
    stored = _normalise(request, scope, body_of(request))
    commands = emu_of(request).world.commands.setdefault(scope, [])
    commands[:] = [c for c in commands if c["id"] != stored["id"]] + [stored]
    return json_response(stored, 201)


async def delete_command(request: web.Request) -> web.Response:
    scope = _scope(request)
    commands = emu_of(request).world.commands.get(scope, [])
    command_id = request.match_info["command_id"]
    if not any(c["id"] == command_id for c in commands):
        raise errors.not_found("application command", 10063)
    commands[:] = [c for c in commands if c["id"] != command_id]
    return no_content()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(
        f"{API_PREFIX}/interactions/{{interaction_id}}/{{token}}/callback", interaction_callback
    )
    for base in (
        f"{API_PREFIX}/applications/{{application_id}}/commands",
        f"{API_PREFIX}/applications/{{application_id}}/guilds/{{guild_id}}/commands",
    ):
        r.add_get(base, list_commands)
        r.add_put(base, bulk_overwrite)
        r.add_post(base, upsert_command)
        r.add_delete(f"{base}/{{command_id}}", delete_command)
