"""Prompt format and context from what is really there: the GGUF file's metadata, the name
and context an inference server reports; PROMPT_FORMAT and CONTEXT_LENGTH override."""

from __future__ import annotations

import asyncio
import logging
import mmap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import assemble, build_backend, open_core
from bot.errors import BackendUnavailable
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.inference.load_progress import LoadProgress
from bot.inference.openai_backend import OpenAICompletionsBackend
from bot.model_files.header import NotAModelFile, inspect_model_file
from bot.model_files.setup import check_model_file
from bot.settings import PromptFormat, Settings
from bot.store import Database
from cogs.client import build_bot
from tests.inference.fake_http import FAST_RETRY, FakeServer, closed_port
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import until


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    yield fake
    await fake.stop()


def test_the_gguf_header_gives_architecture_name_and_context(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf", context_length=4096)
    info = inspect_model_file(path)
    assert (info.container, info.architecture, info.context_length) == ("gguf", "llama", 4096)
    assert info.name == "tiny-random-llama"


def test_ggml_files_are_recognised_and_anything_else_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"tjgg" + bytes(64))
    assert inspect_model_file(tmp_path / "a.bin").container == "ggjt"
    (tmp_path / "b.gguf").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(NotAModelFile, match="not a GGUF or GGML model file"):
        inspect_model_file(tmp_path / "b.gguf")


def test_the_context_comes_from_the_file_unless_the_setting_overrides_it(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf", context_length=4096)
    settings = Settings(MODEL=str(path))
    assert build_backend(settings, check_model_file(settings)).context_length == 4096
    pinned = Settings(MODEL=str(path), CONTEXT_LENGTH=1024)
    assert build_backend(pinned, check_model_file(pinned)).context_length == 1024


async def test_the_renderer_uses_the_context_of_the_loaded_file(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "pygmalion-2-tiny.gguf", context_length=512)
    settings = Settings(MODEL=str(path), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    core = await open_core(settings)
    try:
        assert core.engine.context_length == 512
        assert core.engine.prompt_format is PromptFormat.METHARME  # from MODEL
    finally:
        await core.close()


async def openai_core(server: FakeServer, tmp_path: Path, model_id: str, **settings: object):  # type: ignore[no-untyped-def]
    server.json("GET", "/v1/models", {"data": [{"id": model_id, "max_model_len": 8192}]})
    await server.start()
    return await open_core(
        Settings(
            INFERENCE_BACKEND="openai",
            INFERENCE_URL=f"{server.url}/v1",
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            **settings,
        )
    )


async def test_the_format_and_context_come_from_the_model_a_server_reports(
    server: FakeServer, tmp_path: Path
) -> None:
    core = await openai_core(server, tmp_path, "models/pygmalion-2-13b.Q4_K_M.gguf")
    try:
        assert core.engine.prompt_format is PromptFormat.METHARME
        assert core.engine.context_length == 8192
    finally:
        await core.close()


async def test_prompt_format_and_context_length_settings_override_the_server(
    server: FakeServer, tmp_path: Path
) -> None:
    core = await openai_core(
        server, tmp_path, "mythalion-13b", PROMPT_FORMAT="pygmalion", CONTEXT_LENGTH=2048
    )
    try:
        assert core.engine.prompt_format is PromptFormat.PYGMALION
        assert core.engine.context_length == 2048
    finally:
        await core.close()


async def test_a_format_guessed_from_nothing_is_warned_about(
    server: FakeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.model_files.setup"):
        core = await openai_core(server, tmp_path, "mistral-7b-instruct")
    try:
        assert core.engine.prompt_format is PromptFormat.PYGMALION
    finally:
        await core.close()
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.model_files.setup"]
    assert "Prompt format pygmalion is a guess" in warning and "'mistral-7b-instruct'" in warning


async def test_the_kobold_model_name_chooses_the_format(server: FakeServer, tmp_path: Path) -> None:
    server.json("GET", "/api/v1/model", {"result": "koboldcpp/Mythalion-13B"})
    server.json("GET", "/api/extra/true_max_context_length", {"value": 6144})
    await server.start()
    core = await open_core(
        Settings(
            INFERENCE_BACKEND="kobold",
            INFERENCE_URL=server.url,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        )
    )
    try:
        assert core.engine.prompt_format is PromptFormat.METHARME
        assert core.engine.context_length == 6144
    finally:
        await core.close()


def test_load_progress_is_the_share_of_the_file_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    path.write_bytes(bytes(8 * 2**20))
    progress = LoadProgress(path)
    assert progress.seconds_left() is None
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mem:
        for offset in range(0, 4 * 2**20, mmap.PAGESIZE):  # touch the first half
            mem[offset]
        done = progress.fraction()
        assert done is not None and 0.45 <= done <= 0.75
        assert "of 8.4 MB read" in progress.describe()


async def test_the_bot_says_loading_only_while_a_load_is_under_way(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "m.gguf")
    backend = CTransformersBackend(str(path), context_length=256, threads=1)
    with pytest.raises(BackendUnavailable, match=r"^The model is not loaded"):
        await backend.count_tokens("hi")
    loading = asyncio.create_task(backend.load())
    await asyncio.sleep(0)  # the load has begun (it waits on the model thread)
    with pytest.raises(BackendUnavailable, match=r"^The model is still loading"):
        await backend.count_tokens("hi")
    await loading
    assert await backend.count_tokens("hi") > 0
    await backend.close()


async def test_a_left_over_model_setting_does_not_choose_a_servers_format(
    server: FakeServer, tmp_path: Path
) -> None:
    # .env.example's MODEL names a Pygmalion-2 file; the server serves a classic model.
    core = await openai_core(
        server, tmp_path, "pygmalion-6b", MODEL="models/pygmalion-2-7b.Q4_K_M.gguf"
    )
    try:
        assert core.engine.prompt_format is PromptFormat.PYGMALION
    finally:
        await core.close()


async def test_the_bot_asks_a_server_that_is_not_up_yet_again_then_adopts_its_model(
    sqlite_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    settings = Settings(INFERENCE_BACKEND="openai", INFERENCE_URL=f"http://127.0.0.1:{port}/v1")
    backend = OpenAICompletionsBackend(settings.INFERENCE_URL, retry=FAST_RETRY)
    bot = build_bot(assemble(settings, sqlite_database, backend))
    app = web.Application()

    async def models(request: web.Request) -> web.StreamResponse:
        return web.json_response({"data": [{"id": "mythalion-13b", "max_model_len": 4096}]})

    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    try:
        with caplog.at_level(logging.WARNING, logger="cogs.client"):
            loading = asyncio.create_task(bot.load_model(retry_delay=0.05))
            await until(
                lambda: any("trying again in" in r.getMessage() for r in caplog.records),
                timeout=30,
            )
            assert not loading.done()  # not up yet: still asking, not given up
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()  # the server comes up
            await asyncio.wait_for(loading, timeout=30)
        assert bot.fatal is None
        assert bot.core.engine.prompt_format is PromptFormat.METHARME
        assert bot.core.engine.context_length == 4096
    finally:
        await backend.close()
        await runner.cleanup()


async def test_a_renamed_gguf_file_is_known_by_the_name_inside_it(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "model.gguf")  # says nothing in its file name
    header = path.read_bytes().replace(b"tiny-random-llama", b"Mythalion-13B-tin")
    path.write_bytes(header)  # same length: general.name is now "Mythalion-13B-tin"
    settings = Settings(MODEL=str(path), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    core = await open_core(settings)
    try:
        assert core.engine.prompt_format is PromptFormat.METHARME
    finally:
        await core.close()


async def test_load_progress_is_reported_in_the_log_every_few_seconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "big.gguf"
    path.write_bytes(bytes(2**20))
    with caplog.at_level(logging.INFO, logger="bot.inference.load_progress"):
        reporter = asyncio.create_task(LoadProgress(path).report("big.gguf", every=0.01))
        await until(lambda: len(caplog.records) >= 2, timeout=10)
        reporter.cancel()
    assert caplog.records[0].getMessage().startswith("Loading big.gguf: ")
