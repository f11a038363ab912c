"""Start-up checks and choices about the model, made from what is really there.

Before anything connects: the model file exists and is a model, the optional package the
backend needs is installed (each a one-line ConfigError, exit status 2). After the model (or
server) has loaded: the prompt format and context come from its own name and metadata unless
PROMPT_FORMAT / CONTEXT_LENGTH say otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from bot.errors import ConfigError
from bot.model_files.header import ModelFileInfo, NotAModelFile, inspect_model_file
from bot.settings import BackendKind, Settings, recognised_prompt_format
from bot.values import PromptFormat

log = logging.getLogger(__name__)

MODEL_FILE_SUFFIXES = frozenset({".gguf", ".bin", ".ggml"})
DEFAULT_CONTEXT = 2048  # GGML files do not say; Pygmalion 6B and 7B were trained on 2048
LOCAL_BACKENDS = frozenset({BackendKind.CTRANSFORMERS, BackendKind.LLAMA_CPP})

# Module to import -> the extra that installs it. The command is the one that works in the
# checkout run.sh made; a package named "galatea" on the public index is someone else's.
_EXTRAS = {"llama_cpp": "llama-cpp", "tokenizers": "tokenizer", "asyncpg": "postgres"}


def install_hint(module: str, purpose: str) -> str:
    """The one line that says which extra to install, and exactly how."""
    extra = _EXTRAS[module]
    return (
        f"{purpose} needs the {module} package, which is not installed: run "
        f".venv/bin/pip install -e '.[{extra}]' in the Galatea folder."
    )


def require_packages(settings: Settings) -> None:
    """Refuse to start when an optional package the settings need is missing."""
    needed: list[tuple[str, str]] = []
    if settings.INFERENCE_BACKEND is BackendKind.LLAMA_CPP:
        needed.append(("llama_cpp", "INFERENCE_BACKEND=llama-cpp"))
    if settings.TOKENIZER_PATH:
        needed.append(("tokenizers", "TOKENIZER_PATH"))
    if settings.DATABASE_URL.startswith("postgresql+asyncpg://"):
        needed.append(("asyncpg", "A PostgreSQL DATABASE_URL"))
    for module, purpose in needed:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(install_hint(module, purpose))


def names_local_file(model: str) -> bool:
    """MODEL names a local file (rather than a Hugging Face repo id)."""
    path = Path(model).expanduser()
    return path.suffix.lower() in MODEL_FILE_SUFFIXES or path.is_file()


def check_model_file(settings: Settings) -> ModelFileInfo | None:
    """For a local backend with a local file: the file's header, or a ConfigError saying why
    it cannot be used. None when MODEL is a Hub repo id (ctransformers fetches it)."""
    if settings.INFERENCE_BACKEND not in LOCAL_BACKENDS or not settings.MODEL:
        return None
    if settings.INFERENCE_BACKEND is BackendKind.CTRANSFORMERS and not names_local_file(
        settings.MODEL
    ):
        return None
    path = Path(settings.MODEL).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"Setting MODEL names {settings.MODEL}, and there is no such file: download a "
            "model with ./run.sh download, or point MODEL at the file."
        )
    try:
        info = inspect_model_file(path)
    except NotAModelFile as exc:
        raise ConfigError(
            f"Setting MODEL names {settings.MODEL}, which is not a usable model: {exc}. "
            "./run.sh download fetches a known-good one."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Setting MODEL names {settings.MODEL}, which cannot be read: {exc}."
        ) from None
    if settings.INFERENCE_BACKEND is BackendKind.LLAMA_CPP and info.container != "gguf":
        raise ConfigError(
            f"Setting MODEL names a {info.container.upper()} file, and llama-cpp reads only "
            "GGUF: use INFERENCE_BACKEND=ctransformers for it, or a GGUF model."
        )
    return info


def local_context_length(settings: Settings, info: ModelFileInfo | None) -> int:
    """CONTEXT_LENGTH when set, else the GGUF file's own, else 2048."""
    if settings.CONTEXT_LENGTH is not None:
        return settings.CONTEXT_LENGTH
    if info is not None and info.context_length:
        return min(info.context_length, 131072)
    return DEFAULT_CONTEXT


def choose_prompt_format(settings: Settings, *reported: str | None) -> PromptFormat:
    """PROMPT_FORMAT when set; else what the model's names say (a local model: MODEL and
    MODEL_FILE; a server: INFERENCE_MODEL; then the name the file or server reports); else
    classic, with a warning. MODEL is not asked about a server's model: it names a file this
    process does not use then, possibly left over from .env.example."""
    if settings.PROMPT_FORMAT is not None:
        return settings.PROMPT_FORMAT
    if settings.INFERENCE_BACKEND in LOCAL_BACKENDS:
        names = [settings.MODEL, settings.MODEL_FILE, *reported]
    else:
        names = [settings.INFERENCE_MODEL, *reported]
    for name in filter(None, names):
        found = recognised_prompt_format(name)
        if found is not None:
            log.info("Prompt format %s, from the model name %r", found.value, name)
            return found
    log.warning(
        "Prompt format pygmalion is a guess: no model name (%s) says Pygmalion, Pygmalion-2, "
        "Mythalion or Metharme. Set PROMPT_FORMAT if this model expects metharme.",
        ", ".join(repr(n) for n in filter(None, names)) or "none given",
    )
    return PromptFormat.PYGMALION
