"""OpenAI-compatible *text completions* over HTTP: vLLM, Aphrodite, llama.cpp server,
KoboldCpp and text-generation-webui all serve ``POST {base}/completions`` with SSE streaming.

Sampler names differ between servers, so the request carries the vLLM/Aphrodite names plus
the llama.cpp aliases (``repeat_penalty``, ``mirostat``); servers ignore fields they do not
know. Stop strings are sent (all of them, beyond the official API's four) *and* applied
locally, because some servers ignore them or only stop after the string was streamed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout, InferenceError
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.http_common import (
    NO_RETRY,
    HttpTimeouts,
    ReplyLimit,
    RetryPolicy,
    bearer_headers,
    build_session,
    error_from_stream_payload,
    iter_sse,
    join_url,
    not_answering_error,
    open_response,
    parse_json,
    read_json,
    request_json,
    server_label,
    stream_with_retries,
    translate_errors,
    unreadable_error,
)
from bot.inference.token_estimate import TokenEstimator

log = logging.getLogger(__name__)

OPENAI_SAMPLERS = frozenset(
    {"top_k", "top_p", "repetition_penalty", "typical_p", "min_p", "mirostat_mode", "seed"}
)
_PROBE_TEXT = "Hello there, how are you?"
_PROBE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class _TokenizeEndpoint:
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


def _server_root(base_url: str) -> str:
    """The server root for non-OpenAI endpoints: ``http://h:8000/v1`` -> ``http://h:8000``."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1") if base.endswith("/v1") else base


class OpenAICompletionsBackend:
    """A streaming client for an OpenAI-compatible ``/completions`` endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        context_length: int | None = None,
        request_timeout: float = 300.0,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        max_concurrency: int = 8,
        tokenizer_path: str | Path | None = None,
        retry: RetryPolicy | None = None,
        default_context_length: int = 2048,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._root = _server_root(self._base)
        self._label = server_label(self._base)
        self._api_key = api_key
        self._model = model
        self._configured_context = context_length
        self._context_length = context_length or default_context_length
        self._default_context_length = default_context_length
        self._reported_context: int | None = None  # from the server's model list
        self._timeouts = HttpTimeouts(
            connect=connect_timeout, total=request_timeout, read=read_timeout
        )
        self._max_concurrency = max_concurrency
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._tokenize_endpoint: _TokenizeEndpoint | None = None
        self._local_tokenizer: Any = None  # a ``tokenizers.Tokenizer`` when configured
        self._estimator = TokenEstimator()  # learns from the server's usage reports
        self._sampler_log = UnsupportedSamplerLog(self.name)
        self._count_failure_logged = False

    # --- Backend properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return "openai"

    @property
    def model_name(self) -> str:
        return self._model or "unknown"

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        exact = self._tokenize_endpoint is not None or self._local_tokenizer is not None
        return Capabilities(
            samplers=OPENAI_SAMPLERS,
            streaming=True,
            max_concurrency=self._max_concurrency,
            exact_token_count=exact,
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        """Check the server, pick the model and context length, find a way to count tokens."""
        if self._session is not None:
            return
        session = build_session(
            self._timeouts,
            bearer_headers(self._api_key),
            connection_limit=self._max_concurrency + 4,
        )
        try:
            await self._discover_model(session)
            if self._configured_context is None:
                self._context_length = self._reported_context or (
                    await self._probe_context_length(session)
                )
            self._tokenize_endpoint = await self._probe_tokenize(session)
            if self._tokenize_endpoint is None and self._tokenizer_path is not None:
                self._local_tokenizer = _load_tokenizer_file(self._tokenizer_path)
        except GenerationTimeout as error:
            await session.close()
            raise not_answering_error(self._label) from error
        except BaseException:
            await session.close()
            raise
        self._session = session
        log.info(
            "OpenAI-compatible server %s: model %s, context %d tokens, token counting: %s",
            self._label,
            self.model_name,
            self._context_length,
            self._counting_method(),
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- token counting ---------------------------------------------------------------------

    async def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        # Not cached here: bot/prompt/tokens.py's TokenCounter remembers counts for every backend.
        count = await self._exact_count(text)
        return self._estimator.estimate(text) if count is None else count

    async def _exact_count(self, text: str) -> int | None:
        """The server's or the tokenizer file's count; None when neither can give one."""
        if self._local_tokenizer is not None:
            return len(self._local_tokenizer.encode(text, add_special_tokens=False).ids)
        endpoint, session = self._tokenize_endpoint, self._session
        if endpoint is None or session is None:
            return None
        try:
            try:
                reply = await self._count_request(session, endpoint, text)
            except GalateaError as error:
                # Once more when the server dropped the connection: llama.cpp's server may close
                # a kept-alive one just as the next request goes out on it (seen on a GPU
                # machine). Counting is idempotent.
                if not isinstance(error.__cause__, aiohttp.ServerDisconnectedError):
                    raise
                reply = await self._count_request(session, endpoint, text)
        except GalateaError as error:
            # Counting must not fail a reply; an overestimate only drops old history.
            if not self._count_failure_logged:
                self._count_failure_logged = True
                log.warning(
                    "Token counting at %s failed (%s); estimating instead",
                    self._label,
                    error.user_message,
                )
            return None
        return endpoint.count(reply)

    async def _count_request(
        self, session: aiohttp.ClientSession, endpoint: _TokenizeEndpoint, text: str
    ) -> Any:
        return await request_json(
            session,
            "POST",
            endpoint.url,
            label=self._label,
            timeouts=self._timeouts,
            json_body=endpoint.body(text),
        )

    def _counting_method(self) -> str:
        if self._tokenize_endpoint is not None:
            return f"server ({self._tokenize_endpoint.dialect})"
        if self._local_tokenizer is not None:
            return f"tokenizer file {self._tokenizer_path}"
        return "estimate"

    # --- generation -------------------------------------------------------------------------

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncIterator[str]:
        session = self._require_session()
        self._sampler_log.check(params, self.capabilities)
        payload = self.completion_payload(prompt, params, stop)
        log.debug("Completion request to %s, prompt: %r", self._label, prompt)
        url = join_url(self._base, "completions")
        async with aclosing(
            stream_with_retries(
                lambda: self._attempt(session, url, payload),
                stop,
                self._retry,
                self._label,
                ReplyLimit.for_tokens(params.max_new_tokens),
            )
        ) as pieces:
            async for piece in pieces:
                yield piece

    def completion_payload(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> dict[str, Any]:
        """The JSON body for ``/completions``: vLLM/Aphrodite names plus llama.cpp aliases."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "min_p": params.min_p,
            "typical_p": params.typical_p,
            "repetition_penalty": params.repetition_penalty,
            "repeat_penalty": params.repetition_penalty,  # llama.cpp server's name
            "stream": True,
        }
        if not self.capabilities.exact_token_count:
            # The server's count of the prompt teaches the estimate (OpenAI's API field).
            body["stream_options"] = {"include_usage": True}
        if self._model:
            body["model"] = self._model
        stops = [s for s in dict.fromkeys(stop) if s]
        if stops:
            body["stop"] = stops
        if params.top_k > 0:  # 0 means "off" here, but older vLLM rejects top_k=0
            body["top_k"] = params.top_k
        if params.seed is not None:
            body["seed"] = params.seed
        if params.mirostat_mode:
            body["mirostat_mode"] = params.mirostat_mode
            body["mirostat"] = params.mirostat_mode  # llama.cpp server's name
            body["mirostat_tau"] = params.mirostat_tau
            body["mirostat_eta"] = params.mirostat_eta
        return body

    async def _attempt(
        self, session: aiohttp.ClientSession, url: str, payload: dict[str, Any]
    ) -> AsyncIterator[str]:
        """One request: yield the text of each streamed choice until [DONE]."""
        with translate_errors(self._label, self._timeouts):
            async with open_response(
                session, "POST", url, label=self._label, json_body=payload
            ) as response:
                if response.content_type == "application/json":
                    # The server ignored ``stream: true`` and sent the whole completion.
                    reply = await read_json(response, self._label)
                    self._learn(payload, reply)
                    text, _ = self._choice_text(reply)
                    if text:
                        yield text
                    return
                finished = False
                async with aclosing(iter_sse(response, self._label)) as events:
                    async for event in events:
                        if event.data.strip() == "[DONE]":
                            return
                        reply = parse_json(event.data, self._label)
                        self._learn(payload, reply)
                        text, done = self._choice_text(reply)
                        finished = finished or done
                        if text:
                            yield text
                if not finished:  # EOF without [DONE] or a finish_reason: cut short
                    raise unreadable_error(self._label, "the stream ended before the reply did")

    def _learn(self, payload: dict[str, Any], reply: Any) -> None:
        """Teach the estimate the server's count of the prompt, when it reports one."""
        usage = reply.get("usage") if isinstance(reply, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0:
            self._estimator.observe(payload["prompt"], tokens)

    def _choice_text(self, chunk: Any) -> tuple[str, bool]:
        """(text, finished) from one completion chunk; raises for in-stream error objects."""
        if not isinstance(chunk, dict):
            raise unreadable_error(self._label, "a stream event was not a JSON object")
        if chunk.get("error"):
            raise error_from_stream_payload(chunk, self._label)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise unreadable_error(self._label, "a stream event had no choices")
        texts: list[str] = []
        finished = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            text = choice.get("text")
            if isinstance(text, str):
                texts.append(text)
            finished = finished or bool(choice.get("finish_reason"))
        return "".join(texts), finished

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendUnavailable("The model server connection is not open yet.")
        return self._session

    # --- discovery (load) -------------------------------------------------------------------

    async def _discover_model(self, session: aiohttp.ClientSession) -> None:
        """``GET {base}/models``: checks reachability and the key; picks a model if unset."""
        try:
            reply = await request_json(
                session,
                "GET",
                join_url(self._base, "models"),
                label=self._label,
                timeouts=self._timeouts,
                retry=self._retry,
            )
        except (BackendUnavailable, GenerationTimeout):
            raise
        except InferenceError as error:
            # Reachable but without a model list (404, odd body): usable if we know the model.
            log.warning("%s lists no models (%s)", self._label, error.user_message)
            return
        entries = reply.get("data") if isinstance(reply, dict) else None
        models = [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]
        if self._model is None:
            if not models:
                raise BackendUnavailable(
                    "The model server serves no model. Load a model there "
                    "or set the model name in the settings."
                )
            self._model = models[0]["id"]
        entry = next((m for m in models if m["id"] == self._model), None)
        for key in ("max_model_len", "max_context_length", "context_length"):
            value = entry.get(key) if entry is not None else None
            if isinstance(value, int) and value > 0:
                self._reported_context = value  # vLLM and Aphrodite report max_model_len
                break

    async def _probe_context_length(self, session: aiohttp.ClientSession) -> int:
        """Context from llama.cpp's ``/props`` or KoboldCpp's (the context it was started
        with, then its generation setting), else the default."""
        probes: list[tuple[str, Callable[[Any], int | None]]] = [
            (join_url(self._root, "props"), _llama_cpp_context),
            (join_url(self._root, "api/extra/true_max_context_length"), _int_field("value")),
            (join_url(self._root, "api/v1/config/max_context_length"), _int_field("value")),
        ]
        for url, read in probes:
            reply = await self._probe(session, "GET", url, None)
            value = read(reply) if reply is not None else None
            if value:
                return value
        log.warning(
            "%s does not report its context length; assuming %d tokens. Set it in the "
            "settings if the model has a different one.",
            self._label,
            self._default_context_length,
        )
        return self._default_context_length

    async def _probe_tokenize(self, session: aiohttp.ClientSession) -> _TokenizeEndpoint | None:
        """Find the first tokenize dialect this server answers with a plausible count."""
        model = self._model
        endpoints = [
            _TokenizeEndpoint(
                "vLLM/Aphrodite",
                join_url(self._root, "tokenize"),
                lambda text: {"model": model, "prompt": text, "add_special_tokens": False},
                _count_from_tokens,
            ),
            _TokenizeEndpoint(
                "llama.cpp",
                join_url(self._root, "tokenize"),
                lambda text: {"content": text, "add_special": False},
                _count_from_tokens,
            ),
            _TokenizeEndpoint(
                "KoboldCpp",
                join_url(self._root, "api/extra/tokencount"),
                lambda text: {"prompt": text},
                _int_field("value"),
            ),
            _TokenizeEndpoint(
                "text-generation-webui",
                join_url(self._base, "internal/token-count"),
                lambda text: {"text": text},
                _int_field("length"),
            ),
        ]
        for endpoint in endpoints:
            reply = await self._probe(session, "POST", endpoint.url, endpoint.body(_PROBE_TEXT))
            # llama.cpp answers the vLLM body with an empty token list: demand a real count.
            count = endpoint.count(reply) if reply is not None else None
            if count is not None and count > 0:
                return endpoint
        return None

    async def _probe(
        self, session: aiohttp.ClientSession, method: str, url: str, body: object
    ) -> Any:
        """A quick, unretried request whose failure only means "not supported here"."""
        try:
            return await request_json(
                session,
                method,
                url,
                label=self._label,
                timeouts=self._timeouts,
                retry=NO_RETRY,
                json_body=body,
                client_timeout=aiohttp.ClientTimeout(
                    total=min(self._timeouts.total, _PROBE_TIMEOUT_SECONDS),
                    sock_connect=self._timeouts.connect,
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


def _load_tokenizer_file(path: Path) -> Any:
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
