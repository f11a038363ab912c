"""Many channels on one in-process model (issue #20): the llama-cpp batch backend measured alone.

    .venv/bin/python -m bench.batching --threads 2                 # CPU, 1.1B shape (~5 min)
    .venv/bin/python -m bench.batching --model 7b --gpu-layers 99 --channels 8,32

Three figures, each against the backend directly (no Discord, no store):

- **single stream**: one channel, ``--tokens`` new tokens; decode tokens/s from its first
  token to its last. ``--compare-generator`` adds the superseded high-level backend
  (llama-cpp-python's per-token Python generator) on the same file.
- **aggregate**: N channels generating at once after each evaluated its prompt; tokens/s of
  all of them together, from the first start to the last finish, and first-token p50/p95.
- **interleaved turns**: N channels each take ``--turns`` turns at once; every prompt is the
  channel's previous prompt plus its reply plus a new message, as the session engine builds
  them. A turn "evaluated only what is new" when it evaluated at most the tokens the prompt
  grew by plus ``TOLERANCE`` (bench/prefix_reuse.py's rule). Nothing is saved or restored:
  the backend has no state save path at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.gguf_model import SHAPES, ensure_model
from bench.machine import describe_machine, load_average
from bench.prefix_reuse import TOLERANCE
from bot.inference.base import GenerationParams, open_stream
from bot.inference.llama_batch.backend import LlamaBatchBackend
from bot.inference.llama_batch.loop import RequestStats

RESULTS = Path(__file__).parent / "results"
PERSONA = (
    "{name} is a retired lighthouse keeper who talks about the sea, the weather and the ships "
    "that passed the rocks over forty years. {name} is kind, a little stubborn, and answers "
    "every question with a story. The scenario: a stormy evening in the keeper's cottage; "
    "the guests have come in from the rain and sit by the fire with tea.\n<START>\n"
)
MESSAGES = [
    "What was the worst storm you ever saw?",
    "Did any ship ever hit the rocks while you were on watch?",
    "How did you keep the lamp burning when the power failed?",
    "Tell me about the people who lived in the village back then.",
    "What do you miss most about the lighthouse?",
    "Would you do it all again if you could?",
]


async def _reply(backend: LlamaBatchBackend, key: str, prompt: str, params: Any) -> str:
    stream = open_stream(backend, prompt, params, [], conversation=key)
    return "".join([piece async for piece in stream])


def _stats_for(backend: LlamaBatchBackend, since: int) -> list[RequestStats]:
    return list(backend.finished)[since:]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def single_stream(backend: LlamaBatchBackend, tokens: int) -> dict[str, float]:
    params = GenerationParams(max_new_tokens=tokens, temperature=0.0, repetition_penalty=1.0)
    # A first reply warms the context up (llama.cpp builds its compute graphs for each new
    # batch shape on first use): measured cold, one stream ran at ~19 tokens/s against ~33.
    await _reply(backend, "warm-up", "You: hi\nAda:", params.replace(max_new_tokens=4))
    before = len(backend.finished)
    await _reply(backend, "single", PERSONA.format(name="Ada") + "You: hello\nAda:", params)
    (stats,) = _stats_for(backend, before)
    assert stats.first_token_at is not None and stats.finished_at is not None
    decode = (stats.generated_tokens - 1) / (stats.finished_at - stats.first_token_at)
    return {"generated": stats.generated_tokens, "decode_tokens_per_s": decode}


async def generator_single_stream(path: Path, threads: int, tokens: int) -> dict[str, float]:
    """The baseline the batch loop replaced: llama-cpp-python's high-level per-token Python
    generator (``Llama.create_completion(stream=True)``), greedy, on the same file."""
    return await asyncio.to_thread(_generator_blocking, path, threads, tokens)


def _generator_blocking(path: Path, threads: int, tokens: int) -> dict[str, float]:
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=1024, n_threads=threads, verbose=False)
    try:
        stream = llm.create_completion(
            PERSONA.format(name="Ada") + "You: hello\nAda:",
            max_tokens=tokens,
            temperature=0.0,
            repeat_penalty=1.0,
            stream=True,
        )
        first, pieces = None, 0
        for _ in stream:
            first = first or time.perf_counter()
            pieces += 1
        end = time.perf_counter()
        assert first is not None
        return {"generated": pieces, "decode_tokens_per_s": (pieces - 1) / (end - first)}
    finally:
        llm.close()


async def aggregate(backend: LlamaBatchBackend, channels: int, tokens: int) -> dict[str, float]:
    prompts = {f"agg{i}": PERSONA.format(name=f"Keeper{i}") + "You: hi\n" for i in range(channels)}
    warm = GenerationParams(max_new_tokens=1, temperature=0.0)
    await asyncio.gather(*(_reply(backend, k, p, warm) for k, p in prompts.items()))
    params = GenerationParams(max_new_tokens=tokens, temperature=0.0, repetition_penalty=1.0)
    before = len(backend.finished)
    started = time.perf_counter()
    await asyncio.gather(*(_reply(backend, k, p + "Bot:", params) for k, p in prompts.items()))
    wall = time.perf_counter() - started
    stats = _stats_for(backend, before)
    firsts = [s.first_token_at - s.queued_at for s in stats if s.first_token_at is not None]
    generated = sum(s.generated_tokens for s in stats)
    return {
        "channels": channels,
        "generated": generated,
        "seconds": wall,
        "aggregate_tokens_per_s": generated / wall,
        "first_token_p50_s": statistics.median(firsts),
        "first_token_p95_s": _percentile(firsts, 0.95),
    }


async def interleaved(
    backend: LlamaBatchBackend, channels: int, turns: int, tokens: int
) -> dict[str, Any]:
    params = GenerationParams(max_new_tokens=tokens, temperature=0.8, seed=1)
    before = len(backend.finished)

    async def channel(index: int) -> list[tuple[int, int, int, bool]]:
        name = f"Keeper{index}"
        prompt = PERSONA.format(name=name)
        previous_tokens = None
        rows = []
        for turn in range(turns):
            prompt += f"You: {MESSAGES[(turn + index) % len(MESSAGES)]}\n{name}:"
            said = await _reply(backend, f"chan{index}", prompt, params)
            stats = next(s for s in reversed(backend.finished) if s.key == f"chan{index}")
            new: int | None = (
                None if previous_tokens is None else stats.prompt_tokens - previous_tokens
            )
            only_new = new is not None and stats.evaluated_tokens <= new + TOLERANCE
            rows.append((stats.prompt_tokens, stats.evaluated_tokens, new or 0, only_new))
            previous_tokens = stats.prompt_tokens
            prompt += f"{said}\n"
        return rows[1:]  # a channel's first turn has nothing to reuse

    started = time.perf_counter()
    results = await asyncio.gather(*(channel(i) for i in range(channels)))
    wall = time.perf_counter() - started
    rows = [row for result in results for row in result]
    stats = _stats_for(backend, before)
    return {
        "channels": channels,
        "turns_measured": len(rows),
        "only_new_share": sum(r[3] for r in rows) / len(rows),
        "mean_prompt_tokens": statistics.mean(r[0] for r in rows),
        "mean_evaluated_tokens": statistics.mean(r[1] for r in rows),
        "mean_new_tokens": statistics.mean(r[2] for r in rows),
        "evictions": backend.evictions,
        "seconds": wall,
        "first_token_p50_s": statistics.median(
            s.first_token_at - s.queued_at for s in stats if s.first_token_at
        ),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    path = ensure_model(SHAPES[args.model])
    counts = [int(c) for c in args.channels.split(",")]
    results: dict[str, Any] = {"machine": describe_machine(), "args": vars(args), "runs": []}
    if args.compare_generator:
        results["generator_single"] = await generator_single_stream(path, args.threads, args.tokens)
    for count in counts:
        backend = LlamaBatchBackend(
            path,
            n_ctx=args.context,
            n_threads=args.threads or None,
            n_gpu_layers=args.gpu_layers,
            parallel=args.parallel or count,
            kv_cache_type=args.kv_type,
        )
        await backend.load()
        try:
            run = {"parallel": backend.capabilities.max_concurrency, "sizing": str(backend.sizing)}
            if count == counts[0]:
                results["single"] = await single_stream(backend, args.tokens)
            run["aggregate"] = await aggregate(backend, count, args.tokens)
            run["interleaved"] = await interleaved(backend, count, args.turns, args.reply_tokens)
            run["load_average"] = load_average()
            results["runs"].append(run)
            print(json.dumps(run, indent=1), flush=True)
        finally:
            await backend.close()
    single = results["single"]["decode_tokens_per_s"]
    for run in results["runs"]:
        run["aggregate"]["vs_single"] = run["aggregate"]["aggregate_tokens_per_s"] / single
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batching", description=__doc__)
    parser.add_argument("--model", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--channels", default="8", help="comma-separated channel counts")
    parser.add_argument("--parallel", type=int, default=0, help="0: as many as channels")
    parser.add_argument("--context", type=int, default=1024, help="tokens per sequence")
    parser.add_argument("--kv-type", default="auto")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per stream (decode)")
    parser.add_argument("--turns", type=int, default=4, help="turns per channel (interleaved)")
    parser.add_argument("--reply-tokens", type=int, default=16)
    parser.add_argument("--compare-generator", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    folder = RESULTS / f"{datetime.now():%Y%m%d-%H%M%S}-batching"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str))
    print(f"written to {folder}")


if __name__ == "__main__":
    main()
