"""``DiscordEmulator``: lifecycle, gateway controls, waiting helpers and fault injection.

World builders live in :class:`~testkit.discord_emulator.builders.BuilderMixin` and test-side
user actions (messages, commands, clicks, modals) in
:class:`~testkit.discord_emulator.driver.DriverMixin`; this class includes both.
"""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiohttp import web

from testkit.discord_emulator import (
    intents,
    payloads,
    rest,
    rest_interactions,
    rest_messages,
    rest_webhooks,
)
from testkit.discord_emulator.builders import BuilderMixin
from testkit.discord_emulator.driver import DriverMixin
from testkit.discord_emulator.faults import Fault, FaultInjector
from testkit.discord_emulator.gateway import (
    OP_INVALID_SESSION,
    OP_RECONNECT,
    Gateway,
    GatewayFrame,
    Session,
)
from testkit.discord_emulator.interaction_payloads import InteractionPayloads
from testkit.discord_emulator.interactions import InteractionService
from testkit.discord_emulator.messages import Author, MessageService
from testkit.discord_emulator.recorder import RecordedRequest, Recorder, Waiters
from testkit.discord_emulator.state import (
    Channel,
    StoredMessage,
    User,
    World,
)

RESUMABLE_CLOSE = 4000  # "Unknown error": discord.py reconnects and RESUMEs


class DiscordEmulator(BuilderMixin, DriverMixin):
    """A loopback Discord (REST + gateway) for driving a real discord.py client.

    Usage::

        async with DiscordEmulator() as emu:
            guild = emu.add_guild("Tavern")
            channel = emu.add_text_channel(guild, "rp")
            alice = emu.add_member(guild, "alice", nick="Alice")
            async with running_bot(MyBot(), emu) as bot:  # or point_discord_py_at(emu)
                await emu.send_message(channel, alice, "hi")
                reply = await emu.wait_for_message(channel, lambda m: m.author_id == emu.bot.id)
    """

    def __init__(
        self,
        *,
        token: str = "emulator-bot-token",
        bot_name: str = "Galatea",
        callback_deadline: float = 3.0,
        privileged_intents: int = intents.PRIVILEGED,
        gateway_compression: bool = True,
        shards: int = 1,
    ) -> None:
        # What GET /gateway/bot recommends (AutoShardedBot without shard_count uses it).
        self.recommended_shards = shards
        self.world = World(token=token, bot_name=bot_name)
        self.recorder = Recorder()
        self.faults = FaultInjector()
        self._message_waiters: Waiters[StoredMessage] = Waiters()
        self.messages = MessageService(
            self.world, self.dispatch, self._file_url, self._message_waiters.notify
        )
        self.interactions = InteractionService(
            self.world, self.messages, callback_deadline=callback_deadline
        )
        self.interaction_payloads = InteractionPayloads(self.world, self.messages)
        self.gateway = Gateway(
            token=lambda: self.world.token,
            bot_id=self.world.bot.id,
            ready_payloads=self._ready_payloads,
            member_chunk=self._member_chunk,
            privileged_allowed=privileged_intents,
            compression=gateway_compression,
        )
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Exceptions raised inside REST handlers (emulator bugs); tests should assert it empty.
        self.internal_errors: list[BaseException] = []

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> DiscordEmulator:
        app = web.Application(middlewares=[rest.api_middleware], client_max_size=64 * 1024**2)
        app[rest.EMU] = self
        for module in (rest, rest_messages, rest_webhooks, rest_interactions):
            module.add_routes(app)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self, timeout: float = 5.0) -> None:
        if self._runner is None:
            return
        await self.gateway.close_all(timeout=timeout / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._runner.cleanup(), timeout)
        self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and identities -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume"

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def bot(self) -> User:
        return self.world.bot

    @property
    def application_id(self) -> int:
        return self.world.application_id

    def bot_author(self) -> Author:
        return Author(payloads.user(self.world.bot), self.world.bot.id)

    def bot_permissions_in(self, channel: Channel) -> int:
        return self.world.permissions_in(channel, self.world.bot.id)

    def _file_url(self, channel_id: int, file_id: int, filename: str) -> str:
        return f"{self.base_url}/attachments/{channel_id}/{file_id}/{quote(filename)}"

    # -- gateway ------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a raw dispatch event to every session (buffered while disconnected)."""
        self.gateway.dispatch(event, data)

    def _ready_payloads(self, session: Session) -> list[tuple[str, dict[str, Any]]]:
        world = self.world
        guilds = [g for g in world.guilds.values() if session.receives(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": payloads.current_user(world.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(world.application_id), "flags": payloads.APPLICATION_FLAGS},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["emulator"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        events: list[tuple[str, dict[str, Any]]] = [("READY", ready)]
        for guild in guilds:
            # Without GUILD_PRESENCES Discord only sends the bot itself; clients chunk the rest.
            everyone = session.intents & intents.GUILD_PRESENCES
            members = list(guild.members.values()) if everyone else [world.bot_member(guild)]
            events.append(("GUILD_CREATE", payloads.guild_create(guild, members=members)))
        return events

    def _member_chunk(self, d: dict[str, Any]) -> dict[str, Any] | None:
        guild = self.world.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return None
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif d.get("query"):
            q = str(d["query"]).lower()
            members = [
                m
                for m in members
                if m.user.username.lower().startswith(q) or (m.nick or "").lower().startswith(q)
            ]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk = {
            "guild_id": str(guild.id),
            "members": [payloads.member(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        return chunk

    async def drop_gateway(self, code: int = RESUMABLE_CLOSE, timeout: float = 5.0) -> None:
        """Close the bot's websocket server-side; with a resumable code it should RESUME."""
        await self.gateway.drop(code, timeout)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py closes and RESUMEs."""
        self.gateway.send_op(OP_RECONNECT, None)

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; ``resumable=False`` forces a fresh IDENTIFY."""
        if not resumable:
            self.gateway.sessions.clear()
        self.gateway.send_op(OP_INVALID_SESSION, resumable)

    def gateway_frames(self, op: int | None = None) -> list[GatewayFrame]:
        return [f for f in self.gateway.frames if op is None or f.op == op]

    async def wait_for_gateway_op(
        self, op: int, predicate: Callable[[GatewayFrame], bool] | None = None, timeout: float = 5.0
    ) -> GatewayFrame:
        """The first frame with ``op`` the client sent (already or later)."""
        return await self.gateway.frame_waiters.wait(
            self.gateway.frames,
            lambda f: f.op == op and (predicate is None or predicate(f)),
            timeout,
            f"gateway op {op}",
        )

    # -- recorded requests, stored messages, faults --------------------------------------------

    def requests_matching(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests by method and path regex (searched, relative to ``/api/v10``)."""
        return self.recorder.matching(method, path)

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """The first completed request (already or later) matching method/path/predicate."""
        return await self.recorder.wait_for(
            lambda r: r.matches(method, path) and (predicate is None or predicate(r)), timeout
        )

    def messages_in(self, channel: Channel | int) -> list[StoredMessage]:
        """Visible messages in a channel or thread, oldest first."""
        return self.world.channel_messages(channel if isinstance(channel, int) else channel.id)

    async def wait_for_message(
        self,
        channel: Channel | int | None = None,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """The first stored message (already or later) in ``channel`` matching ``predicate``.

        Ephemeral messages are included (check ``.ephemeral``); deleted ones are not.
        """
        channel_id = channel.id if isinstance(channel, Channel) else channel

        def wanted(m: StoredMessage) -> bool:
            if m.deleted or (channel_id is not None and m.channel_id != channel_id):
                return False
            return predicate is None or predicate(m)

        existing = list(self.world.messages.values())
        return await self._message_waiters.wait(existing, wanted, timeout, "a matching message")

    def fail_next(
        self,
        method: str | None,
        path_pattern: str,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        times: int = 1,
        via: bool = True,
        is_global: bool = False,
        body: Any = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them.

        A 429 carries ``Via`` and a JSON ``retry_after`` (what discord.py needs to retry);
        ``via=False`` imitates a Cloudflare ban. ``path_pattern`` is a regex searched in the
        path relative to ``/api/v10``.
        """
        return self.faults.add(
            method,
            path_pattern,
            status=status,
            times=times,
            retry_after=retry_after,
            via=via,
            is_global=is_global,
            body=body,
        )
