"""The discord.py client: the typed Bot that carries the core and loads the cogs.

It points discord.py at the configured API (REST base and gateway), builds the typed Bot with
the core injected, loads the cogs, syncs slash commands when they changed, turns errors into
answers people can act on, and runs until SIGTERM/SIGINT with a clean shutdown.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import time
import uuid
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.app import Core, open_core, require
from bot.errors import BackendUnavailable, ConfigError, GalateaError
from bot.model_files.setup import LOCAL_BACKENDS
from bot.policy import OPERATOR
from bot.roleplay.channel import ChannelRoleplay
from bot.settings import DISCORD_API_DEFAULT, Settings

if TYPE_CHECKING:
    from cogs.roleplay import RoleplayCog

log = logging.getLogger(__name__)

# cogs.cards adds its commands to /character, so it comes after cogs.characters.
COGS = (
    "cogs.characters",
    "cogs.cards",
    "cogs.lore",
    "cogs.sessions",
    "cogs.config",
    "cogs.roleplay",
    "cogs.personas",
    "cogs.impersonate",
    "cogs.privacy",
    "cogs.memory",
)
LOGIN_BACKOFF_BASE = 5.0
LOGIN_BACKOFF_MAX = 900.0
SHUTDOWN_GRACE = 8.0  # seconds; a container stop allows about 10
RETENTION_INTERVAL = 24 * 3600.0  # seconds between pruning runs
SERVER_RETRY_FIRST = 5.0  # seconds before asking an unreachable inference server again
SERVER_RETRY_MAX = 60.0
# The README's permissions: View Channels, Send Messages (and in threads), Create Public
# Threads, Manage Webhooks, Read Message History, Embed Links, Attach Files, Use App Commands.
INVITE_PERMISSIONS = 311922117632


def invite_url(application_id: int) -> str:
    """The link that adds this bot to a server with the permissions Galatea needs."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )


async def configure_endpoints(settings: Settings) -> None:
    """Point discord.py's REST client and gateway at the configured Discord (or a proxy).

    A plain ``Bot``, and an ``AutoShardedBot`` told its shard count (SHARD_COUNT), connect to a
    fixed gateway address; only an ``AutoShardedBot`` without one asks ``GET /gateway/bot``.
    So when the REST base is moved and no gateway URL is given, ask it.
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


class GalateaTree(app_commands.CommandTree["GalateaBot"]):
    """One place where errors become answers: ephemeral, polite, actionable."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError | Exception
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CheckFailure) and interaction.response.is_done():
            return  # the check already told the user why
        if isinstance(original, GalateaError):
            message = original.user_message
        elif isinstance(error, app_commands.CheckFailure):
            message = "You cannot use this command here."
        else:
            error_id = uuid.uuid4().hex[:8]
            log.error(
                "Command %s failed (error %s)",
                interaction.command.qualified_name if interaction.command else "?",
                error_id,
                exc_info=original,
            )
            message = (
                f"Sorry, something went wrong (error {error_id}). Nothing you stored was lost."
            )
        try:
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException:
            log.warning("Could not tell the user about an error: %s", message)


class GalateaBot(commands.Bot):
    """The bot, with Galatea's core injected."""

    def __init__(self, core: Core, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # roleplay needs the words people write
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=GalateaTree,
            **options,
        )
        self.core = core
        self._background: set[asyncio.Task[Any]] = set()
        # Why the bot stopped itself (a model that cannot load): run_discord_bot raises it.
        self.fatal: GalateaError | None = None

    @property
    def roleplay(self) -> ChannelRoleplay:
        """The core's roleplay runtime: messages in, replies scheduled."""
        return self.core.roleplay

    @property
    def roleplay_cog(self) -> RoleplayCog:
        """The cog that shows the runtime's replies on Discord (characters' lines, the
        buttons, the webhooks); typed, so that cogs never look it up by name."""
        cog = self.get_cog("RoleplayCog")
        if cog is None:
            raise RuntimeError("The roleplay cog is not loaded")
        return cast("RoleplayCog", cog)

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
        self.track(self.load_model(), name="model-load")
        # Once per deployment: the process with shard 0 prunes (two doing it would be safe too,
        # deleting the same old rows; it would only be wasted work).
        settings = self.core.settings
        if settings.HISTORY_RETENTION_DAYS and settings.runs_shard_zero:
            self.track(self.prune_history_daily(), name="history-retention")
        for cog in COGS:
            await self.load_extension(cog)
        await self.sync_commands_if_changed()

    async def load_model(self, retry_delay: float = SERVER_RETRY_FIRST) -> None:
        """Load the model in the background. A local model that cannot load stops the bot
        (answering "still loading" forever would be pretending); an inference server that is
        not up yet is asked again, less and less often, until it answers."""
        while True:
            try:
                await self.core.load_model()
                return
            except BackendUnavailable as exc:
                if self.core.settings.INFERENCE_BACKEND in LOCAL_BACKENDS:
                    self.fatal = ConfigError(exc.user_message)
                    await self.close()
                    return
                log.warning(
                    "The inference server is not usable yet (%s); trying again in %.0f s",
                    exc.user_message,
                    retry_delay,
                )
            await asyncio.sleep(retry_delay)
            retry_delay = min(SERVER_RETRY_MAX, retry_delay * 2)

    async def prune_history_daily(self, interval: float = RETENTION_INTERVAL) -> None:
        """Erase messages past HISTORY_RETENTION_DAYS now, then once a day."""
        days = self.core.settings.HISTORY_RETENTION_DAYS
        while True:
            try:
                await self.core.privacy.prune(days, caller=OPERATOR)
            except Exception:
                # A locked or unreachable database today must not stop tomorrow's run.
                log.exception("Pruning old messages failed; trying again in %.0f s", interval)
            await asyncio.sleep(interval)

    async def sync_commands_if_changed(self) -> bool:
        """Sync slash commands only when the tree changed (Discord rate-limits creating them)."""
        guild_id = self.core.settings.DISCORD_DEV_GUILD_ID
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"command_tree:{guild_id or 'global'}"
        async with self.core.database.read() as uow:
            if await uow.state.get(key) == digest:
                log.info("Slash commands unchanged; not syncing")
                return False
        await self.tree.sync(guild=guild)
        async with self.core.database.write() as uow:
            await uow.state.set(key, digest)
        log.info("Synced %d slash commands (%s)", len(payload), key)
        return True

    async def on_ready(self) -> None:
        log.info("Connected as %s (%d servers)", self.user, len(self.guilds))
        if not self.guilds and self.application_id is not None:
            log.warning(
                "The bot is in no server yet. Invite it with: %s", invite_url(self.application_id)
            )
        await record_login(self.core, success=True)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("Shard %d is ready", shard_id)

    async def close(self) -> None:
        if self.get_cog("RoleplayCog") is not None:
            try:
                await asyncio.wait_for(self.roleplay_cog.shutdown(), timeout=SHUTDOWN_GRACE)
            except TimeoutError:
                # Closing the connection matters more than tidying up: a container stop
                # kills the process soon after.
                log.warning("Replies did not stop within %.0f s; closing anyway", SHUTDOWN_GRACE)
        for task in list(self._background):
            if task is not asyncio.current_task():  # close() itself may run as a tracked task
                task.cancel()
        await super().close()


class GalateaShardedBot(GalateaBot, commands.AutoShardedBot):
    """The same bot and cogs over several gateway connections (SHARD_COUNT, SHARD_IDS).

    AutoShardedBot even for one shard id: one code path, and it identifies each shard in turn.
    """


def shard_options(settings: Settings) -> dict[str, Any]:
    """The AutoShardedBot options for SHARD_COUNT/SHARD_IDS (empty when unsharded)."""
    ids = settings.shard_ids
    return {} if ids is None else {"shard_count": settings.SHARD_COUNT, "shard_ids": list(ids)}


def build_bot(core: Core, **options: Any) -> GalateaBot:
    """The bot for these settings: sharded when SHARD_COUNT is set, else one connection."""
    sharding = shard_options(core.settings)
    if not sharding:
        return GalateaBot(core, **options)
    log.info(
        "Running shards %s of %d in this process",
        ",".join(map(str, sharding["shard_ids"])),
        sharding["shard_count"],
    )
    return GalateaShardedBot(core, **sharding, **options)


async def record_login(core: Core, *, success: bool) -> float:
    """Remember failed logins across restarts; returns how long to wait before the next try.

    A crash-restart loop must not hammer Discord's login: 1,000 identifies a day reset the token.
    """
    async with core.database.write() as uow:
        raw = await uow.state.get("login_failures")
        previous = int(raw.split(":")[0]) if raw else 0
        failures = 0 if success else previous + 1
        await uow.state.set("login_failures", f"{failures}:{time.time():.0f}")
    return (
        0.0 if failures == 0 else min(LOGIN_BACKOFF_MAX, LOGIN_BACKOFF_BASE * 2 ** (failures - 1))
    )


async def login_delay(core: Core) -> float:
    """Seconds to wait before logging in, given the failures recorded before this start."""
    async with core.database.read() as uow:
        raw = await uow.state.get("login_failures")
    if not raw:
        return 0.0
    failures, at = (int(x) for x in raw.split(":"))
    if failures == 0:
        return 0.0
    wait = min(LOGIN_BACKOFF_MAX, LOGIN_BACKOFF_BASE * 2 ** (failures - 1))
    return max(0.0, at + wait - time.time())


async def run_discord_bot(settings: Settings, **bot_options: Any) -> int:
    require(settings, "DISCORD_TOKEN")
    await configure_endpoints(settings)
    core = await open_core(settings, load_model=False)
    bot = build_bot(core, **bot_options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # discord.py handles Ctrl-C only in Client.run; a container stop sends SIGTERM.
        loop.add_signal_handler(sig, _shutdown, bot, sig)
    try:
        delay = await login_delay(core)
        if delay:
            log.warning("Recent logins failed: waiting %.0f s before trying again", delay)
            await asyncio.sleep(delay)
        async with bot:
            while not bot.is_closed():
                try:
                    await bot.start(settings.DISCORD_TOKEN)
                except (aiohttp.ClientError, discord.GatewayNotFound, OSError) as exc:
                    wait = await record_login(core, success=False)
                    log.warning("Could not reach Discord (%s); retrying in %.0f s", exc, wait)
                    await asyncio.sleep(wait)
        if bot.fatal is not None:
            raise bot.fatal
    except discord.LoginFailure as exc:
        await record_login(core, success=False)
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
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await core.close()
    return 0


def _shutdown(bot: GalateaBot, sig: signal.Signals) -> None:
    log.info("Received %s: shutting down", sig.name)
    bot.track(bot.close(), name="shutdown")
