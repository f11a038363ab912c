"""The discord.py adapter outside the cogs: endpoints, login back-off, shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import discord

from bot.app import assemble
from bot.client import configure_endpoints, login_delay, record_login
from bot.settings import Settings
from bot.store import Database
from tests.discord_emulator import DiscordEmulator, discord_py_globals_restored
from tests.support.recording_backend import RecordingBackend

ROOT = Path(__file__).resolve().parents[1]


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
