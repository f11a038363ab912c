"""Runs the benchmark parts in order and writes JSON, Markdown and a plot to bench/results/."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.gguf_model import SHAPES, ensure_model
from bench.http_overhead import measure_fake_server, measure_real_server
from bench.instant_backend import InstantBackend
from bench.lore_scan import measure_lore_scan
from bench.machine import describe_machine, load_average
from bench.own_work import measure_channel_work, measure_own_work
from bench.plot import write_plot
from bench.report import render_markdown

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).parent / "results"
ALL_PARTS = ("own", "http", "local", "slide", "reply", "discord", "lore")
LOCAL_BACKENDS = ("llama-cpp", "ctransformers")
WORKER_TIMEOUT_SECONDS = 1800  # one backend's measurements; the full run stays under ~30 min


@dataclass(frozen=True, slots=True)
class RunOptions:
    quick: bool
    parts: tuple[str, ...]
    model: str  # a key of SHAPES
    backends: tuple[str, ...]
    reply_backend: str
    reply_tokens: int
    threads: int
    gpu_layers: int


def _run_worker(
    options: RunOptions, backend: str, model: Path, parts: str, *, context: int = 4096
) -> dict[str, Any]:
    """bench.local_worker in a subprocess: its peak RSS is that backend's alone."""
    with tempfile.TemporaryDirectory(prefix="galatea-bench-") as folder:
        out = Path(folder) / "result.json"
        command = [
            sys.executable,
            "-m",
            "bench.local_worker",
            "--backend",
            backend,
            "--model",
            str(model),
            "--parts",
            parts,
            "--out",
            str(out),
            "--threads",
            str(options.threads),
            "--gpu-layers",
            str(options.gpu_layers),
            "--reply-tokens",
            str(options.reply_tokens),
            "--context",
            str(context),
        ]
        if options.quick:
            command.append("--quick")
        log.info("Measuring %s (%s)...", backend, parts)
        completed = subprocess.run(
            command, timeout=WORKER_TIMEOUT_SECONDS, check=False, cwd=REPO_ROOT
        )
        if completed.returncode != 0 or not out.exists():
            return {"error": f"worker exited with status {completed.returncode}"}
        return dict(json.loads(out.read_text()))


def run_benchmark(options: RunOptions) -> Path:
    """Every requested part; returns the folder holding results.json, results.md and the plot."""
    started = time.perf_counter()
    shape = SHAPES[options.model]
    model = ensure_model(shape)
    results: dict[str, Any] = {
        "mode": "quick" if options.quick else "full",
        "machine": describe_machine(),
        "model": {
            "file": model.name,
            "parameters_b": shape.parameter_count() / 1e9,
            "mib": model.stat().st_size / 2**20,
            "shape": shape.name,
        },
        "options": {k: getattr(options, k) for k in options.__slots__},
    }
    if "own" in options.parts:
        log.info("Measuring the bot's own work per turn...")
        results["own_work"] = asyncio.run(
            measure_own_work(
                InstantBackend(model), turns=100 if options.quick else 300, model=str(model)
            )
        )
        results["own_work_channel"] = asyncio.run(
            measure_channel_work(
                InstantBackend(model), turns=100 if options.quick else 300, model=str(model)
            )
        )
    if "http" in options.parts:
        log.info("Measuring the OpenAI-compatible backend...")
        results["http"] = {
            "fake_server": asyncio.run(
                measure_fake_server(
                    requests=100 if options.quick else 300, own_turns=50 if options.quick else 200
                )
            ),
            "real_server": asyncio.run(measure_real_server(model, options.quick)),
        }
    if "local" in options.parts:
        results["local"] = {
            b: _run_worker(options, b, model, "raw,reuse") for b in options.backends
        }
    if "slide" in options.parts:
        # A small model and long chats in a 2,048-token context (Pygmalion 6B/7B's): the window
        # slides many times.
        tiny = ensure_model(SHAPES["tiny"])
        results["slide"] = {
            b: _run_worker(options, b, tiny, "slide", context=2048) for b in options.backends
        }
    if "reply" in options.parts:
        worker = _run_worker(options, options.reply_backend, model, "reply")
        results["reply_path"] = {
            "backend": options.reply_backend,
            "reply_tokens": options.reply_tokens,
            "channels": worker.get("reply_path", {}),
            "error": worker.get("error"),
        }
    if "discord" in options.parts:
        worker = _run_worker(options, options.reply_backend, model, "discord")
        results["discord_path"] = {
            "backend": options.reply_backend,
            "reply_tokens": options.reply_tokens,
            "gpu_offload": worker.get("gpu_offload"),
            "channels": worker.get("discord_path", {}).get("channels", {}),
            "warm_up": worker.get("discord_path", {}).get("warm_up"),
            "emulator_errors": worker.get("discord_path", {}).get("emulator_errors"),
            "error": worker.get("error"),
        }
    if "lore" in options.parts:
        log.info("Measuring a lorebook at the import limits against a full window...")
        results["lore_scan"] = asyncio.run(measure_lore_scan(10 if options.quick else 30))
    results["load_average_at_end"] = load_average()
    results["wall_seconds"] = time.perf_counter() - started
    return _write(results)


def _write(results: dict[str, Any]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = RESULTS_DIR / f"{stamp}-{results['mode']}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2, default=str))
    markdown = render_markdown(results)
    channels = results.get("reply_path", {}).get("channels")
    if channels:
        plot = write_plot(channels, folder, "reply latency vs channels")
        markdown += f"\n![reply path]({plot.name})\n"
    (folder / "results.md").write_text(markdown)
    return folder
