"""The benchmark code runs: tiny sizes only, no timing is asserted (speed lives in bench/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gguf_model import ModelShape, write_random_llama
from bench.http_overhead import fake_server, request_overhead
from bench.instant_backend import InstantBackend
from bench.own_work import measure_channel_work, measure_own_work
from bench.vocab import VOCAB_SIZE, build_vocabulary
from tests.bench.reports import report_with

TINY = ModelShape("bench-tiny", n_embd=64, n_layer=1, n_head=2, n_head_kv=1, n_ff=128)


def test_vocabulary_has_32k_unique_pieces_with_byte_fallback() -> None:
    vocab = build_vocabulary()
    assert len(vocab.tokens) == VOCAB_SIZE == len(set(vocab.tokens))
    assert "<0x0A>" in vocab.tokens and "▁the" in vocab.tokens


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_llama(tmp_path_factory.mktemp("bench") / "tiny.gguf", TINY)


async def test_tokenizer_of_the_written_model_reads_english_like_llama(tiny_model: Path) -> None:
    backend = InstantBackend(tiny_model)
    await backend.load()
    text = "We found a strange egg near the river, and the guild wants us to fix it."
    try:
        count = await backend.count_tokens(text)
    finally:
        await backend.close()
    assert backend.tokenizer == "llama.cpp vocab_only"
    assert 0.15 < count / len(text) < 0.35


async def test_own_work_measurement_runs_over_a_stored_history(tiny_model: Path) -> None:
    result = await measure_own_work(
        InstantBackend(tiny_model), turns=3, model=str(tiny_model), stored=300
    )
    assert result["history_ok"] and result["own_ms_p50"] > 0


async def test_discord_path_measurement_answers_every_message(tiny_model: Path) -> None:
    result = await measure_channel_work(
        InstantBackend(tiny_model), turns=3, model=str(tiny_model), stored=300
    )
    assert result["turns"] == 3 and result["own_ms_p50"] > 0  # a failed turn raises


async def test_http_overhead_is_measured_against_a_loopback_server() -> None:
    async with fake_server() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        result = await request_overhead(base_url, requests=3)
    assert result["request_ms_p50"] > 0
    markdown = report_with(http={"fake_server": {"per_request": result}})
    assert "HTTP overhead per request" in markdown
