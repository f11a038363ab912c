"""OpenAICompletionsBackend against a local fake of vLLM / llama.cpp / KoboldCpp servers."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.errors import BackendUnavailable, GenerationTimeout, InferenceError
from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.http.errors import PromptTooLong, ServerError
from bot.inference.openai_backend import OpenAICompletionsBackend
from bot.inference.token_estimate import estimate_tokens
from bot.prompt.tokens import TokenCounter
from tests.inference.fake_http import (
    FAST_RETRY,
    FakeServer,
    Received,
    closed_port,
    endless_stream,
    sse,
    stream_events,
)

API_KEY = "sk-test-secret-123"
STOPS = ["\nYou:", "\nAria:", "</s>", "<START>", "\n###"]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    yield fake
    await fake.stop()


def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
    }


def models_route(server: FakeServer, *, max_model_len: int | None = 4096) -> None:
    entry: dict[str, Any] = {"id": "pygmalion-2-7b", "object": "model"}
    if max_model_len is not None:
        entry["max_model_len"] = max_model_len
    server.json("GET", "/v1/models", {"object": "list", "data": [entry, {"id": "other"}]})


def completions(server: FakeServer, *responses: Any) -> None:
    """Serve /v1/completions with ``responses`` in turn; each is a handler or SSE chunk list."""
    queue = list(responses)

    async def handler(request: web.Request, received: Received) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(current):
            return await current(request, received)
        return await stream_events(request, current)

    server.route("POST", "/v1/completions", handler)


def status(code: int, payload: Any) -> Any:
    async def handler(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(payload, status=code)

    return handler


def backend_for(server: FakeServer, **kwargs: Any) -> OpenAICompletionsBackend:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("retry", FAST_RETRY)
    return OpenAICompletionsBackend(f"{server.url}/v1", **kwargs)


async def loaded(server: FakeServer, **kwargs: Any) -> OpenAICompletionsBackend:
    await server.start()
    backend = backend_for(server, **kwargs)
    await backend.load()
    return backend


async def collect(backend: OpenAICompletionsBackend, **params: Any) -> list[str]:
    stop = params.pop("stop", STOPS)
    stream = backend.stream("Aria: Hi!\nYou: Hello\nAria:", GenerationParams(**params), stop)
    return [piece async for piece in stream]


# --- discovery, mapping, streaming ------------------------------------------------------------


async def test_load_discovers_model_context_and_vllm_tokenizer(server: FakeServer) -> None:
    models_route(server)

    async def tokenize(request: web.Request, received: Received) -> web.StreamResponse:
        assert received.body["model"] == "pygmalion-2-7b"
        assert received.body["add_special_tokens"] is False
        words = received.body["prompt"].split()
        return web.json_response({"tokens": list(range(len(words))), "count": len(words)})

    server.route("POST", "/tokenize", tokenize)
    backend = await loaded(server)
    try:
        assert isinstance(backend, Backend)
        assert backend.model_name == "pygmalion-2-7b"
        assert backend.context_length == 4096
        assert backend.capabilities.exact_token_count
        counter = TokenCounter(backend)  # the one cache of counts, over every backend
        assert await counter.count("one two three") == 3
        assert await counter.count("one two three") == 3
        assert len(server.paths("/tokenize")) == 2  # one probe + one count
        assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    finally:
        await backend.close()


async def test_request_fields_and_sampler_mapping(server: FakeServer) -> None:
    models_route(server)
    completions(server, [sse(chunk("Hi", "stop")), sse("[DONE]")])
    backend = await loaded(server)
    params = GenerationParams(
        max_new_tokens=77,
        temperature=0.7,
        top_p=0.85,
        top_k=40,
        repetition_penalty=1.15,
        typical_p=0.95,
        min_p=0.05,
        mirostat_mode=2,
        mirostat_tau=4.0,
        mirostat_eta=0.2,
        seed=1234,
    )
    try:
        assert await generate_text(backend, "PROMPT", params, STOPS) == "Hi"
    finally:
        await backend.close()
    (request,) = server.paths("/v1/completions")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body == {
        "model": "pygmalion-2-7b",
        "prompt": "PROMPT",
        "max_tokens": 77,
        "temperature": 0.7,
        "top_p": 0.85,
        "top_k": 40,
        "min_p": 0.05,
        "typical_p": 0.95,
        "repetition_penalty": 1.15,
        "repeat_penalty": 1.15,
        "stop": STOPS,  # all five, beyond the official API's limit of four
        "seed": 1234,
        "mirostat_mode": 2,
        "mirostat": 2,
        "mirostat_tau": 4.0,
        "mirostat_eta": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},  # no tokenize endpoint: the count teaches
    }


async def test_neutral_samplers_are_left_out(server: FakeServer) -> None:
    models_route(server)
    completions(server, [sse(chunk("", "length")), sse("[DONE]")])
    backend = await loaded(server)
    try:
        await collect(backend, top_k=0, seed=None, mirostat_mode=0, stop=[])
    finally:
        await backend.close()
    body = server.paths("/v1/completions")[0].body
    assert not {"top_k", "seed", "mirostat_mode", "mirostat", "stop"} & body.keys()


async def test_stream_order_and_stop_split_across_events(server: FakeServer) -> None:
    models_route(server)
    # The server ignores the stop strings and keeps going; SSE events also arrive split
    # mid-line across writes.
    events = "".join(
        sse(chunk(t)) for t in ["Hel", "lo", " there", "!\nYo", "u: ", "more text"]
    ) + sse(chunk("", "length"))
    completions(server, [events[:15], events[15:70], events[70:], sse("[DONE]")])
    backend = await loaded(server)
    try:
        assert "".join(await collect(backend)) == "Hello there!"
    finally:
        await backend.close()


async def test_pieces_arrive_in_order_as_streamed(server: FakeServer) -> None:
    models_route(server)
    completions(server, [sse(chunk(t)) for t in ["One", " two", " three"]] + [sse("[DONE]")])
    backend = await loaded(server)
    try:
        assert "".join(await collect(backend, stop=[])) == "One two three"
    finally:
        await backend.close()


async def test_server_answering_plain_json_is_accepted(server: FakeServer) -> None:
    models_route(server)
    completions(
        server, status(200, {"choices": [{"text": "Whole reply\nYou: x", "finish_reason": "stop"}]})
    )
    backend = await loaded(server)
    try:
        assert "".join(await collect(backend)) == "Whole reply"
    finally:
        await backend.close()


async def test_configured_model_and_llama_cpp_context_and_tokenizer(server: FakeServer) -> None:
    models_route(server, max_model_len=None)
    server.json("GET", "/props", {"default_generation_settings": {"n_ctx": 3072}})

    async def tokenize(request: web.Request, received: Received) -> web.StreamResponse:
        content = received.body.get("content")  # llama.cpp ignores the vLLM body's "prompt"
        tokens = list(range(len(content))) if content else []
        assert received.body.get("add_special", False) is False
        return web.json_response({"tokens": tokens})

    server.route("POST", "/tokenize", tokenize)
    backend = await loaded(server, model="other")
    try:
        assert backend.model_name == "other"
        assert backend.context_length == 3072
        assert await backend.count_tokens("abcd") == 4
    finally:
        await backend.close()


async def test_koboldcpp_tokencount_and_configured_context(server: FakeServer) -> None:
    models_route(server)
    server.json("POST", "/tokenize", {"detail": "Not Found"}, status=404)

    async def tokencount(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"value": len(received.body["prompt"]), "ids": []})

    server.route("POST", "/api/extra/tokencount", tokencount)
    backend = await loaded(server, context_length=1024)
    try:
        assert backend.context_length == 1024
        assert await backend.count_tokens("abcdef") == 6
    finally:
        await backend.close()


async def test_no_tokenizer_falls_back_to_estimate(server: FakeServer) -> None:
    models_route(server, max_model_len=None)
    backend = await loaded(server)
    try:
        assert not backend.capabilities.exact_token_count
        assert backend.context_length == 2048  # nothing reported it: the default
        text = "Hello there, traveller."
        assert await backend.count_tokens(text) == estimate_tokens(text)
    finally:
        await backend.close()


async def test_tokenizer_file_needs_the_tokenizers_package(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes the import fail
    models_route(server)
    await server.start()
    backend = backend_for(server, tokenizer_path=tmp_path / "tokenizer.json")
    with pytest.raises(
        BackendUnavailable, match=re.escape(".venv/bin/pip install -e '.[tokenizer]'")
    ):
        await backend.load()


async def test_tokenizer_file_counts_when_the_server_cannot(
    server: FakeServer, tmp_path: Path
) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "hello": 1, "there": 2}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    models_route(server)
    backend = await loaded(server, tokenizer_path=path)
    try:
        assert backend.capabilities.exact_token_count
        assert await backend.count_tokens("hello there friend") == 3
    finally:
        await backend.close()


async def test_failed_server_count_is_estimated_and_not_cached(server: FakeServer) -> None:
    models_route(server)
    calls: list[int] = []

    async def flaky(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        if len(calls) == 2:  # the probe works, the first real count fails
            return web.json_response({"error": "oops"}, status=400)
        return web.json_response({"count": 2, "tokens": [1, 2]})

    server.route("POST", "/tokenize", flaky)
    backend = await loaded(server)
    try:
        assert await backend.count_tokens("two words") == estimate_tokens("two words")
        assert await backend.count_tokens("two words") == 2
    finally:
        await backend.close()


async def test_a_count_whose_connection_the_server_dropped_is_asked_again(
    server: FakeServer,
) -> None:
    models_route(server)
    calls: list[int] = []

    async def dropping(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        if len(calls) == 2:  # the first real count: the server closes the kept-alive connection
            assert request.transport is not None
            request.transport.close()
        return web.json_response({"count": 2, "tokens": [1, 2]})

    server.route("POST", "/tokenize", dropping)
    backend = await loaded(server)
    try:
        assert await backend.count_tokens("two words") == 2
        assert len(calls) == 3
    finally:
        await backend.close()


async def test_model_discovery_requires_a_model(server: FakeServer) -> None:
    server.json("GET", "/v1/models", {"object": "list", "data": []})
    await server.start()
    with pytest.raises(BackendUnavailable, match="serves no model"):
        await backend_for(server).load()


async def test_unsupported_sampler_is_logged_once_and_secrets_never(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    models_route(server)
    completions(server, [sse(chunk("ok", "stop")), sse("[DONE]")])
    backend = await loaded(server)
    caplog.set_level(logging.DEBUG)
    try:
        await collect(backend, repetition_penalty_range=64)
        await collect(backend, repetition_penalty_range=64)
    finally:
        await backend.close()
    warnings = [r for r in caplog.records if "repetition_penalty_range" in r.getMessage()]
    assert len(warnings) == 1
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    assert all("Hello" not in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)


# --- failures ---------------------------------------------------------------------------------


async def test_refused_connection() -> None:
    backend = OpenAICompletionsBackend(
        f"http://127.0.0.1:{closed_port()}/v1", connect_timeout=1.0, retry=FAST_RETRY
    )
    with pytest.raises(BackendUnavailable, match="not reachable"):
        await backend.load()


async def test_server_silent_at_load(server: FakeServer) -> None:
    async def hangs(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.json_response({"data": []})

    server.route("GET", "/v1/models", hangs)
    await server.start()
    with pytest.raises(BackendUnavailable, match="did not answer in time"):
        await backend_for(server, request_timeout=0.3).load()


async def test_unauthorized_key(server: FakeServer) -> None:
    server.json("GET", "/v1/models", {"error": {"message": "Invalid API key"}}, status=401)
    await server.start()
    with pytest.raises(BackendUnavailable, match="API key") as caught:
        await backend_for(server).load()
    assert API_KEY not in caught.value.user_message


async def test_a_prompt_too_long_is_told_briefly_with_the_servers_words_logged(
    server: FakeServer,
) -> None:
    models_route(server)
    message = "This model's maximum context length is 4096 tokens. However, you requested 5000"
    completions(server, status(400, {"object": "error", "message": message, "code": 400}))
    backend = await loaded(server)
    try:
        with pytest.raises(PromptTooLong, match="too long for the model") as caught:
            await collect(backend)
        assert "maximum context length" in caught.value.detail
        assert "maximum context length" not in caught.value.user_message
        assert not isinstance(caught.value, ServerError | BackendUnavailable)
        assert len(server.paths("/v1/completions")) == 1
    finally:
        await backend.close()


async def test_server_error_then_success_is_retried(server: FakeServer) -> None:
    models_route(server)
    completions(
        server,
        status(500, {"error": "CUDA hiccup"}),
        [sse(chunk("Recovered", "stop")), sse("[DONE]")],
    )
    backend = await loaded(server)
    try:
        assert "".join(await collect(backend)) == "Recovered"
        assert len(server.paths("/v1/completions")) == 2
    finally:
        await backend.close()


async def test_server_error_three_times_gives_up(server: FakeServer) -> None:
    models_route(server)
    completions(server, status(500, {"error": "still broken"}))
    backend = await loaded(server)
    try:
        with pytest.raises(ServerError) as caught:
            await collect(backend)
        assert "still broken" in caught.value.detail
        assert len(server.paths("/v1/completions")) == 3  # 1 try + 2 retries
    finally:
        await backend.close()


async def test_server_error_after_partial_stream_is_not_retried(server: FakeServer) -> None:
    models_route(server)
    error = {"error": {"message": "engine died", "code": 500}}
    completions(server, [sse(chunk("Hello")), sse(error)], [sse(chunk("again")), sse("[DONE]")])
    backend = await loaded(server)
    pieces: list[str] = []
    try:
        with pytest.raises(InferenceError) as caught:
            async for piece in backend.stream("p", GenerationParams(), []):
                pieces.append(piece)
        assert "engine died" in caught.value.detail
    finally:
        await backend.close()
    assert pieces == ["Hello"]
    assert len(server.paths("/v1/completions")) == 1


async def test_total_timeout(server: FakeServer) -> None:
    models_route(server)

    async def slow(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return await stream_events(request, [sse("[DONE]")])

    completions(server, slow)
    backend = await loaded(server, request_timeout=0.3)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(GenerationTimeout, match=r"0\.3 seconds"):
            await collect(backend)
        assert asyncio.get_running_loop().time() - started < 1.0
    finally:
        await backend.close()


async def test_read_timeout_between_chunks(server: FakeServer) -> None:
    models_route(server)

    async def stalls(request: web.Request, received: Received) -> web.StreamResponse:
        return await stream_events(request, [sse(chunk("Hi")), sse(chunk(" there"))], delay=1.5)

    completions(server, stalls)
    backend = await loaded(server, read_timeout=0.3)
    try:
        with pytest.raises(GenerationTimeout, match="stopped sending"):
            await collect(backend)
    finally:
        await backend.close()


async def test_malformed_json_event(server: FakeServer) -> None:
    models_route(server)
    completions(server, [sse(chunk("ok")), "data: {not json\n\n"])
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read"):
            await collect(backend)
    finally:
        await backend.close()


@pytest.mark.parametrize("cut", [True, False], ids=["connection-dropped", "ended-without-done"])
async def test_stream_cut_midway(server: FakeServer, cut: bool) -> None:
    models_route(server)

    async def cut_short(request: web.Request, received: Received) -> web.StreamResponse:
        return await stream_events(request, [sse(chunk("Half a")), sse(chunk(" reply"))], cut=cut)

    completions(server, cut_short)
    backend = await loaded(server)
    pieces: list[str] = []
    try:
        with pytest.raises(InferenceError, match="could not read"):
            async for piece in backend.stream("p", GenerationParams(), []):
                pieces.append(piece)
    finally:
        await backend.close()
    assert "".join(pieces) == "Half a reply"
    assert len(server.paths("/v1/completions")) == 1


# --- cancellation -----------------------------------------------------------------------------


async def test_closing_the_stream_closes_the_connection(server: FakeServer) -> None:
    models_route(server)

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        return await endless_stream(request, lambda i: sse(chunk(f" w{i}")))

    completions(server, endless)
    backend = await loaded(server)
    try:
        stream = backend.stream("p", GenerationParams(), [])
        assert await anext(stream) == " w0"
        await stream.aclose()
        await asyncio.wait_for(server.disconnected.wait(), timeout=1.0)
    finally:
        await backend.close()


async def test_cancelling_the_consumer_closes_the_connection(server: FakeServer) -> None:
    models_route(server)
    first_piece = asyncio.Event()

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        return await endless_stream(request, lambda i: sse(chunk(f" w{i}")))

    completions(server, endless)
    backend = await loaded(server)

    async def consume() -> None:
        async for _ in backend.stream("p", GenerationParams(), []):
            first_piece.set()

    try:
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_piece.wait(), timeout=1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.disconnected.wait(), timeout=1.0)
    finally:
        await backend.close()


# --- replies of any size ----------------------------------------------------------------------


async def test_a_server_that_ignores_max_tokens_is_cut_at_the_token_budget(
    server: FakeServer,
) -> None:
    models_route(server)

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        return await endless_stream(request, lambda i: sse(chunk(f" w{i}")), interval=0.001)

    completions(server, endless)
    backend = await loaded(server)
    try:
        pieces = await collect(backend, max_new_tokens=20)
        assert len(pieces) <= 20 + 8
        await asyncio.wait_for(server.disconnected.wait(), 5)  # the request was closed
    finally:
        await backend.close()


async def test_a_whole_reply_past_the_budget_is_cut_by_bytes(server: FakeServer) -> None:
    models_route(server)
    completions(server, status(200, chunk("word " * 40_000, "length")))  # 200 KB, not a stream
    backend = await loaded(server)
    try:
        text = "".join(await collect(backend, max_new_tokens=100))
        assert 0 < len(text.encode()) <= 100 * 16
    finally:
        await backend.close()


async def test_a_huge_body_is_refused_without_reading_it_all(server: FakeServer) -> None:
    models_route(server)

    async def huge(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        block = b" " * (1024 * 1024)
        for _ in range(200):  # 200 MB of whitespace, unless the client hangs up first
            await response.write(block)
        await response.write_eof()
        return response

    completions(server, huge)
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read") as caught:
            await asyncio.wait_for(collect(backend), 10)
        assert "over" in caught.value.detail
    finally:
        await backend.close()


async def test_a_stream_line_without_end_is_refused(server: FakeServer) -> None:
    models_route(server)

    async def no_breaks(request: web.Request, received: Received) -> web.StreamResponse:
        return await stream_events(request, ["data: " + "x" * (1024 * 1024)] * 3)

    completions(server, no_breaks)
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read") as caught:
            await collect(backend)
        assert "too long" in caught.value.detail
    finally:
        await backend.close()


async def test_the_estimate_learns_from_the_servers_prompt_count(server: FakeServer) -> None:
    models_route(server)  # and no tokenize endpoint: the backend estimates
    prompt = "Aria: Hi!\nYou: Hello\nAria:"
    usage = {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}
    completions(server, [sse(chunk("Hey", "stop")), sse({"choices": [], "usage": usage})])
    backend = await loaded(server)
    try:
        text = "Aria smiles and waves at you from across the quiet room. " * 4
        before = await backend.count_tokens(text)
        assert before == estimate_tokens(text)  # nothing learned yet: the strict bound
        await collect(backend)
        sent = server.paths("/v1/completions")[0].body
        assert sent["stream_options"] == {"include_usage": True}
        assert sent["prompt"] == prompt
        after = await backend.count_tokens(text)
        assert after < before
        assert await backend.count_tokens(prompt) >= 12  # never under the server's own count
    finally:
        await backend.close()
