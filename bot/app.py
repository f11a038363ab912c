"""Building the core from settings: database, backend, prompt renderer, session engine.

main.py calls this for every subcommand; tests and benchmarks build the same parts directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.characters.avatar_fetch import AvatarFetcher
from bot.characters.service import CharacterService
from bot.errors import BackendUnavailable, ConfigError
from bot.guilds.config import GuildConfigService
from bot.inference.base import Backend, GenerationParams
from bot.inference.cerebrium_backend import CerebriumBackend
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.inference.ctransformers_pool import CTransformersPool
from bot.inference.kobold_backend import KoboldBackend
from bot.inference.llama_batch.backend import LlamaBatchBackend
from bot.inference.openai_backend import OpenAICompletionsBackend
from bot.inference.scheduler import Scheduler
from bot.lore.service import LoreService
from bot.members.personas import PersonaService
from bot.members.privacy import PrivacyService
from bot.memory.service import MemoryService
from bot.model_files.header import ModelFileInfo
from bot.model_files.setup import (
    LOCAL_BACKENDS,
    check_model_file,
    choose_prompt_format,
    local_context_length,
    require_packages,
)
from bot.policy import ChannelReplyLimit, UserReplyLimit
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.cast import CastService
from bot.roleplay.channel import ChannelRoleplay
from bot.roleplay.engine import SessionEngine
from bot.roleplay.lease import ChannelLeases
from bot.settings import EXPECTS, BackendKind, Settings
from bot.store import Database
from bot.store.startup import open_and_migrate

log = logging.getLogger(__name__)


def require(settings: Settings, name: str) -> None:
    """Fail with the usual one-line message when a setting the command needs is empty."""
    if not getattr(settings, name):
        raise ConfigError(f"Setting {name} is missing: expected {EXPECTS[name]}.")


def generation_defaults(settings: Settings) -> GenerationParams:
    return GenerationParams(
        max_new_tokens=settings.MAX_NEW_TOKENS,
        temperature=settings.TEMPERATURE,
        top_p=settings.TOP_P,
        top_k=settings.TOP_K,
        repetition_penalty=settings.REPETITION_PENALTY,
    )


def build_backend(settings: Settings, model_info: ModelFileInfo | None = None) -> Backend:
    """The backend INFERENCE_BACKEND names, configured from the settings.

    ``model_info``: the local model file's header (``check_model_file``), whose context length
    is used when CONTEXT_LENGTH is not set."""
    kind = settings.INFERENCE_BACKEND
    if kind in LOCAL_BACKENDS:
        require(settings, "MODEL")
    context_length = local_context_length(settings, model_info)
    if kind is BackendKind.CTRANSFORMERS:
        instances = [
            CTransformersBackend(
                settings.MODEL,
                model_file=settings.MODEL_FILE,
                model_type=settings.MODEL_TYPE,
                gpu_layers=settings.GPU_LAYERS,
                context_length=context_length,
                threads=settings.THREADS,
            )
            for _ in range(settings.MODEL_INSTANCES)
        ]
        return instances[0] if len(instances) == 1 else CTransformersPool(instances)
    if kind is BackendKind.LLAMA_CPP:
        # Every channel keeps its own sequence in one shared KV cache (issue #20).
        return LlamaBatchBackend(
            settings.MODEL,
            n_ctx=context_length,
            n_gpu_layers=settings.GPU_LAYERS,
            n_threads=settings.THREADS or None,
            parallel=settings.PARALLEL,
            kv_cache_type=settings.KV_CACHE_TYPE,
            kv_cache_tokens=settings.KV_CACHE_TOKENS,
        )
    require(settings, "INFERENCE_URL")
    # A server reports its own context size; an explicit CONTEXT_LENGTH wins.
    context = settings.CONTEXT_LENGTH
    if kind is BackendKind.OPENAI:
        return OpenAICompletionsBackend(
            settings.INFERENCE_URL,
            api_key=settings.INFERENCE_API_KEY or None,
            model=settings.INFERENCE_MODEL or None,
            context_length=context,
            request_timeout=settings.REPLY_TIMEOUT,
            max_concurrency=settings.INFERENCE_CONCURRENCY,
            tokenizer_path=settings.TOKENIZER_PATH or None,
        )
    if kind is BackendKind.KOBOLD:
        return KoboldBackend(
            settings.INFERENCE_URL,
            api_key=settings.INFERENCE_API_KEY or None,
            context_length=context,
            request_timeout=settings.REPLY_TIMEOUT,
        )
    require(settings, "INFERENCE_API_KEY")
    return CerebriumBackend(
        settings.INFERENCE_URL,
        settings.INFERENCE_API_KEY,
        model=settings.INFERENCE_MODEL or "pygmalion-2.7b",
        context_length=context or 2048,
        request_timeout=settings.REPLY_TIMEOUT,
    )


@dataclass
class Core:
    settings: Settings
    database: Database
    backend: Backend
    engine: SessionEngine
    characters: CharacterService
    guild_config: GuildConfigService
    # Summaries, pins and recall (bot/memory/); its ``enabled`` is False when MEMORY=false.
    memory: MemoryService
    # Public addresses only; the tests swap in one that also reaches their 127.0.0.1 site.
    avatar_fetcher: AvatarFetcher = field(default_factory=AvatarFetcher)
    # The local model file's header, when there is one: its own name helps pick the format.
    model_info: ModelFileInfo | None = None
    lore: LoreService = field(init=False)
    cast: CastService = field(init=False)
    personas: PersonaService = field(init=False)
    privacy: PrivacyService = field(init=False)
    leases: ChannelLeases = field(init=False)
    # The channel roleplay runtime: messages in, replies scheduled; a front end (the Discord
    # cog) attaches the presenter that shows the replies.
    roleplay: ChannelRoleplay = field(init=False)

    def __post_init__(self) -> None:
        self.lore = LoreService(self.database)
        self.cast = CastService(self.database)
        self.personas = PersonaService(self.database)
        self.privacy = PrivacyService(self.database, after_forget=self.memory.forget_everything)
        # On even without sharding: two copies of the bot during a rolling deploy share a token.
        self.leases = ChannelLeases(self.database, self.settings.CHANNEL_LEASE_SECONDS)
        self.roleplay = ChannelRoleplay(
            self.engine,
            self.guild_config,
            personas=self.personas,
            channel_limit=ChannelReplyLimit(self.settings.REPLIES_PER_CHANNEL_PER_MINUTE),
            user_limit=UserReplyLimit(self.settings.REPLIES_PER_USER_PER_MINUTE),
            leases=self.leases,
        )

    async def load_model(self) -> None:
        """Load the model (or reach the server), then render for what it really is: the
        prompt format its name says and the context it reports (settings override both)."""
        await self.backend.load()
        file_name = self.model_info.name if self.model_info is not None else None
        prompt_format = choose_prompt_format(self.settings, self.backend.model_name, file_name)
        self.engine.adopt(prompt_format, self.backend.context_length)
        log.info(
            "Ready: model %s, prompt format %s, context %d tokens",
            self.backend.model_name,
            prompt_format.value,
            self.backend.context_length,
        )

    async def close(self) -> None:
        await self.memory.close()
        await self.backend.close()
        await self.database.dispose()


async def open_database(settings: Settings) -> Database:
    """The database, migrated; a fault is one line (ConfigError) saying what to do."""
    return await open_and_migrate(settings.DATABASE_URL)


def assemble(settings: Settings, database: Database, backend: Backend) -> Core:
    """Wire the parts; the backend may still be loading."""
    counter = TokenCounter(backend)
    renderer = PromptRenderer(
        settings.prompt_format,
        counter,
        context_length=backend.context_length,
        user_label=settings.USER_LABEL,
    )
    scheduler = Scheduler(
        slots=backend.capabilities.max_concurrency,
        max_waiting_per_guild=settings.MAX_QUEUE_PER_SERVER,
        wait_timeout=settings.REPLY_TIMEOUT,
    )
    memory = MemoryService(database, backend, scheduler, renderer, counter, enabled=settings.MEMORY)
    engine = SessionEngine(
        database,
        backend,
        renderer,
        generation_defaults(settings),
        history_limit=settings.HISTORY_MESSAGES,
        scheduler=scheduler,
        reply_timeout=settings.REPLY_TIMEOUT,
        memory=memory,
    )
    return Core(
        settings,
        database,
        backend,
        engine,
        CharacterService(database),
        GuildConfigService(database),
        memory,
    )


def preflight(settings: Settings) -> ModelFileInfo | None:
    """The checks that take milliseconds and save minutes: packages and the model file.
    Raises ConfigError (one line, exit status 2)."""
    require_packages(settings)
    return check_model_file(settings)


async def open_core(settings: Settings, *, load_model: bool = True) -> Core:
    """Check, build and wire everything; with ``load_model`` also load the model, turning a
    model that cannot load into a ConfigError (the MODEL setting is what is wrong)."""
    model_info = preflight(settings)
    backend = build_backend(settings, model_info)
    database = await open_database(settings)
    core = assemble(settings, database, backend)
    core.model_info = model_info
    log.info("Backend %s, model %s", backend.name, backend.model_name)
    if load_model:
        try:
            await core.load_model()
        except BackendUnavailable as exc:
            await core.close()
            if settings.INFERENCE_BACKEND in LOCAL_BACKENDS:
                raise ConfigError(exc.user_message) from exc
            raise
    return core
