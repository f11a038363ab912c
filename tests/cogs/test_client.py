"""The discord.py adapter outside the cogs: endpoints, login back-off, shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import discord
from aiohttp import web

from bot.app import assemble
from bot.settings import Settings
from bot.store import Database
from bot.values import Role
from cogs.client import configure_endpoints, login_delay, record_login
from testkit.discord_emulator import DiscordEmulator, discord_py_globals_restored
from testkit.harness import build_world, is_character_message, wait_for_reply
from tests.cogs.test_roleplay_end_to_end import create_aqua, start_session
from tests.inference.fake_http import FakeServer, Received, endless_stream, sse, stream_events
from tests.support.recording_backend import RecordingBackend

ROOT = Path(__file__).resolve().parents[2]


async def test_a_moved_rest_base_brings_its_gateway_with_it() -> None:
    async with DiscordEmulator() as emu:
        settings = Settings(DISCORD_TOKEN=emu.token, DISCORD_API_BASE=emu.api_url)
        with discord_py_globals_restored():
            await configure_endpoints(settings)
            assert discord.http.Route.BASE == emu.api_url
            assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == emu.gateway_url
        assert emu.requests_matching("GET", r"^/gateway/bot$")


async def test_an_explicit_gateway_url_is_used_as_is() -> None:
    settings = Settings(
        DISCORD_GATEWAY_URL="ws://127.0.0.1:9/", DISCORD_API_BASE="http://127.0.0.1:9/api/v10"
    )
    with discord_py_globals_restored():
        await configure_endpoints(settings)
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/"


async def test_failed_logins_back_off_across_restarts_and_reset_on_success(
    database: Database,
) -> None:
    core = assemble(Settings(MODEL="x"), database, RecordingBackend())
    assert await login_delay(core) == 0
    waits = [await record_login(core, success=False) for _ in range(12)]
    assert waits[:4] == [5, 10, 20, 40] and waits[-1] == 900
    assert (
        800 < await login_delay(core) <= 901
    )  # a restarted process waits too (stored in whole seconds)
    await record_login(core, success=True)
    assert await login_delay(core) == 0


async def test_sigterm_shuts_the_running_bot_down_cleanly(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    async with DiscordEmulator() as emu:
        emu.add_guild("Tavern")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))},
            "DISCORD_TOKEN": emu.token,
            "DISCORD_API_BASE": emu.api_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            "MODEL": str(tiny_model_path),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "run",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await emu.wait_for_gateway_op(2, timeout=30)  # IDENTIFY: the bot is connected
            await emu.wait_for_request(lambda r: True, method="PUT", path=r"/commands$", timeout=30)
            started = asyncio.get_running_loop().time()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), timeout=10)
            elapsed = asyncio.get_running_loop().time() - started
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        output = (await process.stdout.read()).decode() if process.stdout else ""
    assert code == 0, output
    assert elapsed < 10
    assert "Received SIGTERM: shutting down" in output
    assert "Traceback" not in output


class _BotProcess:
    """``main.py run`` as a child process, its output read as it comes (never a full pipe)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env, self._cwd = env, cwd
        self.lines: list[str] = []
        self.connected = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "run",
            env=self._env,
            cwd=self._cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace")
            self.lines.append(line)
            if "Connected as" in line:  # on_ready: the guild is cached, messages reach cogs
                self.connected.set()

    async def terminate(self, within: float) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took to exit."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), within)
        return code, loop.time() - started

    async def stop(self) -> str:
        """Kill it if it still runs; everything it wrote."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return "".join(self.lines)


def _slow_then_quick_openai_server() -> tuple[FakeServer, asyncio.Event]:
    """An OpenAI-compatible server whose first reply streams a word every 0.2 s (for at most
    40 s, until the client leaves) and whose later replies come at once."""
    server = FakeServer()
    server.json("GET", "/v1/models", {"data": [{"id": "slow", "max_model_len": 4096}]})
    first_streaming = asyncio.Event()

    def chunk(text: str, finish: str | None = None) -> str:
        return sse({"choices": [{"index": 0, "text": text, "finish_reason": finish}]})

    async def completions(request: web.Request, received: Received) -> web.StreamResponse:
        if len(server.paths("/v1/completions")) == 1:
            first_streaming.set()
            return await endless_stream(request, lambda i: chunk(f" word{i}"), interval=0.2)
        return await stream_events(request, [chunk("Welcome back.", "stop"), sse("[DONE]")])

    server.route("POST", "/v1/completions", completions)
    return server, first_streaming


async def test_sigterm_mid_reply_keeps_the_history_and_the_session_comes_back(
    tmp_path: Path,
) -> None:
    server, first_streaming = _slow_then_quick_openai_server()
    await server.start()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    try:
        async with DiscordEmulator() as emu:
            world = build_world(emu)
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("DISCORD_", "DATABASE_", "INFERENCE_", "MODEL"))
                },
                "DISCORD_TOKEN": emu.token,
                "DISCORD_API_BASE": emu.api_url,
                "DATABASE_URL": db_url,
                "INFERENCE_BACKEND": "openai",
                "INFERENCE_URL": f"{server.url}/v1",
                "MAX_NEW_TOKENS": "400",
            }
            first = _BotProcess(env, tmp_path)
            await first.start()
            try:
                await asyncio.wait_for(first.connected.wait(), 30)
                await create_aqua(emu, world, greeting="")
                await start_session(emu, world)
                await emu.send_message(world.channel, world.alice, "Tell me a long story.")
                await asyncio.wait_for(first_streaming.wait(), 10)
                # Tokens stream: the partial reply is on show, growing.
                partial = await emu.wait_for_message(
                    world.channel, is_character_message("Aqua"), timeout=10
                )
                assert partial.content.endswith(" …")
                code, elapsed = await first.terminate(within=10)
            finally:
                output = await first.stop()
            assert code == 0, output
            assert elapsed < 10
            assert "Received SIGTERM: shutting down" in output
            assert "Traceback" not in output
            # The half-written reply was taken away, and the channel told why.
            assert not [
                m for m in emu.messages_in(world.channel) if is_character_message("Aqua")(m)
            ]
            note = next(m for m in emu.messages_in(world.channel) if m.content.startswith("⚠️"))
            assert "Aqua was interrupted" in note.content

            database = Database(db_url)
            try:
                async with database.read() as uow:
                    session = await uow.sessions.active_in_channel(world.channel.id)
                    assert session is not None
                    stored = await uow.messages.recent(session.id, 10)
            finally:
                await database.dispose()
            assert [(m.role, m.content) for m in stored] == [(Role.HUMAN, "Tell me a long story.")]

            # Restart on the same database: the session is still on, and Aqua answers.
            second = _BotProcess(env, tmp_path)
            await second.start()
            try:
                await asyncio.wait_for(second.connected.wait(), 30)
                await emu.send_message(world.channel, world.bob, "Are you back?")
                reply = await wait_for_reply(emu, world.channel, "Aqua", timeout=15)
                code, _ = await second.terminate(within=10)
            finally:
                output = await second.stop()
            assert reply.content == "Welcome back.", output
            assert code == 0 and "Traceback" not in output, output
            prompt = server.paths("/v1/completions")[-1].body["prompt"]
            assert "Alice: Tell me a long story." in prompt and "Bob: Are you back?" in prompt
    finally:
        await server.stop()
