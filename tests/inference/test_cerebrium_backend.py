"""CerebriumBackend against a local fake of the hosted Pygmalion endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.errors import BackendUnavailable, GenerationTimeout, InferenceError
from bot.inference.base import Backend, GenerationParams, generate_text
from bot.inference.cerebrium_backend import CerebriumBackend, strip_prompt_echo
from bot.inference.http.errors import ServerError
from bot.inference.token_estimate import estimate_tokens
from tests.inference.fake_http import FAST_RETRY, FakeServer, Received, closed_port

API_KEY = "c-private-key-42"
PATH = "/pygmalion-2-7b-webhook/predict"
PROMPT = (
    "Michael's Persona: A big strong man with a big heart\n"
    "<START>\n"
    "You: How are you doing on this wonderful day?\n"
    "Michael:"
)
STOPS = ["\nYou:"]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    yield fake
    await fake.stop()


def reply(result: Any, message: str = "Successfully generated text") -> dict[str, Any]:
    return {"run_id": "5e1a-uuid", "run_time_ms": 812.5, "message": message, "result": result}


def predict(server: FakeServer, *responses: Any) -> None:
    queue = list(responses)

    async def handler(request: web.Request, received: Received) -> web.StreamResponse:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(current):
            return await current(request, received)
        code, payload = current
        return web.json_response(payload, status=code)

    server.route("POST", PATH, handler)


async def loaded(server: FakeServer, **kwargs: Any) -> CerebriumBackend:
    await server.start()
    kwargs.setdefault("retry", FAST_RETRY)
    backend = CerebriumBackend(f"{server.url}{PATH}", API_KEY, **kwargs)
    await backend.load()
    return backend


# --- echo stripping ---------------------------------------------------------------------------


def test_exact_echo_is_stripped() -> None:
    assert strip_prompt_echo(PROMPT, PROMPT + " I'm great!") == " I'm great!"


def test_whitespace_normalised_echo_is_stripped() -> None:
    echoed = " ".join(PROMPT.split())  # every line break collapsed to a space
    assert strip_prompt_echo(PROMPT, echoed + " Fine, thanks.\nYou: ok") == (
        " Fine, thanks.\nYou: ok"
    )


def test_echo_with_a_changed_first_word_falls_back_to_the_turn_marker() -> None:
    # As in the vendor's example, the echo's first word differs from the prompt's.
    echoed = PROMPT.replace("Michael's Persona", "Michaels persona", 1).replace("\n", " \n")
    completion = " Wonderful! Michael: that's me.\nYou: nice"
    assert strip_prompt_echo(PROMPT, echoed + completion) == completion


def test_marker_repeated_in_prompt_and_completion_picks_the_prompts_last() -> None:
    prompt = "X's Persona: shy\n<START>\nX: hi\nYou: hey\nX:"
    echoed = prompt.replace("X's Persona", "Xs Persona")
    completion = " hello\nYou: and?\nX: more"
    assert strip_prompt_echo(prompt, echoed + completion) == completion


def test_reply_without_echo_is_kept_whole() -> None:
    assert strip_prompt_echo(PROMPT, "Just the reply.") == "Just the reply."


# --- requests ---------------------------------------------------------------------------------


async def test_request_shape_echo_stripping_and_local_stop(server: FakeServer) -> None:
    # The server returns the prompt echo, the reply and a runaway next turn.
    predict(server, (200, reply(PROMPT + " Great, thanks!\nYou: what now?")))
    backend = await loaded(server)
    params = GenerationParams(
        max_new_tokens=50,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        typical_p=0.95,
        repetition_penalty=1.08,
        min_p=0.1,
    )
    try:
        assert isinstance(backend, Backend)
        assert await generate_text(backend, PROMPT, params, STOPS) == " Great, thanks!"
    finally:
        await backend.close()
    (request,) = server.paths(PATH)
    assert request.headers["Authorization"] == API_KEY  # the bare key, no "Bearer"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == {
        "prompt": PROMPT,
        "max_length": estimate_tokens(PROMPT) + 50,  # HF max_length counts the prompt
        "temperature": 0.5,
        "stopping_criteria": STOPS,
        "top_p": 0.9,
        "typical_p": 0.95,
        "repetition_penalty": 1.08,
        "top_k": 40,
    }


async def test_max_length_can_mean_new_tokens_only(server: FakeServer) -> None:
    predict(server, (200, reply(PROMPT + " ok")))
    backend = await loaded(server, max_length_includes_prompt=False)
    try:
        await generate_text(backend, PROMPT, GenerationParams(max_new_tokens=33), STOPS)
    finally:
        await backend.close()
    assert server.paths(PATH)[0].body["max_length"] == 33


async def test_normalised_echo_from_the_server(server: FakeServer) -> None:
    echoed = PROMPT.replace("Michael's", "Michaels", 1).replace("\n", "\n ")
    predict(server, (200, reply({"text": echoed + " Doing well."})))
    backend = await loaded(server)
    try:
        assert await generate_text(backend, PROMPT, GenerationParams(), STOPS) == " Doing well."
    finally:
        await backend.close()


async def test_capabilities_and_estimated_counts(server: FakeServer) -> None:
    backend = await loaded(server)
    try:
        caps = backend.capabilities
        assert not caps.streaming and not caps.exact_token_count
        assert caps.samplers == {"top_k", "top_p", "typical_p", "repetition_penalty"}
        assert await backend.count_tokens(PROMPT) == estimate_tokens(PROMPT)
        assert server.requests == []  # loading costs nothing: no billed call
    finally:
        await backend.close()


async def test_missing_api_key() -> None:
    with pytest.raises(BackendUnavailable, match="API key"):
        await CerebriumBackend("https://run.cerebrium.ai/x/predict", "").load()


# --- failures ---------------------------------------------------------------------------------


async def test_unauthorized(server: FakeServer) -> None:
    predict(server, (401, {"message": "Invalid API key"}))
    backend = await loaded(server)
    try:
        with pytest.raises(BackendUnavailable, match="API key") as caught:
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
        assert API_KEY not in caught.value.user_message
    finally:
        await backend.close()


async def test_bad_request_message(server: FakeServer) -> None:
    predict(server, (400, {"message": "prompt exceeds 2048 tokens"}))
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError) as caught:
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
        assert "prompt exceeds 2048 tokens" in caught.value.detail
        assert len(server.paths(PATH)) == 1
    finally:
        await backend.close()


async def test_server_error_then_success(server: FakeServer) -> None:
    predict(server, (500, {"message": "cold start failed"}), (200, reply(PROMPT + " Back!")))
    backend = await loaded(server)
    try:
        assert await generate_text(backend, PROMPT, GenerationParams(), STOPS) == " Back!"
        assert len(server.paths(PATH)) == 2
    finally:
        await backend.close()


async def test_server_error_thrice(server: FakeServer) -> None:
    predict(server, (502, {"message": "bad gateway"}))
    backend = await loaded(server)
    try:
        with pytest.raises(ServerError):
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
        assert len(server.paths(PATH)) == 3
    finally:
        await backend.close()


async def test_reply_without_result(server: FakeServer) -> None:
    predict(server, (200, reply(None, message="Model failed to load")))
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError) as caught:
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
        assert "Model failed to load" in caught.value.detail
    finally:
        await backend.close()


async def test_malformed_json(server: FakeServer) -> None:
    async def broken(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(text='{"result": "unterminated', content_type="application/json")

    predict(server, broken)
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read"):
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
    finally:
        await backend.close()


async def test_body_cut_short(server: FakeServer) -> None:
    async def cut(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 500
        await response.prepare(request)
        await response.write(b'{"result": "Mich')
        assert request.transport is not None
        request.transport.abort()
        return response

    predict(server, cut)
    backend = await loaded(server)
    try:
        with pytest.raises(InferenceError, match="could not read"):
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
    finally:
        await backend.close()


async def test_timeout(server: FakeServer) -> None:
    async def slow(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.json_response(reply(PROMPT + " late"))

    predict(server, slow)
    backend = await loaded(server, request_timeout=0.3)
    try:
        with pytest.raises(GenerationTimeout):
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
    finally:
        await backend.close()


async def test_cancelling_the_consumer_closes_the_connection(server: FakeServer) -> None:
    async def slow(request: web.Request, received: Received) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return web.json_response(reply(PROMPT + " late"))

    predict(server, slow)
    backend = await loaded(server)
    try:
        task = asyncio.create_task(generate_text(backend, PROMPT, GenerationParams(), STOPS))
        await asyncio.wait_for(server.got_request.wait(), timeout=1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.disconnected.wait(), timeout=1.0)
    finally:
        await backend.close()


async def test_refused_connection() -> None:
    backend = CerebriumBackend(
        f"http://127.0.0.1:{closed_port()}{PATH}", API_KEY, connect_timeout=1.0
    )
    await backend.load()
    try:
        with pytest.raises(BackendUnavailable, match="not reachable"):
            await generate_text(backend, PROMPT, GenerationParams(), STOPS)
    finally:
        await backend.close()


async def test_a_reply_past_the_token_budget_is_cut_by_bytes(server: FakeServer) -> None:
    predict(server, (200, reply([PROMPT + " Sure." * 40_000])))  # 240 KB, max_length ignored
    backend = await loaded(server)
    try:
        text = await generate_text(backend, PROMPT, GenerationParams(max_new_tokens=50), STOPS)
        assert text.startswith(" Sure.") and len(text.encode()) <= max(1024, 50 * 16)
    finally:
        await backend.close()
