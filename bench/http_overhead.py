"""The OpenAI-compatible backend: the bot's overhead per request against an instant loopback
server, and (when llama-cpp-python's server extra is installed) replies from a real one."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.chat_runs import latency_summary, run_channels
from bench.conversation import filler_text
from bench.core_setup import open_bench_core
from bench.own_work import measure_own_work
from bench.stats import p50, p95
from bot.inference.base import GenerationParams
from bot.inference.openai_backend import OpenAICompletionsBackend

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_START_TIMEOUT_SECONDS = 120.0
SERVER_STOP_TIMEOUT_SECONDS = 15.0
REQUEST_PROMPT_CHARS = 6_000  # about 1,500 tokens: a full roleplay prompt's payload
SERVER_EXTRA_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context")


async def _read_port(process: asyncio.subprocess.Process) -> int:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), SERVER_START_TIMEOUT_SECONDS)
    if not line.startswith(b"PORT "):
        raise RuntimeError(f"fake server did not start: {line!r}")
    return int(line.split()[1])


@asynccontextmanager
async def fake_server() -> AsyncIterator[str]:
    """Start bench.fake_openai_server in a process of its own; yields its /v1 base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fake_openai_server",
        "--lifetime",
        "1800",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        port = await _read_port(process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def request_overhead(base_url: str, requests: int) -> dict[str, Any]:
    """Whole streamed requests (about 1,500 prompt tokens) against an instant server."""
    backend = OpenAICompletionsBackend(base_url, context_length=4096)
    await backend.load()
    prompt = filler_text(5, REQUEST_PROMPT_CHARS)
    params = GenerationParams(max_new_tokens=16)
    seconds = []
    try:
        for index in range(requests + 5):
            started = time.perf_counter()
            async for _piece in backend.stream(f"{index} {prompt}", params, stop=("\nAlice:",)):
                pass
            if index >= 5:  # the first requests open connections
                seconds.append(time.perf_counter() - started)
    finally:
        await backend.close()
    return {
        "requests": requests,
        "prompt_chars": len(prompt),
        "request_ms_p50": p50(seconds) * 1000,
        "request_ms_p95": p95(seconds) * 1000,
    }


async def measure_fake_server(requests: int, own_turns: int) -> dict[str, Any]:
    async with fake_server() as base_url:
        overhead = await request_overhead(base_url, requests)
        backend = OpenAICompletionsBackend(base_url, context_length=4096)
        own = await measure_own_work(backend, turns=own_turns, model="openai-fake")
    return {"per_request": overhead, "per_turn_with_10k_messages": own}


def server_extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in SERVER_EXTRA_MODULES)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_until_serving(base_url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError("llama_cpp.server exited while starting")
            try:
                async with session.get(f"{base_url}/models") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("llama_cpp.server did not answer in time")


async def measure_real_server(model: Path, quick: bool) -> dict[str, Any]:
    """Replies on one channel through llama-cpp-python's OpenAI-compatible server."""
    if not server_extra_installed():
        return {
            "measured": False,
            "reason": "llama-cpp-python's server extra (fastapi, uvicorn, sse-starlette, "
            "starlette-context) is not installed",
        }
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_until_serving(base_url, process)
        backend = OpenAICompletionsBackend(base_url, context_length=4096)
        with tempfile.TemporaryDirectory(prefix="galatea-bench-") as folder:
            bench = await open_bench_core(
                backend, Path(folder) / "real.db", model=str(model), max_new_tokens=16
            )
            try:
                run = await run_channels(
                    bench,
                    channels=1,
                    rounds=4 if quick else 8,
                    max_new_tokens=16,
                    concurrent=False,
                    first_channel=50_000,
                    seed=31,
                )
                summary = latency_summary(bench, run, 1)
            finally:
                await bench.close()
        return {"measured": True, "server": "llama_cpp.server", **summary}
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), SERVER_STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), SERVER_STOP_TIMEOUT_SECONDS)
