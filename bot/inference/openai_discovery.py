"""What an OpenAI-compatible server offers, asked once at load: its model and context length,
and which dialect of "count these tokens" it speaks (vLLM, llama.cpp, KoboldCpp, webui)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout, InferenceError
from bot.inference.http.limits import NO_RETRY, HttpTimeouts, RetryPolicy
from bot.inference.http.requests import join_url, request_json

log = logging.getLogger(__name__)

_PROBE_TEXT = "Hello there, how are you?"
_PROBE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class TokenizeEndpoint:
    """One server dialect of "count these tokens": where to POST, what to send, what to read."""

    dialect: str
    url: str
    body: Callable[[str], dict[str, Any]]
    count: Callable[[Any], int | None]


def _count_from_tokens(reply: Any) -> int | None:
    if isinstance(reply, dict):
        if isinstance(reply.get("count"), int):
            return int(reply["count"])
        if isinstance(reply.get("tokens"), list):
            return len(reply["tokens"])
    return None


def _int_field(field: str) -> Callable[[Any], int | None]:
    def read(reply: Any) -> int | None:
        value = reply.get(field) if isinstance(reply, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return read


def server_root(base_url: str) -> str:
    """The server root for non-OpenAI endpoints: ``http://h:8000/v1`` -> ``http://h:8000``."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1") if base.endswith("/v1") else base


@dataclass(frozen=True, slots=True)
class ServerProbe:
    """Quick questions to one server while the backend loads."""

    session: aiohttp.ClientSession
    base: str  # the OpenAI API's base, ``http://h:8000/v1``
    root: str  # the server's root, for its own endpoints
    label: str
    timeouts: HttpTimeouts

    async def models(self, model: str | None, retry: RetryPolicy) -> tuple[str | None, int | None]:
        """``GET {base}/models``: checks reachability and the key. The model to use (the
        first served when ``model`` is None) and the context length the server reports."""
        try:
            reply = await request_json(
                self.session,
                "GET",
                join_url(self.base, "models"),
                label=self.label,
                timeouts=self.timeouts,
                retry=retry,
            )
        except (BackendUnavailable, GenerationTimeout):
            raise
        except InferenceError as error:
            # Reachable but without a model list (404, odd body): usable if we know the model.
            log.warning("%s lists no models (%s)", self.label, error.user_message)
            return model, None
        entries = reply.get("data") if isinstance(reply, dict) else None
        models = [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]
        if model is None:
            if not models:
                raise BackendUnavailable(
                    "The model server serves no model. Load a model there "
                    "or set the model name in the settings."
                )
            model = str(models[0]["id"])
        entry = next((m for m in models if m["id"] == model), None)
        for key in ("max_model_len", "max_context_length", "context_length"):
            value = entry.get(key) if entry is not None else None
            if isinstance(value, int) and value > 0:
                return model, value  # vLLM and Aphrodite report max_model_len
        return model, None

    async def context_length(self, default: int) -> int:
        """Context from llama.cpp's ``/props`` or KoboldCpp's (the context it was started
        with, then its generation setting), else the default."""
        probes: list[tuple[str, Callable[[Any], int | None]]] = [
            (join_url(self.root, "props"), _llama_cpp_context),
            (join_url(self.root, "api/extra/true_max_context_length"), _int_field("value")),
            (join_url(self.root, "api/v1/config/max_context_length"), _int_field("value")),
        ]
        for url, read in probes:
            reply = await self._quick("GET", url, None)
            value = read(reply) if reply is not None else None
            if value:
                return value
        log.warning(
            "%s does not report its context length; assuming %d tokens. Set it in the "
            "settings if the model has a different one.",
            self.label,
            default,
        )
        return default

    async def tokenize_endpoint(self, model: str | None) -> TokenizeEndpoint | None:
        """Find the first tokenize dialect this server answers with a plausible count."""
        endpoints = [
            TokenizeEndpoint(
                "vLLM/Aphrodite",
                join_url(self.root, "tokenize"),
                lambda text: {"model": model, "prompt": text, "add_special_tokens": False},
                _count_from_tokens,
            ),
            TokenizeEndpoint(
                "llama.cpp",
                join_url(self.root, "tokenize"),
                lambda text: {"content": text, "add_special": False},
                _count_from_tokens,
            ),
            TokenizeEndpoint(
                "KoboldCpp",
                join_url(self.root, "api/extra/tokencount"),
                lambda text: {"prompt": text},
                _int_field("value"),
            ),
            TokenizeEndpoint(
                "text-generation-webui",
                join_url(self.base, "internal/token-count"),
                lambda text: {"text": text},
                _int_field("length"),
            ),
        ]
        for endpoint in endpoints:
            reply = await self._quick("POST", endpoint.url, endpoint.body(_PROBE_TEXT))
            # llama.cpp answers the vLLM body with an empty token list: demand a real count.
            count = endpoint.count(reply) if reply is not None else None
            if count is not None and count > 0:
                return endpoint
        return None

    async def _quick(self, method: str, url: str, body: object) -> Any:
        """A quick, unretried request whose failure only means "not supported here"."""
        try:
            return await request_json(
                self.session,
                method,
                url,
                label=self.label,
                timeouts=self.timeouts,
                retry=NO_RETRY,
                json_body=body,
                client_timeout=aiohttp.ClientTimeout(
                    total=min(self.timeouts.total, _PROBE_TIMEOUT_SECONDS),
                    sock_connect=self.timeouts.connect,
                ),
            )
        except GalateaError:
            return None


def _llama_cpp_context(reply: Any) -> int | None:
    if not isinstance(reply, dict):
        return None
    settings = reply.get("default_generation_settings")
    for source in (settings, reply):
        if isinstance(source, dict) and isinstance(source.get("n_ctx"), int):
            return int(source["n_ctx"])
    return None


def load_tokenizer_file(path: Path) -> Any:
    """A Hugging Face ``tokenizer.json`` via the optional ``tokenizers`` package."""
    try:
        from tokenizers import Tokenizer  # optional dependency
    except ImportError as error:
        raise BackendUnavailable(
            "TOKENIZER_PATH needs the tokenizers package, which is not installed: run "
            ".venv/bin/pip install -e '.[tokenizer]' in the Galatea folder."
        ) from error
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises its own exception types
        raise BackendUnavailable(
            f"The tokenizer file {path} could not be read. Check the path in the settings."
        ) from error
