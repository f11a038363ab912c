"""The discord.py adapter: the only module of bot/ that imports discord.

It points discord.py at the configured API (REST base and gateway), builds the typed Bot with
the core injected, loads the cogs, and runs it until SIGTERM/SIGINT with a clean shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.app import Core, open_core, require
from bot.errors import ConfigError
from bot.settings import DISCORD_API_DEFAULT, Settings

log = logging.getLogger(__name__)

COGS: tuple[str, ...] = ()


async def configure_endpoints(settings: Settings) -> None:
    """Point discord.py's REST client and gateway at the configured Discord (or a proxy).

    A plain ``Bot`` connects to a fixed gateway address; only ``AutoShardedBot`` asks
    ``GET /gateway/bot``. So when the REST base is moved and no gateway URL is given, ask it.
    """
    discord.http.Route.BASE = settings.DISCORD_API_BASE
    gateway = settings.DISCORD_GATEWAY_URL
    if gateway is None and settings.DISCORD_API_BASE != DISCORD_API_DEFAULT:
        gateway = await _discover_gateway(settings)
    if gateway is not None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
        log.info("Using Discord gateway %s", gateway)


async def _discover_gateway(settings: Settings) -> str:
    url = f"{settings.DISCORD_API_BASE}/gateway/bot"
    headers = {"Authorization": f"Bot {settings.DISCORD_TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=15)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url, headers=headers) as response,
        ):
            response.raise_for_status()
            data: dict[str, Any] = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"Could not ask {url} for the gateway address ({exc}); check DISCORD_API_BASE or "
            "set DISCORD_GATEWAY_URL."
        ) from exc
    return str(data["url"])


class GalateaBot(commands.Bot):
    """The bot, with Galatea's core injected."""

    def __init__(self, core: Core) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # roleplay needs the words people write
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.core = core
        self._background: set[asyncio.Task[Any]] = set()

    def track(self, coro: Any, *, name: str) -> asyncio.Task[Any]:
        """Run a background task whose failure is logged rather than lost."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("Background task %s failed", name, exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    async def setup_hook(self) -> None:
        # Loading a large model takes minutes: never hold the Discord connection for it.
        self.track(self.core.backend.load(), name="model-load")
        for cog in COGS:
            await self.load_extension(cog)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await super().close()


async def run_discord_bot(settings: Settings) -> int:
    require(settings, "DISCORD_TOKEN")
    await configure_endpoints(settings)
    core = await open_core(settings, load_model=False)
    bot = GalateaBot(core)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # discord.py handles Ctrl-C only in Client.run; a container stop sends SIGTERM.
        loop.add_signal_handler(sig, lambda s=sig: _shutdown(bot, s))
    try:
        async with bot:
            await bot.start(settings.DISCORD_TOKEN)
    except discord.LoginFailure as exc:
        raise ConfigError(
            "Setting DISCORD_TOKEN was rejected by Discord: copy the bot token again from the "
            "developer portal."
        ) from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(
            "Discord refused the Message Content intent: enable it for this application in the "
            "developer portal (Bot > Privileged Gateway Intents)."
        ) from exc
    finally:
        await core.close()
    return 0


def _shutdown(bot: GalateaBot, sig: signal.Signals) -> None:
    log.info("Received %s: shutting down", sig.name)
    bot.track(bot.close(), name="shutdown")
