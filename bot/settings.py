"""Galatea's settings, read from the environment (and .env) once, in main.py, and passed down.

The variable names are a contract with deployments and tests; .env.example documents each one.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError
from bot.values import PromptFormat, UserLabel  # defined below the prompt layer, used here

DISCORD_API_DEFAULT = "https://discord.com/api/v10"


class BackendKind(StrEnum):
    CTRANSFORMERS = "ctransformers"
    LLAMA_CPP = "llama-cpp"
    OPENAI = "openai"
    KOBOLD = "kobold"
    CEREBRIUM = "cerebrium"


# What each variable expects, for the one-line error an operator sees when it is wrong.
EXPECTS: dict[str, str] = {
    "DISCORD_TOKEN": "the bot token from the Discord developer portal",
    "DISCORD_API_BASE": "an http(s) URL such as https://discord.com/api/v10",
    "DISCORD_GATEWAY_URL": "a ws:// or wss:// URL",
    "DISCORD_DEV_GUILD_ID": "a Discord server id (digits)",
    "DATABASE_URL": "an SQLAlchemy async URL: sqlite+aiosqlite:///path.db or "
    "postgresql+asyncpg://user:pass@host/db",
    "INFERENCE_BACKEND": "one of " + ", ".join(k.value for k in BackendKind),
    "MODEL": "a local .gguf/.bin file or a Hugging Face repo id",
    "MODEL_FILE": "the file name inside the Hugging Face repo named by MODEL",
    "MODEL_TYPE": "empty (read from the file) or a ctransformers model type: llama, gptj, "
    "gpt_neox, gpt2, gpt_bigcode, starcoder, falcon, mpt, replit or dolly-v2",
    "GPU_LAYERS": "a whole number of layers to offload to the GPU (0 = CPU only)",
    "CONTEXT_LENGTH": "a whole number of tokens between 256 and 131072 (empty: the model's own)",
    "THREADS": "a whole number of CPU threads (0 = automatic)",
    "PROMPT_FORMAT": "pygmalion or metharme",
    "MODEL_INSTANCES": "a whole number of model copies between 1 and 16",
    "PARALLEL": "a whole number of replies llama-cpp generates at once, 0 to 256 (0 = automatic)",
    "KV_CACHE_TYPE": "auto, f16, q8_0 or q4_0",
    "KV_CACHE_TOKENS": "a whole number of KV cache cells shared by every channel (0 = PARALLEL "
    "times CONTEXT_LENGTH)",
    "INFERENCE_URL": "the inference server's URL, e.g. http://127.0.0.1:8000/v1",
    "INFERENCE_API_KEY": "the inference server's API key",
    "INFERENCE_MODEL": "the model name the inference server serves",
    "INFERENCE_CONCURRENCY": "a whole number of replies generated at once (1 to 256)",
    "TOKENIZER_PATH": "a Hugging Face tokenizer.json file",
    "REPLY_TIMEOUT": "seconds a reply may take, above 0 and at most 3600",
    "MAX_QUEUE_PER_SERVER": "a whole number of replies that may wait per server",
    "MAX_NEW_TOKENS": "a whole number of tokens between 1 and 4096",
    "TEMPERATURE": "a number between 0 and 5",
    "TOP_P": "a number between 0 and 1",
    "TOP_K": "a whole number, 0 or more (0 = off)",
    "REPETITION_PENALTY": "a number between 0.5 and 3",
    "HISTORY_MESSAGES": "a whole number of recent messages loaded per prompt (10 to 2000)",
    "REPLIES_PER_CHANNEL_PER_MINUTE": "a whole number of replies per channel a minute (0 = none)",
    "REPLIES_PER_USER_PER_MINUTE": "a whole number of replies per member a minute (0 = none)",
    "HISTORY_RETENTION_DAYS": "a whole number of days messages are kept (0 = forever)",
    "MEMORY": "true (summaries, pinned facts and recall of old lines) or false",
    "STREAM_REPLIES": "true (edit the reply as it is written) or false (post it whole)",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "LOG_FILE": "a file path for the log (rotated at 10 MB, 5 kept), or empty",
    "HF_ENDPOINT": "the Hugging Face Hub's URL, e.g. https://huggingface.co",
    "SHARD_COUNT": "the total number of shards, a whole number from 1 to 65536 "
    "(unset = no sharding)",
    "SHARD_IDS": "the shard ids this process runs, comma-separated, each below SHARD_COUNT and "
    "none twice, e.g. 0,1 (unset = all of them; needs SHARD_COUNT)",
    "CHANNEL_LEASE_SECONDS": "seconds a process keeps a channel after its last message "
    "(above 0, at most 3600)",
}


class Settings(BaseSettings):
    """Every setting Galatea reads. Build it with ``load_settings()``."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DISCORD_TOKEN: str = ""
    DISCORD_API_BASE: str = DISCORD_API_DEFAULT
    DISCORD_GATEWAY_URL: str | None = None
    DISCORD_DEV_GUILD_ID: int | None = None
    DATABASE_URL: str = "sqlite+aiosqlite:///data/galatea.db"

    INFERENCE_BACKEND: BackendKind = BackendKind.CTRANSFORMERS
    MODEL: str = ""
    MODEL_FILE: str | None = None
    MODEL_TYPE: str | None = None
    GPU_LAYERS: Annotated[int, Field(ge=0, le=1000)] = 0
    # None: what the GGUF file's metadata or the inference server says (2048 for GGML files).
    CONTEXT_LENGTH: Annotated[int, Field(ge=256, le=131072)] | None = None
    THREADS: Annotated[int, Field(ge=0, le=512)] = 0
    PROMPT_FORMAT: PromptFormat | None = None
    USER_LABEL: UserLabel = UserLabel.NAMES
    MODEL_INSTANCES: Annotated[int, Field(ge=1, le=16)] = 1
    # llama-cpp serving many channels from one context (bot/inference/llama_batch/).
    PARALLEL: Annotated[int, Field(ge=0, le=256)] = 0
    KV_CACHE_TYPE: Literal["auto", "f16", "q8_0", "q4_0"] = "auto"
    KV_CACHE_TOKENS: Annotated[int, Field(ge=0, le=16_777_216)] = 0

    INFERENCE_URL: str = ""
    INFERENCE_API_KEY: str = ""
    INFERENCE_MODEL: str = ""
    INFERENCE_CONCURRENCY: Annotated[int, Field(ge=1, le=256)] = 8
    TOKENIZER_PATH: str = ""
    REPLY_TIMEOUT: Annotated[float, Field(gt=0, le=3600)] = 300.0
    MAX_QUEUE_PER_SERVER: Annotated[int, Field(ge=1, le=10000)] = 16

    MAX_NEW_TOKENS: Annotated[int, Field(ge=1, le=4096)] = 180
    TEMPERATURE: Annotated[float, Field(ge=0, le=5)] = 0.8
    TOP_P: Annotated[float, Field(ge=0, le=1)] = 0.9
    TOP_K: Annotated[int, Field(ge=0)] = 0
    REPETITION_PENALTY: Annotated[float, Field(ge=0.5, le=3)] = 1.1

    HISTORY_MESSAGES: Annotated[int, Field(ge=10, le=2000)] = 200
    REPLIES_PER_CHANNEL_PER_MINUTE: Annotated[int, Field(ge=0, le=10000)] = 0
    REPLIES_PER_USER_PER_MINUTE: Annotated[int, Field(ge=0, le=10000)] = 0
    HISTORY_RETENTION_DAYS: Annotated[int, Field(ge=0, le=36500)] = 0
    # Summaries, pins and recall beyond the context window (bot/memory/). On: it costs only
    # idle model time and a full-text lookup per prompt, and forgetting is what players mind.
    MEMORY: bool = True
    STREAM_REPLIES: bool = True
    LOG_LEVEL: str = "INFO"
    LOG_FILE: str = ""
    # Where `galatea download` fetches models from (a mirror, or the tests' local server).
    HF_ENDPOINT: str = "https://huggingface.co"

    # Several processes (shards, or two copies during a rolling deploy) on one database.
    SHARD_COUNT: Annotated[int, Field(ge=1, le=65536)] | None = None
    SHARD_IDS: Annotated[tuple[int, ...], NoDecode] | None = None
    CHANNEL_LEASE_SECONDS: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("DISCORD_API_BASE")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("HF_ENDPOINT")
    @classmethod
    def _hub_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("INFERENCE_URL")
    @classmethod
    def _inference_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("DISCORD_GATEWAY_URL")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"^wss?://[^\s/]+", value):
            raise ValueError("not a websocket URL")
        return value or None

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("unsupported database URL")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("unknown log level")
        return value.upper()

    @field_validator("MODEL_FILE", "MODEL_TYPE", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("PROMPT_FORMAT", "DISCORD_DEV_GUILD_ID", mode="before")
    @classmethod
    def _blank_enum_is_none(cls, value: Any) -> Any:
        return value if value not in ("", None) else None

    @field_validator("SHARD_COUNT", "CONTEXT_LENGTH", mode="before")
    @classmethod
    def _blank_count_is_none(cls, value: Any) -> Any:
        return value if value not in ("", None) else None

    @field_validator("SHARD_IDS", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            return tuple(parts) if any(parts) else None
        return (value,) if isinstance(value, int) else value  # one id may arrive as a number

    @model_validator(mode="after")
    def _shards_consistent(self) -> Settings:
        ids = self.SHARD_IDS
        if ids is None:
            return self
        if self.SHARD_COUNT is None:
            raise ValueError("SHARD_IDS: set without SHARD_COUNT")
        if len(set(ids)) != len(ids) or not all(0 <= i < self.SHARD_COUNT for i in ids):
            raise ValueError("SHARD_IDS: out of range or repeated")
        return self

    @model_validator(mode="after")
    def _model_type_known(self) -> Settings:
        # ctransformers silently treats an unknown type as "no model"; say so at start-up.
        if self.MODEL_TYPE and _model_type_key(self.MODEL_TYPE) not in CTRANSFORMERS_TYPES:
            raise ValueError("MODEL_TYPE: unknown")
        return self

    # Derived values: computed, never stored twice.

    @property
    def prompt_format(self) -> PromptFormat:
        """PROMPT_FORMAT, or inferred from the model name when unset."""
        if self.PROMPT_FORMAT is not None:
            return self.PROMPT_FORMAT
        return infer_prompt_format(" ".join(filter(None, [self.MODEL, self.MODEL_FILE])))

    @property
    def shard_ids(self) -> tuple[int, ...] | None:
        """The shards this process runs (None: unsharded, one connection for everything)."""
        if self.SHARD_COUNT is None:
            return None
        return self.SHARD_IDS or tuple(range(self.SHARD_COUNT))

    @property
    def runs_shard_zero(self) -> bool:
        """Whether this process does the once-per-deployment chores (shard 0 gets the DMs)."""
        ids = self.shard_ids
        return ids is None or 0 in ids

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for SQLite URLs (None for in-memory or PostgreSQL)."""
        prefix = "sqlite+aiosqlite:///"
        if not self.DATABASE_URL.startswith(prefix):
            return None
        path = self.DATABASE_URL[len(prefix) :].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)


# ctransformers' model types, compared as its C library compares them ("_" and "-" aside).
CTRANSFORMERS_TYPES = frozenset(
    {"llama", "gptj", "gptneox", "gpt2", "gptbigcode", "starcoder", "falcon", "mpt", "replit"}
    | {"dollyv2", "gguf"}
)


def _model_type_key(model_type: str) -> str:
    return model_type.replace("_", "").replace("-", "")  # case matters to ctransformers


_METHARME_NAMES = re.compile(r"pygmalion[-_ ]?2|mythalion|metharme", re.IGNORECASE)


_CLASSIC_NAMES = re.compile(r"pygmalion|\bpyg", re.IGNORECASE)


def infer_prompt_format(model_name: str) -> PromptFormat:
    """Pygmalion-2 and Mythalion (and the older Metharme) use Metharme; the rest classic."""
    return PromptFormat.METHARME if _METHARME_NAMES.search(model_name) else PromptFormat.PYGMALION


def recognised_prompt_format(model_name: str) -> PromptFormat | None:
    """The format a model name says, or None when it names neither family."""
    if _METHARME_NAMES.search(model_name):
        return PromptFormat.METHARME
    return PromptFormat.PYGMALION if _CLASSIC_NAMES.search(model_name) else None


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Read .env (without overriding real environment variables), then the environment.

    Raises ConfigError with one line naming the first bad variable and what it expects.
    """
    if env_file is not None and Path(env_file).is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else _name_from_message(error["msg"])
        # A URL's password is never shown (user:password@host).
        value = re.sub(r"(://[^/:@]*:)[^/]*@", r"\1***@", os.environ.get(name, ""))
        shown = f" (got {value!r})" if value and "TOKEN" not in name and "KEY" not in name else ""
        raise ConfigError(
            f"Setting {name} is invalid{shown}: expected {EXPECTS.get(name, error['msg'])}."
        ) from None


def _name_from_message(message: str) -> str:
    match = re.search(r"([A-Z][A-Z_]+):", message)
    return match.group(1) if match else "settings"
