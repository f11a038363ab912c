"""One local backend, measured in a process of its own (so its peak memory is its own).

    python -m bench.local_worker --backend llama-cpp --model M --parts raw,reuse --out r.json

Parts: raw, reuse, slide, reply (through the core) and discord (the real bot through the
Discord emulation; needs the checkout's tests/).

``bench run`` starts this once per backend; it is a module of its own so that it can also be
run by hand while tuning a backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chat_runs import channel_plan, latency_summary, reuse_summary, run_channels
from bench.core_setup import BenchCore, bench_settings, open_bench_core
from bench.machine import gpu_memory_used_mib, load_average, peak_rss_mib
from bench.raw_speed import measure_raw_speed
from bot.app import build_backend
from bot.inference.base import Backend
from bot.settings import Settings

log = logging.getLogger(__name__)

CONTEXT_LENGTH = 4096  # Pygmalion-2 / Mythalion's window; 2,048-token prompts fit with room


def local_settings(
    kind: str,
    model: Path,
    *,
    threads: int,
    gpu_layers: int,
    context: int = CONTEXT_LENGTH,
    url: str = "",
) -> Settings:
    """An operator's settings for the backend: the environment (e.g. MODEL_INSTANCES=8) and
    defaults for everything not named here. ``url``: an OpenAI-compatible server (kind
    ``openai``) serving ``model``, e.g. llama.cpp's ``llama-server --parallel 8``."""
    return bench_settings(
        Path(tempfile.gettempdir()) / "unused.db",
        model=str(model),
        context_length=context,
        max_new_tokens=16,
        INFERENCE_BACKEND=kind,
        GPU_LAYERS=gpu_layers,
        THREADS=threads,
        **({"INFERENCE_URL": url} if url else {}),
    )


def backend_settings_in_effect(settings: Settings) -> dict[str, object]:
    """The settings that shape a local backend's reuse, for the report."""
    names = ("MODEL_INSTANCES", "PARALLEL", "KV_CACHE_TYPE", "MAX_QUEUE_PER_SERVER")
    return {name: getattr(settings, name) for name in names}


async def _reuse_part(bench: BenchCore, quick: bool, reply_tokens: int) -> dict[str, Any]:
    rounds = 4 if quick else 8
    one_person = await run_channels(
        bench,
        channels=1,
        rounds=rounds,
        max_new_tokens=reply_tokens,
        concurrent=False,
        first_channel=19_000,
        seed=10,
        people=1,
    )
    single = await run_channels(
        bench,
        channels=1,
        rounds=rounds,
        max_new_tokens=reply_tokens,
        concurrent=False,
        first_channel=20_000,
        seed=11,
    )
    interleaved = await run_channels(
        bench,
        channels=8,
        rounds=2 if quick else 3,
        max_new_tokens=reply_tokens,
        concurrent=False,
        first_channel=21_000,
        seed=12,
    )
    return {
        "single_channel_one_person": await reuse_summary(bench, one_person),
        "single_channel": await reuse_summary(bench, single),
        "interleaved_8_channels": await reuse_summary(bench, interleaved),
    }


async def _slide_part(bench: BenchCore, reply_tokens: int) -> dict[str, Any]:
    """Chats long enough that the window slides many times in the (small) context."""
    one = await run_channels(
        bench,
        channels=1,
        rounds=120,
        max_new_tokens=reply_tokens,
        concurrent=False,
        first_channel=40_000,
        seed=40,
    )
    two = await run_channels(
        bench,
        channels=2,
        rounds=80,
        max_new_tokens=reply_tokens,
        concurrent=False,
        first_channel=41_000,
        seed=41,
    )
    return {
        "one_channel": await reuse_summary(bench, one),
        "two_channels_taking_turns": await reuse_summary(bench, two),
    }


async def _reply_part(bench: BenchCore, quick: bool, reply_tokens: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for index, (channels, rounds) in enumerate(channel_plan(quick)):
        run = await run_channels(
            bench,
            channels=channels,
            rounds=rounds,
            max_new_tokens=reply_tokens,
            concurrent=True,
            first_channel=30_000 + 1000 * index,
            seed=20 + index,
        )
        summary = latency_summary(bench, run, channels)
        summary["reuse"] = {
            k: v for k, v in (await reuse_summary(bench, run)).items() if k != "per_turn"
        }
        summary["load_average"] = load_average()
        results[str(channels)] = summary
        log.info(
            "%d channels: p50 %.1f s, p95 %.1f s",
            channels,
            summary["latency_p50"],
            summary["latency_p95"],
        )
    return results


async def _discord_part(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    """The same loaded backend, behind the real bot and a database of its own. The bench core
    stays open but idle meanwhile: the model is loaded once, and only one of them uses it."""
    # Imported here: it runs the test suite's Discord emulation, which only a checkout has.
    from bench.discord_path import measure_discord_path

    return await measure_discord_path(
        backend,
        model=args.model,
        channel_counts=(1, 8) if args.quick else (1, 8, 32),
        rounds=2 if args.quick else 3,
        max_new_tokens=args.reply_tokens,
    )


async def measure_backend(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    settings = local_settings(
        args.backend,
        Path(args.model),
        threads=args.threads,
        gpu_layers=args.gpu_layers,
        context=args.context,
        url=args.url,
    )
    backend = build_backend(settings)  # exactly as bot/app.py builds it
    result: dict[str, Any] = {
        "backend": args.backend,
        "model": Path(args.model).name,
        "threads": args.threads,
        "gpu_layers": args.gpu_layers,
        "context_length": args.context,
        "settings_in_effect": backend_settings_in_effect(settings),
    }
    with tempfile.TemporaryDirectory(prefix="galatea-bench-") as folder:
        started = time.perf_counter()
        bench = await open_bench_core(
            backend, Path(folder) / "bench.db", model=args.model, max_new_tokens=args.reply_tokens
        )
        result["load_seconds"] = time.perf_counter() - started
        result["gpu_offload"] = backend.capabilities.gpu_offload
        try:
            if "raw" in parts:
                sizes = [512] if args.quick else [512, 2048]
                result["raw"] = await measure_raw_speed(
                    bench.backend, sizes, 32 if args.quick else 64
                )
                log.info("%s raw: %s", args.backend, result["raw"])
            if "reuse" in parts:
                result["reuse"] = await _reuse_part(bench, args.quick, args.reply_tokens)
            if "slide" in parts:
                result["slide"] = await _slide_part(bench, args.reply_tokens)
            if "reply" in parts:
                result["reply_path"] = await _reply_part(bench, args.quick, args.reply_tokens)
            if "discord" in parts:
                result["discord_path"] = await _discord_part(backend, args)
            result["vram_used_mib"] = gpu_memory_used_mib()
        finally:
            await bench.close()
    result["peak_rss_mib"] = peak_rss_mib()
    result["load_average_at_end"] = load_average()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--backend", required=True, choices=("ctransformers", "llama-cpp", "openai")
    )
    parser.add_argument("--url", default="", help="the server's URL, with --backend openai")
    parser.add_argument("--model", required=True)
    parser.add_argument("--parts", default="raw,reuse")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--reply-tokens", type=int, default=16)
    parser.add_argument("--context", type=int, default=CONTEXT_LENGTH)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = asyncio.run(measure_backend(args))
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
