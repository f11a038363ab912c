"""KoboldBackend against local fakes of KoboldCpp (streaming) and plain KoboldAI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.errors import BackendUnavailable, GenerationTimeout, InferenceError
from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.http.errors import ServerError
from bot.inference.kobold_backend import KoboldBackend
from bot.inference.token_estimate import estimate_tokens
from tests.inference.fake_http import (
    FAST_RETRY,
    FakeServer,
    Received,
    closed_port,
    endless_stream,
    sse,
    stream_events,
)

STOPS = ["\nYou:", "\nAria:"]
STREAM_PATH = "/api/extra/generate/stream"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    yield fake
    await fake.stop()


def token(text: str, finish: str | None = None) -> str:
    return sse({"token": text, "finish_reason": finish}, event="message")


def kobold_routes(server: FakeServer, *, koboldcpp: bool = True) -> None:
    server.json("GET", "/api/v1/model", {"result": "koboldcpp/Pygmalion-2-7B"})
    server.json("GET", "/api/v1/config/max_context_length", {"value": 4096})
    if koboldcpp:
        server.json("GET", "/api/extra/version", {"result": "KoboldCpp", "version": "1.70"})

        async def tokencount(request: web.Request, received: Received) -> web.StreamResponse:
            return web.json_response({"value": len(received.body["prompt"].split()), "ids": []})

        server.route("POST", "/api/extra/tokencount", tokencount)
        server.json("POST", "/api/extra/abort", {"success": "true"})


def generations(server: FakeServer, path: str, *responses: Any) -> None:
    queue = list(responses)

    async def handler(request: web.Request, received: Received) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(current):
            return await current(request, received)
        return await stream_events(request, current)

    server.route("POST", path, handler)


def status(code: int, payload: Any) -> Any:
    async def handler(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(payload, status=code)

    return handler


async def loaded(server: FakeServer, **kwargs: Any) -> KoboldBackend:
    await server.start()
    kwargs.setdefault("retry", FAST_RETRY)
    backend = KoboldBackend(server.url, **kwargs)
    await backend.load()
    return backend


async def test_load_detects_koboldcpp(server: FakeServer) -> None:
    kobold_routes(server)
    backend = await loaded(server, api_key="kcpp-pass")
    try:
        assert isinstance(backend, Backend)
        assert backend.model_name == "koboldcpp/Pygmalion-2-7B"
        assert backend.context_length == 4096
        caps = backend.capabilities
        assert caps.streaming and caps.exact_token_count and caps.max_concurrency == 1
        assert await backend.count_tokens("three little words") == 3
        assert server.requests[0].headers["Authorization"] == "Bearer kcpp-pass"
    finally:
        await backend.close()


async def test_streaming_request_fields_and_stop_split_across_events(server: FakeServer) -> None:
    kobold_routes(server)
    # KoboldCpp was told the stops but this one ignores them and streams past.
    tokens = ["Hel", "lo", "!", "\nYo", "u:", " bye"]
    generations(server, STREAM_PATH, [token(t) for t in tokens] + [token("", "length")])
    backend = await loaded(server)
    params = GenerationParams(
        max_new_tokens=64,
        temperature=0.6,
        top_p=0.8,
        top_k=30,
        repetition_penalty=1.2,
        repetition_penalty_range=512,
        typical_p=0.9,
        min_p=0.02,
        mirostat_mode=1,
        mirostat_tau=3.0,
        mirostat_eta=0.3,
        seed=7,
    )
    try:
        assert await generate_text(backend, "PROMPT", params, STOPS) == "Hello!"
    finally:
        await backend.close()
    (request,) = server.paths(STREAM_PATH)
    body = dict(request.body)
    assert body.pop("genkey").startswith("galatea-")
    assert body == {
        "prompt": "PROMPT",
        "max_length": 64,
        "max_context_length": 4096,
        "temperature": 0.6,
        "top_p": 0.8,
        "top_k": 30,
        "rep_pen": 1.2,
        "rep_pen_range": 512,
        "typical": 0.9,
        "min_p": 0.02,
        "mirostat": 1,
        "mirostat_tau": 3.0,
        "mirostat_eta": 0.3,
        "stop_sequence": STOPS,
        "sampler_seed": 7,
        "trim_stop": True,
    }


async def test_plain_koboldai_generates_in_one_piece(server: FakeServer) -> None:
    kobold_routes(server, koboldcpp=False)
    generations(
        server, "/api/v1/generate", status(200, {"results": [{"text": " Hi there!\nYou: hm"}]})
    )
    backend = await loaded(server, context_length=2048)
    try:
        assert not backend.capabilities.streaming
        assert not backend.capabilities.exact_token_count
        assert await backend.count_tokens("some words") == estimate_tokens("some words")
        text = await generate_text(backend, "P", GenerationParams(seed=None), STOPS)
        assert text == " Hi there!"
    finally:
        await backend.close()
    body = server.paths("/api/v1/generate")[0].body
    assert body["max_context_length"] == 2048  # configured beats the server's 4096
    assert not {"genkey", "sampler_seed", "rep_pen_range", "trim_stop"} & body.keys()


async def test_closing_the_stream_aborts_our_generation(server: FakeServer) -> None:
    kobold_routes(server)

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        return await endless_stream(request, lambda i: token(f" w{i}"))

    generations(server, STREAM_PATH, endless)
    backend = await loaded(server)
    try:
        stream = backend.stream("p", GenerationParams(), [])
        assert await anext(stream) == " w0"
        await stream.aclose()
        await asyncio.wait_for(server.disconnected.wait(), timeout=1.0)
    finally:
        await backend.close()  # waits for the abort request
    (abort,) = server.paths("/api/extra/abort")
    assert abort.body == {"genkey": server.paths(STREAM_PATH)[0].body["genkey"]}


async def test_busy_server_is_retried(server: FakeServer) -> None:
    kobold_routes(server)
    busy = {"detail": {"msg": "Server is busy; please try again later.", "type": "service"}}
    generations(server, STREAM_PATH, status(503, busy), [token("ok", "stop")])
    backend = await loaded(server)
    try:
        assert await generate_text(backend, "p", GenerationParams(), []) == "ok"
        assert len(server.paths(STREAM_PATH)) == 2
        assert server.paths("/api/extra/abort") == []  # nothing started, nothing to abort
    finally:
        await backend.close()


async def test_busy_three_times_reports_the_server_message(server: FakeServer) -> None:
    kobold_routes(server)
    busy = {"detail": {"msg": "Server is busy; please try again later.", "type": "service"}}
    generations(server, STREAM_PATH, status(503, busy))
    backend = await loaded(server)
    try:
        with pytest.raises(ServerError) as caught:
            await generate_text(backend, "p", GenerationParams(), [])
        assert "Server is busy" in caught.value.detail
        assert len(server.paths(STREAM_PATH)) == 3
    finally:
        await backend.close()


async def test_stream_cut_before_finish_reason(server: FakeServer) -> None:
    kobold_routes(server)
    generations(server, STREAM_PATH, [token("Half"), token(" way")])
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read"):
            await generate_text(backend, "p", GenerationParams(), [])
    finally:
        await backend.close()


async def test_old_koboldcpp_without_finish_reason_ends_at_eof(server: FakeServer) -> None:
    kobold_routes(server)
    old_style = [sse({"token": t}, event="message") for t in ["Old", " style"]]
    generations(server, STREAM_PATH, old_style)
    backend = await loaded(server)
    try:
        assert await generate_text(backend, "p", GenerationParams(), []) == "Old style"
    finally:
        await backend.close()


async def test_malformed_event(server: FakeServer) -> None:
    kobold_routes(server)
    generations(server, STREAM_PATH, ["event: message\ndata: {oops\n\n"])
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read"):
            await generate_text(backend, "p", GenerationParams(), [])
    finally:
        await backend.close()


async def test_timeout(server: FakeServer) -> None:
    kobold_routes(server)

    async def slow(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return await stream_events(request, [token("late", "stop")])

    generations(server, STREAM_PATH, slow)
    backend = await loaded(server, request_timeout=0.3)
    try:
        with pytest.raises(GenerationTimeout):
            await generate_text(backend, "p", GenerationParams(), [])
    finally:
        await backend.close()


async def test_bad_request_and_unauthorized(server: FakeServer) -> None:
    kobold_routes(server)
    generations(server, STREAM_PATH, status(400, {"detail": {"msg": "max_length too large"}}))
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError) as caught:
            await generate_text(backend, "p", GenerationParams(), [])
        assert "max_length too large" in caught.value.detail
    finally:
        await backend.close()


async def test_unauthorized(server: FakeServer) -> None:
    server.json("GET", "/api/v1/model", {"detail": {"msg": "Authentication key is missing"}}, 401)
    await server.start()
    with pytest.raises(BackendUnavailable, match="API key"):
        await KoboldBackend(server.url, api_key="wrong").load()


async def test_refused_connection() -> None:
    backend = KoboldBackend(f"http://127.0.0.1:{closed_port()}", connect_timeout=1.0)
    with pytest.raises(BackendUnavailable, match="not reachable"):
        await backend.load()
