"""Building INTERACTION_CREATE payloads (slash commands, autocomplete, components, modals)."""

from __future__ import annotations

import secrets
from typing import Any

from testkit.discord_emulator import interaction_rules, payloads
from testkit.discord_emulator.messages import MessageService, Upload
from testkit.discord_emulator.state import Channel, Member, Role, StoredMessage, User, World

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, User | Member):
        return USER
    if isinstance(value, Channel):
        return CHANNEL
    if isinstance(value, Role):
        return ROLE
    if isinstance(value, Upload):
        return ATTACHMENT
    return STRING


class InteractionPayloads:
    def __init__(self, world: World, messages: MessageService) -> None:
        self._world = world
        self._messages = messages

    def base(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: User,
        channel: Channel,
        message: StoredMessage | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """The envelope every guild interaction carries, as discord.py 2.7 reads it."""
        world = self._world
        guild = world.guild_of(channel)
        member = guild.members.get(user.id)
        if member is None:
            raise ValueError(f"{user.username} is not a member of {guild.name}")
        payload: dict[str, Any] = {
            "id": str(world.next_id()),
            "application_id": str(world.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": payloads.interaction_guild(guild),
            "channel_id": str(channel.id),
            "channel": {
                **payloads.channel(channel),
                "permissions": str(world.permissions_in(channel, user.id)),
            },
            "member": payloads.member(member, permissions=world.permissions_in(channel, user.id)),
            "token": secrets.token_urlsafe(64),
            "version": 1,
            "app_permissions": str(world.permissions_in(channel, world.bot.id)),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": guild.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = message.data
        return payload

    # -- application commands -----------------------------------------------------------------

    def command_data(
        self,
        path: list[str],
        options: dict[str, Any],
        *,
        channel: Channel,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """``data`` for a chat-input command; ``path`` is ``[command, (group,) subcommand]``."""
        synced = self._find_command(path[0], channel.guild_id)
        schema = self._schema(synced, path)
        if synced is not None:
            self._check_typed(path, schema, options, focused)
        resolved: dict[str, dict[str, Any]] = {}
        leaf = [
            self._option(name, value, schema.get(name), resolved, channel, focused == name)
            for name, value in options.items()
        ]
        # Wrap the leaf options in the subcommand (group) options, innermost first.
        nested = leaf
        for depth in range(len(path) - 1, 0, -1):
            kind = SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP
            nested = [{"type": kind, "name": path[depth], "options": nested}]
        data: dict[str, Any] = {
            "id": synced["id"] if synced else str(self._world.next_id()),
            "name": path[0],
            "type": 1,
            "options": nested,
        }
        if synced and synced.get("guild_id"):
            data["guild_id"] = synced["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    @staticmethod
    def _check_typed(
        path: list[str],
        schema: dict[str, dict[str, Any]],
        options: dict[str, Any],
        focused: str | None,
    ) -> None:
        """Discord's client sends only options the synced command has, every required one,
        and values within their choices and limits (Application Commands > Application Command
        Option Structure); anything else cannot be typed, so the test itself is wrong."""
        unknown = set(options) - set(schema)
        if unknown:
            raise ValueError(f"/{' '.join(path)} has no options {sorted(unknown)}")
        if focused is None:
            missing = [n for n, o in schema.items() if o.get("required") and n not in options]
            if missing:
                raise ValueError(f"/{' '.join(path)} needs {missing}")
        for name, value in options.items():
            option = schema[name]
            if name != focused and int(option.get("type", 0)) in (
                interaction_rules.STRING,
                interaction_rules.INTEGER,
                interaction_rules.NUMBER,
            ):
                interaction_rules.check_typed_value(option, value)

    def _find_command(self, name: str, guild_id: int) -> dict[str, Any] | None:
        scoped = self._world.commands.get(guild_id, []) + self._world.commands.get(None, [])
        return next((c for c in scoped if c["name"] == name and c.get("type", 1) == 1), None)

    @staticmethod
    def _schema(synced: dict[str, Any] | None, path: list[str]) -> dict[str, dict[str, Any]]:
        """Option definitions of the invoked (sub)command, from what the bot synced."""
        options = (synced or {}).get("options", [])
        for name in path[1:]:
            parent = next((o for o in options if o["name"] == name), None)
            options = (parent or {}).get("options", [])
        return {o["name"]: o for o in options}

    def _option(
        self,
        name: str,
        value: Any,
        schema: dict[str, Any] | None,
        resolved: dict[str, dict[str, Any]],
        channel: Channel,
        focused: bool,
    ) -> dict[str, Any]:
        kind = schema["type"] if schema else _infer_type(value)
        option: dict[str, Any] = {"name": name, "type": kind}
        if focused:
            option["focused"] = True
        if focused or kind == STRING:
            option["value"] = str(value)  # a focused option carries what the user typed so far
        elif kind in (USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT):
            option["value"] = str(self._resolve(value, resolved, channel))
        elif kind == INTEGER:
            option["value"] = int(value)
        elif kind == NUMBER:
            option["value"] = float(value)
        else:
            option["value"] = value
        return option

    def _resolve(self, value: Any, resolved: dict[str, dict[str, Any]], channel: Channel) -> int:
        world = self._world
        guild = world.guild_of(channel)
        if isinstance(value, Member):
            value = value.user
        if isinstance(value, User):
            resolved.setdefault("users", {})[str(value.id)] = payloads.user(value)
            member = guild.members.get(value.id)
            if member is not None:
                perms = world.permissions_in(channel, value.id)
                resolved.setdefault("members", {})[str(value.id)] = payloads.member(
                    member, with_user=False, permissions=perms
                )
            return value.id
        if isinstance(value, Channel):
            entry = payloads.channel(value)
            entry["permissions"] = str(world.permissions_in(value, world.bot.id))
            resolved.setdefault("channels", {})[str(value.id)] = entry
            return value.id
        if isinstance(value, Role):
            resolved.setdefault("roles", {})[str(value.id)] = payloads.role(value)
            return value.id
        if isinstance(value, Upload):
            stored = self._messages.store_file(channel.id, value)
            entry = {**payloads.attachment(stored), "ephemeral": True}
            resolved.setdefault("attachments", {})[str(stored.id)] = entry
            return stored.id
        raise TypeError(f"cannot resolve option value {value!r}")

    # -- components and modals ----------------------------------------------------------------

    @staticmethod
    def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
        """Depth-first search through rows, containers, sections and labels."""
        for component in components:
            if component.get("custom_id") == custom_id:
                return component
            children = list(component.get("components", []))
            for key in ("component", "accessory"):
                if isinstance(component.get(key), dict):
                    children.append(component[key])
            found = InteractionPayloads.find_component(children, custom_id)
            if found is not None:
                return found
        return None

    @staticmethod
    def modal_submission(
        modal: dict[str, Any] | None, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Submitted components mirroring the modal the bot opened (rows or labels)."""
        if modal is None:
            return [
                {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
                for cid, value in values.items()
            ]
        result = []
        for top in modal.get("components", []):
            if top.get("type") == 18:  # Label wrapping one component
                inner = top["component"]
                result.append({"type": 18, "component": _submitted(inner, values)})
            elif top.get("type") == 1:
                row = [_submitted(c, values) for c in top.get("components", [])]
                result.append({"type": 1, "components": row})
        return result


def _submitted(component: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    custom_id = str(component.get("custom_id", ""))
    value = values.get(custom_id, component.get("value", ""))
    submitted: dict[str, Any] = {"type": component["type"], "custom_id": custom_id}
    if component["type"] == 4:
        submitted["value"] = value
    else:  # selects submit a list of values
        submitted["values"] = value if isinstance(value, list) else [value]
    return submitted
