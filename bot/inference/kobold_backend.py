"""The KoboldAI HTTP API, as served by KoboldCpp and KoboldAI United.

KoboldCpp (detected at load through ``GET /api/extra/version``) adds what the plain KoboldAI
API lacks: SSE streaming, a token-count endpoint and an abort endpoint. Against plain KoboldAI
the reply arrives in one piece and tokens are estimated.

KoboldCpp generates one reply at a time, so ``max_concurrency`` is 1; each request carries a
``genkey`` so an abort (sent when the consumer stops listening) cancels only our generation.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from functools import partial
from typing import Any

import aiohttp

from bot.errors import BackendUnavailable, GalateaError, GenerationTimeout
from bot.inference.base import Capabilities, GenerationParams, UnsupportedSamplerLog
from bot.inference.http.errors import not_answering_error, translate_errors, unreadable_error
from bot.inference.http.limits import NO_RETRY, HttpTimeouts, RetryPolicy
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
from bot.inference.token_estimate import estimate_tokens

log = logging.getLogger(__name__)

KOBOLD_SAMPLERS = frozenset(
    {
        "top_k",
        "top_p",
        "repetition_penalty",
        "repetition_penalty_range",
        "typical_p",
        "min_p",
        "mirostat_mode",
        "seed",
    }
)
_ABORT_TIMEOUT_SECONDS = 5.0


class KoboldBackend:
    """A client for the KoboldAI API (streaming where the server is KoboldCpp)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        context_length: int | None = None,
        request_timeout: float = 300.0,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        default_context_length: int = 2048,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._label = server_label(self._base)
        self._api_key = api_key  # KoboldCpp's --password, sent as a Bearer token
        self._configured_context = context_length
        self._context_length = context_length or default_context_length
        self._timeouts = HttpTimeouts(
            connect=connect_timeout, total=request_timeout, read=read_timeout
        )
        self._retry = retry or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None
        self._model_name = "unknown"
        self._koboldcpp_version: str | None = None  # set when the server has /api/extra
        self._sampler_log = UnsupportedSamplerLog(self.name)
        self._aborts: set[asyncio.Task[None]] = set()

    # --- Backend properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return "kobold"

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        extras = self._koboldcpp_version is not None
        return Capabilities(
            samplers=KOBOLD_SAMPLERS,
            streaming=extras,
            max_concurrency=1,
            exact_token_count=extras,
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the model name and context; detect KoboldCpp's extra endpoints."""
        if self._session is not None:
            return
        session = build_session(self._timeouts, bearer_headers(self._api_key))
        try:
            reply = await self._get(session, "api/v1/model", self._retry)
            name = reply.get("result") if isinstance(reply, dict) else None
            self._model_name = name if isinstance(name, str) and name else "unknown"
            if self._configured_context is None:
                self._context_length = await self._server_context(session)
            self._koboldcpp_version = await self._probe_extras(session)
        except GenerationTimeout as error:
            await session.close()
            raise not_answering_error(self._label) from error
        except BaseException:
            await session.close()
            raise
        self._session = session
        log.info(
            "Kobold server %s: model %s, context %d tokens, %s",
            self._label,
            self._model_name,
            self._context_length,
            f"KoboldCpp {self._koboldcpp_version} (streaming)"
            if self._koboldcpp_version is not None
            else "no KoboldCpp extras (no streaming, estimated token counts)",
        )

    async def close(self) -> None:
        if self._aborts:  # let pending aborts reach the server before the session goes
            await asyncio.wait(set(self._aborts), timeout=_ABORT_TIMEOUT_SECONDS)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _get(self, session: aiohttp.ClientSession, path: str, retry: RetryPolicy) -> Any:
        return await request_json(
            session,
            "GET",
            join_url(self._base, path),
            label=self._label,
            timeouts=self._timeouts,
            retry=retry,
        )

    async def _server_context(self, session: aiohttp.ClientSession) -> int:
        # KoboldCpp's true maximum (what it was started with) first; the config value is the
        # generation setting, which a UI may have lowered.
        for path in ("api/extra/true_max_context_length", "api/v1/config/max_context_length"):
            try:
                reply = await self._get(session, path, NO_RETRY)
            except (BackendUnavailable, GenerationTimeout):
                raise
            except GalateaError:
                reply = None
            value = reply.get("value") if isinstance(reply, dict) else None
            if isinstance(value, int) and value > 0:
                return value
        log.warning(
            "%s does not report its context length; assuming %d tokens",
            self._label,
            self._context_length,
        )
        return self._context_length

    async def _probe_extras(self, session: aiohttp.ClientSession) -> str | None:
        try:
            reply = await self._get(session, "api/extra/version", NO_RETRY)
        except BackendUnavailable:
            raise
        except GalateaError:
            return None  # plain KoboldAI: no /api/extra
        if not isinstance(reply, dict):
            return None
        return str(reply.get("version") or reply.get("result") or "unknown version")

    # --- token counting ---------------------------------------------------------------------

    async def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        # Not cached here: bot/prompt/tokens.py's TokenCounter remembers counts for every backend.
        count = await self._exact_count(text)
        return estimate_tokens(text) if count is None else count

    async def _exact_count(self, text: str) -> int | None:
        """KoboldCpp's ``/api/extra/tokencount``; None without it or when it fails."""
        session = self._session
        if self._koboldcpp_version is None or session is None:
            return None
        try:
            reply = await request_json(
                session,
                "POST",
                join_url(self._base, "api/extra/tokencount"),
                label=self._label,
                timeouts=self._timeouts,
                json_body={"prompt": text},
            )
        except GalateaError as error:
            log.warning("Token counting at %s failed (%s); estimating", self._label, error)
            return None
        value = reply.get("value") if isinstance(reply, dict) else None
        return value if isinstance(value, int) and value >= 0 else None

    # --- generation -------------------------------------------------------------------------

    def generate_payload(
        self, prompt: str, params: GenerationParams, stop: Sequence[str], genkey: str | None
    ) -> dict[str, Any]:
        """The KoboldAI ``/generate`` body for these settings."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_length": params.max_new_tokens,
            "max_context_length": self._context_length,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,  # 0 disables top-k in KoboldAI
            "rep_pen": params.repetition_penalty,
            "typical": params.typical_p,
            "min_p": params.min_p,
            "mirostat": params.mirostat_mode,
            "mirostat_tau": params.mirostat_tau,
            "mirostat_eta": params.mirostat_eta,
            "stop_sequence": [s for s in dict.fromkeys(stop) if s],
        }
        if params.repetition_penalty_range > 0:  # 0 means "server default" here
            body["rep_pen_range"] = params.repetition_penalty_range
        if params.seed is not None:
            body["sampler_seed"] = params.seed
        if genkey is not None:
            body["genkey"] = genkey
            body["trim_stop"] = True
        return body

    async def stream(
        self, prompt: str, params: GenerationParams, stop: Sequence[str]
    ) -> AsyncGenerator[str, None]:
        session = self._require_session()
        self._sampler_log.check(params, self.capabilities)
        log.debug("Kobold generate request to %s, prompt: %r", self._label, prompt)
        extras = self._koboldcpp_version is not None
        genkey = f"galatea-{uuid.uuid4().hex[:12]}" if extras else None  # names our job
        payload = self.generate_payload(prompt, params, stop, genkey)
        attempt: Callable[[], AsyncGenerator[str, None]]
        if genkey is not None:
            url = join_url(self._base, "api/extra/generate/stream")
            attempt = partial(self._attempt_stream, session, url, payload, genkey)
        else:
            url = join_url(self._base, "api/v1/generate")
            attempt = partial(self._attempt_whole, session, url, payload)
        limit = ReplyLimit.for_tokens(params.max_new_tokens)
        async with aclosing(
            stream_with_retries(attempt, stop, self._retry, self._label, limit)
        ) as pieces:
            async for piece in pieces:
                yield piece

    async def _attempt_stream(
        self, session: aiohttp.ClientSession, url: str, payload: dict[str, Any], genkey: str
    ) -> AsyncGenerator[str, None]:
        """KoboldCpp SSE: ``event: message`` / ``data: {"token": ..., "finish_reason": ...}``."""
        started = completed = False
        try:
            with translate_errors(self._label, self._timeouts):
                async with open_response(
                    session, "POST", url, label=self._label, json_body=payload
                ) as response:
                    started = True
                    saw_finish_field = finished = False
                    async with aclosing(iter_sse(response, self._label)) as events:
                        async for event in events:
                            if event.event != "message":
                                continue
                            data = parse_json(event.data, self._label)
                            if not isinstance(data, dict):
                                raise unreadable_error(self._label, "an event was not an object")
                            if "finish_reason" in data:
                                saw_finish_field = True
                                finished = finished or bool(data["finish_reason"])
                            token = data.get("token")
                            if isinstance(token, str) and token:
                                yield token
                    # Older KoboldCpp sends no finish_reason; then a clean EOF is the end.
                    if saw_finish_field and not finished:
                        raise unreadable_error(self._label, "the stream ended before the reply")
            completed = True
        finally:
            if started and not completed:  # closed early, cancelled or failed mid-stream
                self._send_abort(genkey)

    async def _attempt_whole(
        self, session: aiohttp.ClientSession, url: str, payload: dict[str, Any]
    ) -> AsyncGenerator[str, None]:
        """Plain KoboldAI: one request, ``{"results": [{"text": ...}]}``."""
        with translate_errors(self._label, self._timeouts):
            async with open_response(
                session, "POST", url, label=self._label, json_body=payload
            ) as response:
                reply = await read_json(response, self._label)
        results = reply.get("results") if isinstance(reply, dict) else None
        first = results[0] if isinstance(results, list) and results else None
        text = first.get("text") if isinstance(first, dict) else None
        if not isinstance(text, str):
            raise unreadable_error(self._label, "the reply had no results[0].text")
        if text:
            yield text

    def _send_abort(self, genkey: str) -> None:
        """Tell KoboldCpp to stop our generation; runs in the background (we may be closing)."""
        session = self._session
        if session is None or session.closed:
            return
        task = asyncio.get_running_loop().create_task(self._abort(session, genkey))
        self._aborts.add(task)
        task.add_done_callback(self._aborts.discard)

    async def _abort(self, session: aiohttp.ClientSession, genkey: str) -> None:
        try:
            await request_json(
                session,
                "POST",
                join_url(self._base, "api/extra/abort"),
                label=self._label,
                timeouts=self._timeouts,
                json_body={"genkey": genkey},
                client_timeout=aiohttp.ClientTimeout(total=_ABORT_TIMEOUT_SECONDS),
            )
        except Exception as error:  # best effort: the connection is closed anyway
            log.debug("Abort at %s failed: %s", self._label, error)

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendUnavailable("The Kobold server connection is not open yet.")
        return self._session
