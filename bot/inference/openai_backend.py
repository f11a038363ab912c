"""OpenAI-compatible *text completions* over HTTP: vLLM, Aphrodite, llama.cpp server,
KoboldCpp and text-generation-webui all serve ``POST {base}/completions`` with SSE streaming.

Sampler names differ between servers, so the request carries the vLLM/Aphrodite names plus
the llama.cpp aliases (``repeat_penalty``, ``mirostat``); servers ignore fields they do not
know. Stop strings are sent (all of them, beyond the official API's four) *and* applied
locally, because some servers ignore them or only stop after the string was streamed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import aiohttp

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.http.errors import (
    error_from_stream_payload,
    not_answering_error,
    translate_errors,
    unreadable_error,
)
from bot.inference.http.limits import HttpTimeouts, RetryPolicy
from bot.inference.http.requests import (
    bearer_headers,
    build_session,
    join_url,
    open_response,
    parse_json,
    read_json,
    request_json,
    server_label,
)
from bot.inference.http.sse import iter_sse
from bot.inference.http.streaming import ReplyLimit, stream_with_retries
from bot.inference.openai_discovery import (
    ServerProbe,
    TokenizeEndpoint,
    load_tokenizer_file,
    server_root,
)
from bot.inference.token_estimate import TokenEstimator

log = logging.getLogger(__name__)

OPENAI_SAMPLERS = frozenset(
    {"top_k", "top_p", "repetition_penalty", "typical_p", "min_p", "mirostat_mode", "seed"}
)


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
        self._root = server_root(self._base)
        self._label = server_label(self._base)
        self._api_key = api_key
        self._model = model
        self._configured_context = context_length
        self._context_length = context_length or default_context_length
        self._default_context_length = default_context_length
        self._timeouts = HttpTimeouts(
            connect=connect_timeout, total=request_timeout, read=read_timeout
        )
        self._max_concurrency = max_concurrency
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._tokenize_endpoint: TokenizeEndpoint | None = None
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
        probe = ServerProbe(session, self._base, self._root, self._label, self._timeouts)
        try:
            self._model, reported_context = await probe.models(self._model, self._retry)
            if self._configured_context is None:
                self._context_length = reported_context or (
                    await probe.context_length(self._default_context_length)
                )
            self._tokenize_endpoint = await probe.tokenize_endpoint(self._model)
            if self._tokenize_endpoint is None and self._tokenizer_path is not None:
                self._local_tokenizer = load_tokenizer_file(self._tokenizer_path)
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
        self, session: aiohttp.ClientSession, endpoint: TokenizeEndpoint, text: str
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
    ) -> AsyncGenerator[str, None]:
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
    ) -> AsyncGenerator[str, None]:
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
