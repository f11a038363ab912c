"""A server that refuses a prompt as too long gets a shorter one, once, instead of a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.characters.service import CharacterDraft, CharacterService
from bot.inference.base import GenerationParams
from bot.inference.http.errors import PromptTooLong
from bot.inference.openai_backend import OpenAICompletionsBackend
from bot.policy import OPERATOR, Caller, Place
from bot.prompt.render import PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.roleplay.engine import SessionEngine
from bot.settings import PromptFormat
from bot.store import Database
from tests.inference.fake_http import FAST_RETRY, FakeServer, Received, sse, stream_events

PARAMS = GenerationParams(max_new_tokens=40, temperature=0.0, top_k=1, seed=3)
CONTEXT = 1024


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    yield fake
    await fake.stop()


def serve(server: FakeServer, longest_prompt: int) -> None:
    """A server without a tokenize endpoint that refuses prompts over ``longest_prompt``
    characters, the way vLLM words it."""
    server.json("GET", "/v1/models", {"data": [{"id": "m", "max_model_len": CONTEXT}]})

    async def complete(request: web.Request, received: Received) -> web.StreamResponse:
        if len(received.body["prompt"]) > longest_prompt:
            message = f"This model's maximum context length is {CONTEXT} tokens."
            return web.json_response({"message": message, "code": 400}, status=400)
        chunk = {"choices": [{"text": " Splash!", "finish_reason": "stop"}]}
        return await stream_events(request, [sse(chunk), sse("[DONE]")])

    server.route("POST", "/v1/completions", complete)


async def engine_with_history(
    server: FakeServer, database: Database
) -> tuple[SessionEngine, int, OpenAICompletionsBackend]:
    await server.start()
    backend = OpenAICompletionsBackend(f"{server.url}/v1", retry=FAST_RETRY)
    await backend.load()
    renderer = PromptRenderer(PromptFormat.PYGMALION, TokenCounter(backend), context_length=CONTEXT)
    engine = SessionEngine(database, backend, renderer, PARAMS, history_limit=200)
    character = await CharacterService(database).create(
        1,
        10,
        CharacterDraft(name="Aqua", persona="A water goddess.", greeting="Hi!"),
        caller=OPERATOR,
    )
    session, _ = await engine.sessions.start(
        Place(1, 5), character.id, caller=Caller(10, "member"), user_name="Alice"
    )
    for i in range(60):
        await engine.history.add_human_message(
            session.id, speaker="Alice", content=f"Message {i} about the lake.", author_id=1
        )
    return engine, session.id, backend


async def test_a_prompt_the_server_finds_too_long_is_trimmed_and_sent_again(
    server: FakeServer, database: Database
) -> None:
    serve(server, longest_prompt=400)
    engine, session, backend = await engine_with_history(server, database)
    try:
        reply = await engine.replies.generate_reply(session)
        assert reply.message.content == "Splash!"
        prompts = [r.body["prompt"] for r in server.paths("/v1/completions")]
        assert len(prompts) == 2 and len(prompts[1]) <= 400 < len(prompts[0])
        assert prompts[1].endswith("Alice: Message 59 about the lake.\nAqua:")
        await engine.replies.generate_reply(session)  # the room made stays: no refusal this time
        assert len(server.paths("/v1/completions")) == 3
    finally:
        await backend.close()


async def test_a_prompt_still_too_long_after_trimming_is_reported(
    server: FakeServer, database: Database
) -> None:
    serve(server, longest_prompt=10)
    engine, session, backend = await engine_with_history(server, database)
    try:
        with pytest.raises(PromptTooLong, match="too long for the model"):
            await engine.replies.generate_reply(session)
        assert len(server.paths("/v1/completions")) == 2  # tried once more, not forever
    finally:
        await backend.close()
