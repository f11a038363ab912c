"""Cerebrium's hosted Pygmalion endpoint (e.g. Pygmalion 2.7B, a GPT-Neo model that the local
backends cannot load).

The vendor's API: ``POST <endpoint>`` with ``Authorization: <API_KEY>`` (no "Bearer") and
``{"prompt", "max_length", "temperature", "stopping_criteria", "top_p", "typical_p",
"repetition_penalty", "top_k"}``; the answer is ``{"run_id", "run_time_ms", "message",
"result"}`` where ``result`` *echoes the prompt* before the completion. Nothing streams: the
whole reply is yielded at once, after stop sequences are applied.

``max_length`` is a Hugging Face ``generate`` length, which counts the prompt too; with
``max_length_includes_prompt`` (the default) the estimated prompt length is added to it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from functools import partial
from typing import Any

import aiohttp

from bot.errors import BackendUnavailable, InferenceError
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.http.errors import translate_errors, unreadable_error, with_detail
from bot.inference.http.limits import HttpTimeouts, RetryPolicy
from bot.inference.http.requests import build_session, open_response, read_json, server_label
from bot.inference.http.streaming import ReplyLimit, stream_with_retries
from bot.inference.token_estimate import estimate_tokens

log = logging.getLogger(__name__)

CEREBRIUM_SAMPLERS = frozenset({"top_k", "top_p", "typical_p", "repetition_penalty"})


def strip_prompt_echo(prompt: str, result: str) -> str:
    """The completion in ``result``, which starts with a (possibly altered) copy of ``prompt``.

    1. Exact prefix: the usual case.
    2. The same text up to whitespace (the server normalised spaces or line breaks).
    3. The prompt's last line, the ``Name:`` turn marker, located in ``result``: the n-th
       occurrence where the prompt holds it n times, else the one ending nearest to where the
       prompt ends. This survives an echo whose words were changed (the vendor's own example
       alters the first word).
    4. Nothing matched: assume the server sent only the completion.
    """
    if result.startswith(prompt):
        return result[len(prompt) :]
    cut = _whitespace_insensitive_prefix_end(prompt, result)
    if cut is None:
        cut = _turn_marker_end(prompt, result)
    if cut is None:
        log.warning("Cerebrium reply does not echo the prompt; using it whole")
        return result
    return result[cut:]


def _whitespace_insensitive_prefix_end(prompt: str, result: str) -> int | None:
    """Where ``prompt`` ends in ``result`` if they agree on every non-whitespace character."""
    position = 0
    for char in prompt:
        if char.isspace():
            continue
        while position < len(result) and result[position].isspace():
            position += 1
        if position >= len(result) or result[position] != char:
            return None
        position += 1
    return position


def _turn_marker_end(prompt: str, result: str) -> int | None:
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    if not lines:
        return None
    marker = lines[-1]
    ends: list[int] = []
    start = result.find(marker)
    while start >= 0:
        ends.append(start + len(marker))
        start = result.find(marker, start + 1)
    if not ends:
        return None
    occurrences_in_prompt = prompt.count(marker)
    if len(ends) >= occurrences_in_prompt:
        return ends[occurrences_in_prompt - 1]
    return min(ends, key=lambda end: abs(end - len(prompt)))


def _result_text(reply: Any) -> str | None:
    """The generated text from the shapes Cerebrium has used for ``result``."""
    result = reply.get("result") if isinstance(reply, dict) else None
    if isinstance(result, list) and result:
        result = result[0]
    if isinstance(result, dict):
        result = result.get("text", result.get("generated_text"))
    return result if isinstance(result, str) else None


class CerebriumBackend:
    """A non-streaming client for a Cerebrium Pygmalion ``/predict`` endpoint."""

    def __init__(
        self,
        endpoint_url: str,
        api_key: str,
        *,
        model: str = "pygmalion-2.7b",
        context_length: int = 2048,
        request_timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_concurrency: int = 4,
        max_length_includes_prompt: bool = True,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._url = endpoint_url
        self._label = server_label(endpoint_url)
        self._api_key = api_key
        self._model = model
        self._context_length = context_length
        self._timeouts = HttpTimeouts(connect=connect_timeout, total=request_timeout)
        self._max_concurrency = max_concurrency
        self._max_length_includes_prompt = max_length_includes_prompt
        self._retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._sampler_log = UnsupportedSamplerLog(self.name)

    @property
    def name(self) -> str:
        return "cerebrium"

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            samplers=CEREBRIUM_SAMPLERS,
            streaming=False,
            max_concurrency=self._max_concurrency,
            exact_token_count=False,
        )

    async def load(self) -> None:
        """Open the session. No request is made: every call to the endpoint is billed."""
        if self._session is not None:
            return
        if not self._api_key:
            raise BackendUnavailable(
                "The Cerebrium backend needs an API key. Add it to the settings."
            )
        self._session = build_session(
            self._timeouts,
            {"Authorization": self._api_key},  # the vendor's scheme: the bare key
            connection_limit=self._max_concurrency + 1,
        )
        log.info("Cerebrium endpoint %s ready (model %s)", self._label, self._model)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def predict_payload(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> dict[str, Any]:
        """The vendor's request body for these settings."""
        max_length = params.max_new_tokens
        if self._max_length_includes_prompt:
            max_length = min(self._context_length, estimate_tokens(prompt) + max_length)
        return {
            "prompt": prompt,
            "max_length": max_length,
            "temperature": params.temperature,
            "stopping_criteria": [s for s in dict.fromkeys(stop) if s],
            "top_p": params.top_p,
            "typical_p": params.typical_p,
            "repetition_penalty": params.repetition_penalty,
            "top_k": params.top_k,  # 0 disables top-k in Hugging Face generate
        }

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        session = self._require_session()
        self._sampler_log.check(params, self.capabilities)
        log.debug("Cerebrium request to %s, prompt: %r", self._label, prompt)
        payload = self.predict_payload(prompt, params, stop)
        attempt = partial(self._attempt, session, prompt, payload)
        limit = ReplyLimit.for_tokens(params.max_new_tokens)
        async with aclosing(
            stream_with_retries(attempt, stop, self._retry, self._label, limit)
        ) as pieces:
            async for piece in pieces:
                yield piece

    async def _attempt(
        self, session: aiohttp.ClientSession, prompt: str, payload: dict[str, Any]
    ) -> AsyncGenerator[str, None]:
        with translate_errors(self._label, self._timeouts):
            async with open_response(
                session, "POST", self._url, label=self._label, json_body=payload
            ) as response:
                reply = await read_json(response, self._label)
        text = _result_text(reply)
        if text is None:
            message = reply.get("message") if isinstance(reply, dict) else None
            if isinstance(message, str) and message:
                raise with_detail(
                    InferenceError("The Cerebrium endpoint returned no text. Try again."),
                    f"{self._label}: {message[:200]}",
                )
            raise unreadable_error(self._label, "the reply had no result")
        completion = strip_prompt_echo(prompt, text)
        if completion:
            yield completion

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendUnavailable("The Cerebrium backend is not loaded yet.")
        return self._session
