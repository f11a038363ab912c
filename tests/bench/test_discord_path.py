"""The Discord-path benchmark runs end to end: the real bot against the Discord emulation, with a
real llama.cpp backend built as the benchmark worker builds it, on a tiny random-weight model.
No timing is asserted (speed lives in bench/), only that the figures add up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.discord_path import ReplyTiming, measure_discord_path, summarize
from bench.gguf_model import ModelShape, write_random_llama
from bench.local_worker import local_settings
from bot.app import build_backend
from bot.inference.base import Backend
from tests.bench.reports import report_with

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(60)

TINY = ModelShape("bench-tiny", n_embd=64, n_layer=1, n_head=2, n_head_kv=1, n_ff=128)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_llama(tmp_path_factory.mktemp("bench") / "tiny.gguf", TINY)


@pytest.fixture
async def backend(tiny_model: Path) -> AsyncIterator[Backend]:
    built = build_backend(
        local_settings("llama-cpp", tiny_model, threads=1, gpu_layers=0, context=2048)
    )
    yield built
    await built.close()


async def test_every_channel_sees_its_reply_and_first_text_comes_before_completion(
    backend: Backend, tiny_model: Path
) -> None:
    result = await measure_discord_path(
        backend,
        model=str(tiny_model),
        channel_counts=(1, 2),
        rounds=1,
        max_new_tokens=4,
        round_timeout=30,
    )
    assert result["emulator_errors"] == []
    assert result["warm_up"]["replies"] == 1 and result["warm_up"]["failures"] == 0
    assert set(result["channels"]) == {"1", "2"}
    for count, figures in result["channels"].items():
        assert figures["channels"] == int(count) and figures["rounds"] == 1
        assert figures["messages"] == int(count)
        assert figures["replies"] == int(count) and figures["failures"] == 0
        assert 0 < figures["first_text_p50"] <= figures["first_text_p95"]
        assert figures["first_text_p95"] <= figures["first_text_max"]
        assert figures["first_text_max"] <= figures["complete_max"]
        assert figures["first_text_p50"] <= figures["complete_p50"]
        assert figures["longest_wait"] == figures["first_text_max"]
        assert figures["reply_chars_p50"] > 0
    markdown = _report({"backend": "llama-cpp", "reply_tokens": 4} | result)
    assert "Time to first visible text in Discord" in markdown and "warm-up reply" in markdown
    assert "first visible text in Discord with 8 channels" not in markdown  # no 8-channel run


def test_summary_counts_failed_and_unanswered_messages_apart_from_replies() -> None:
    replied = ReplyTiming(1, posted=10.0, after_id=1, first_text=11.0, complete=12.0)
    noted = ReplyTiming(2, posted=10.0, after_id=2, first_text=10.5, failed=13.0)
    silent = ReplyTiming(3, posted=10.0, after_id=3, gave_up=40.0)
    figures = summarize([replied, noted, silent], channels=3, rounds=1, wall_seconds=30.0)
    assert (figures["messages"], figures["replies"], figures["failures"]) == (3, 1, 2)
    assert (figures["failure_notes"], figures["no_reply"]) == (1, 1)
    assert figures["first_text_p50"] == figures["first_text_max"] == 1.0
    assert figures["complete_p50"] == 2.0
    assert figures["longest_wait"] == 30.0  # the silent channel waited the whole round


def _report(discord_path: dict[str, object]) -> str:
    return report_with(discord_path=discord_path)
