"""An OpenAI-compatible server on 127.0.0.1 that answers instantly, for the HTTP overhead.

    python -m bench.fake_openai_server            # prints "PORT <n>" once it listens

It serves what the bot's OpenAI backend asks for: ``GET /v1/models``, ``POST /tokenize``
(llama.cpp's dialect, counted with the bot's estimate) and ``POST /v1/completions`` streamed as
server-sent events, a few small chunks per reply, no delay. It stops by itself after
``--lifetime`` seconds, so a forgotten one never lingers.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

CHUNKS = (" *smiles*", " Of", " course", "!", " The", " egg", " is", " warm", ".")
MODEL_ID = "bench-instant"


def _typical_tokens(text: str) -> int:
    """About what a real tokenizer spends on English (4 bytes a token): the estimate is an
    upper bound now, several times higher, and would make the benchmark's prompts shorter."""
    return (len(text.encode()) + 3) // 4


async def models(_request: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "max_model_len": 4096}]}
    )


async def tokenize(request: web.Request) -> web.Response:
    body = await request.json()
    text = body.get("content") if isinstance(body.get("content"), str) else ""
    # Only llama.cpp's dialect ({"content": ...}) is answered with a count, like llama-server.
    return web.json_response({"tokens": list(range(_typical_tokens(text)))})


async def completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    limit = int(body.get("max_tokens") or len(CHUNKS))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    pieces = CHUNKS[: max(1, min(limit, len(CHUNKS)))]
    for index, text in enumerate(pieces):
        finish = "length" if index == len(pieces) - 1 else None
        chunk = {
            "id": "cmpl-bench",
            "object": "text_completion",
            "model": MODEL_ID,
            "choices": [{"index": 0, "text": text, "finish_reason": finish}],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/tokenize", tokenize)
    app.router.add_post("/v1/completions", completions)
    return app


async def serve(lifetime: float) -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.sleep(lifetime)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lifetime", type=float, default=900.0)
    asyncio.run(serve(parser.parse_args().lifetime))


if __name__ == "__main__":
    main()
