"""Building the core from settings: database, backend, prompt renderer, session engine.

main.py calls this for every subcommand; tests and benchmarks build the same parts directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.characters import CharacterService
from bot.errors import ConfigError
from bot.guild_config import GuildConfigService
from bot.inference.base import Backend, GenerationParams
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.engine import SessionEngine
from bot.settings import EXPECTS, BackendKind, Settings
from bot.store import Database
from bot.store.migrate import upgrade_to_head

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


def build_backend(settings: Settings) -> Backend:
    if settings.INFERENCE_BACKEND is BackendKind.CTRANSFORMERS:
        require(settings, "MODEL")
        return CTransformersBackend(
            settings.MODEL,
            model_file=settings.MODEL_FILE,
            model_type=settings.MODEL_TYPE,
            gpu_layers=settings.GPU_LAYERS,
            context_length=settings.CONTEXT_LENGTH,
            threads=settings.THREADS,
        )
    raise ConfigError(
        f"Setting INFERENCE_BACKEND={settings.INFERENCE_BACKEND.value} is not available in this "
        "version: expected ctransformers."
    )


@dataclass
class Core:
    settings: Settings
    database: Database
    backend: Backend
    engine: SessionEngine
    characters: CharacterService
    guild_config: GuildConfigService

    async def close(self) -> None:
        await self.backend.close()
        await self.database.dispose()


async def open_database(settings: Settings) -> Database:
    database = Database(settings.DATABASE_URL)
    await upgrade_to_head(database)
    return database


def assemble(settings: Settings, database: Database, backend: Backend) -> Core:
    """Wire the parts; the backend may still be loading."""
    counter = TokenCounter(backend)
    renderer = PromptRenderer(
        settings.prompt_format, counter, context_length=backend.context_length
    )
    engine = SessionEngine(
        database,
        backend,
        renderer,
        generation_defaults(settings),
        history_limit=settings.HISTORY_MESSAGES,
    )
    return Core(
        settings,
        database,
        backend,
        engine,
        CharacterService(database),
        GuildConfigService(database),
    )


async def open_core(settings: Settings, *, load_model: bool = True) -> Core:
    backend = build_backend(settings)
    database = await open_database(settings)
    core = assemble(settings, database, backend)
    log.info(
        "Prompt format %s, backend %s, model %s",
        settings.prompt_format.value,
        backend.name,
        backend.model_name,
    )
    if load_model:
        await backend.load()
    return core
