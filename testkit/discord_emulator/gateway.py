"""The emulated gateway: HELLO/IDENTIFY/READY, heartbeats, sequenced dispatch and RESUME.

A session identified with ``shard: [id, count]`` gets only its shard's guild events, as on
Discord: a guild belongs to shard ``(guild_id >> 22) % count``, DMs to shard 0.

A *session* (created by IDENTIFY) outlives its websocket *connection*: events dispatched
while no connection is attached are buffered and replayed when the client RESUMEs with the
last sequence number it saw, exactly the contract discord.py relies on.
"""

# Explicit `timeout=` parameters are the point of these test helpers: every wait is bounded.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from testkit.discord_emulator import intents as intent_rules
from testkit.discord_emulator.recorder import Waiters

HEARTBEAT_INTERVAL_MS = 41250
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_ACK = 7, 8, 9, 10, 11
CLOSE_INVALID_SHARD = 4010


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """Which shard receives a guild's events (Discord's formula; DMs go to shard 0)."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild a dispatch event belongs to (None: a DM or a user-level event)."""
    if data.get("guild_id") is not None:
        return int(data["guild_id"])
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") and data.get("id") is not None:
        return int(data["id"])
    return None


@dataclass
class GatewayFrame:
    """A frame the client sent (op, payload), with the connection path it arrived on."""

    op: int
    d: Any
    path: str
    session_id: str | None
    timestamp: float = field(default_factory=time.monotonic)


class Connection:
    """One websocket; all outgoing frames go through one queue so ordering is preserved."""

    def __init__(self, ws: web.WebSocketResponse, path: str, compress: bool) -> None:
        self.ws = ws
        self.path = path
        self.session: Session | None = None
        self._queue: asyncio.Queue[dict[str, Any] | int] = asyncio.Queue()
        # zlib-stream: one deflate context for the whole connection, each frame SYNC_FLUSHed.
        self._zlib = zlib.compressobj() if compress else None
        self.closed = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, frame: dict[str, Any]) -> None:
        self._queue.put_nowait(frame)

    def close_after_pending(self, code: int) -> None:
        self._queue.put_nowait(code)

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, int):
                    await self.ws.close(code=item, message=b"emulator closed the connection")
                    return
                text = json.dumps(item)
                if self._zlib is None:
                    await self.ws.send_str(text)
                else:
                    chunk = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(chunk)
        except (ConnectionError, RuntimeError):
            return  # the peer went away; the read loop notices and cleans up
        finally:
            self.closed.set()

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self.closed.set()


class Session:
    def __init__(self, token: str, intents: int, shard: tuple[int, int] | None = None) -> None:
        self.id = secrets.token_hex(16)
        self.token = token
        self.intents = intents
        self.shard = shard  # (shard id, shard count) from IDENTIFY; None = unsharded
        self.seq = 0
        self.buffer: list[dict[str, Any]] = []
        self.connection: Connection | None = None

    def receives(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the events of ``guild_id`` (None: DMs)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id

    def dispatch(self, event: str, data: dict[str, Any], bot_id: int) -> None:
        shaped = intent_rules.shape(event, data, self.intents, bot_id)
        if shaped is None:
            return  # the session did not ask for this event's intent: Discord never sends it
        self.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": shaped}
        self.buffer.append(frame)
        if self.connection is not None:
            self.connection.send(frame)


class Gateway:
    """Serves websocket connections; ``ready_payloads`` builds READY + GUILD_CREATEs."""

    def __init__(
        self,
        *,
        token: Callable[[], str],
        bot_id: int,
        ready_payloads: Callable[[Session], list[tuple[str, dict[str, Any]]]],
        member_chunk: Callable[[dict[str, Any]], dict[str, Any] | None],
        privileged_allowed: int,
        compression: bool,
    ) -> None:
        self._token = token
        self._bot_id = bot_id
        self._ready_payloads = ready_payloads
        self._member_chunk = member_chunk
        self.privileged_allowed = privileged_allowed
        self.compression = compression
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.frames: list[GatewayFrame] = []
        self.connect_log: list[tuple[str, dict[str, str]]] = []
        self.frame_waiters: Waiters[GatewayFrame] = Waiters()

    # -- test-side controls -------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        guild_id = guild_of(event, data)
        for session in self.sessions.values():
            if session.receives(guild_id):
                session.dispatch(event, data, self._bot_id)

    def active(self) -> list[Connection]:
        return [c for c in self.connections if c.session is not None and not c.closed.is_set()]

    async def drop(self, code: int, timeout: float) -> None:
        """Close every identified connection with ``code`` and wait until they are closed."""
        conns = self.active()
        for conn in conns:
            self._detach(conn)
            conn.close_after_pending(code)
        await asyncio.wait_for(asyncio.gather(*(c.closed.wait() for c in conns)), timeout)

    def send_op(self, op: int, d: Any) -> None:
        for conn in self.active():
            conn.send({"op": op, "d": d, "s": None, "t": None})

    async def close_all(self, timeout: float) -> None:
        for conn in list(self.connections):
            conn.close_after_pending(1001)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.closed.wait() for c in self.connections)), timeout
            )
        for conn in list(self.connections):
            await conn.stop()

    # -- websocket handling -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=5.0)
        await ws.prepare(request)
        query = dict(request.query)
        self.connect_log.append((request.path, query))
        compress = self.compression and query.get("compress") == "zlib-stream"
        conn = Connection(ws, request.path, compress)
        self.connections.append(conn)
        conn.send({"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                self._on_frame(conn, json.loads(msg.data))
        finally:
            self._detach(conn)
            await conn.stop()
            self.connections.remove(conn)
        return ws

    def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op, d = int(frame.get("op", -1)), frame.get("d") or {}
        record = GatewayFrame(op, d, conn.path, conn.session.id if conn.session else None)
        self.frames.append(record)
        if op == OP_HEARTBEAT:
            conn.send({"op": OP_ACK, "d": None})
        elif op == OP_IDENTIFY:
            self._identify(conn, d)
        elif op == OP_RESUME:
            self._resume(conn, d)
        elif op == OP_REQUEST_MEMBERS and conn.session is not None:
            chunk = self._member_chunk(d)
            if chunk is not None:
                conn.session.dispatch("GUILD_MEMBERS_CHUNK", chunk, self._bot_id)
        self.frame_waiters.notify(record)

    def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close_after_pending(4005)  # Already authenticated
            return
        if d.get("token") != self._token():
            conn.close_after_pending(4004)  # Authentication failed
            return
        intents = int(d.get("intents", 0))
        if intents & intent_rules.PRIVILEGED & ~self.privileged_allowed:
            conn.close_after_pending(4014)  # Disallowed intent(s)
            return
        shard = d.get("shard")
        if shard is not None:
            shard_id, count = (int(x) for x in shard)
            if not 0 <= shard_id < count:
                conn.close_after_pending(CLOSE_INVALID_SHARD)
                return
            shard = (shard_id, count)
        session = Session(d["token"], intents, shard)
        self.sessions[session.id] = session
        self._attach(conn, session)
        for event, data in self._ready_payloads(session):
            session.dispatch(event, data, self._bot_id)

    def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        session = self.sessions.get(d.get("session_id", ""))
        if session is None or d.get("token") != session.token:
            conn.send({"op": OP_INVALID_SESSION, "d": False})
            return
        if session.connection is not None and session.connection is not conn:
            old = session.connection
            self._detach(old)
            old.close_after_pending(4000)
        self._attach(conn, session)
        last = d.get("seq") or 0
        for frame in session.buffer:
            if frame["s"] > last:
                conn.send(frame)
        session.dispatch("RESUMED", {"_trace": ["emulator"]}, self._bot_id)

    @staticmethod
    def _attach(conn: Connection, session: Session) -> None:
        conn.session = session
        session.connection = conn

    @staticmethod
    def _detach(conn: Connection) -> None:
        if conn.session is not None and conn.session.connection is conn:
            conn.session.connection = None
        conn.session = None
