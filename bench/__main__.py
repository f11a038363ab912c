"""Galatea's benchmarks: one command.

    .venv/bin/python -m bench run --quick     # a few minutes on a 2-core CPU
    .venv/bin/python -m bench run             # the full suite (about 20-30 minutes there)
    .venv/bin/python -m bench models --7b     # write the 7B-shaped model too (~3.6 GiB)
    .venv/bin/python -m bench memory          # memory's cost per turn, summaries vs replies

Results go to bench/results/<time>-<mode>/ (results.json, results.md, a plot). See
docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import logging

from bench.gguf_model import SHAPES, ensure_model
from bench.runner import ALL_PARTS, LOCAL_BACKENDS, RunOptions, run_benchmark


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmarks and write the results")
    run.add_argument("--quick", action="store_true", help="fewer turns and sizes (minutes)")
    run.add_argument(
        "--parts",
        default=",".join(ALL_PARTS),
        help=f"comma-separated subset of {','.join(ALL_PARTS)}",
    )
    run.add_argument(
        "--model",
        choices=sorted(SHAPES),
        default="1b",
        help="model shape; 7b is meant for GPU runs (with --gpu-layers)",
    )
    run.add_argument(
        "--backends",
        default=",".join(LOCAL_BACKENDS),
        help="local backends to compare on the same file",
    )
    run.add_argument(
        "--reply-backend",
        default="llama-cpp",
        choices=LOCAL_BACKENDS,
        help="backend for the 1/8/32-channel reply-path runs",
    )
    run.add_argument(
        "--reply-tokens",
        type=int,
        default=16,
        help="new tokens per reply in the chat runs (small on a CPU)",
    )
    run.add_argument("--threads", type=int, default=0, help="CPU threads (0: backend default)")
    run.add_argument("--gpu-layers", type=int, default=0, help="layers to offload (GPU runs)")
    uploads = commands.add_parser(
        "uploads", help="hostile cards and images: peak memory and time (no model; ~1 min)"
    )
    uploads.add_argument("--cases", default="", help="comma-separated subset of the cases")
    memory = commands.add_parser(
        "memory", help="own work with memory on/off; summaries against 8 channels (~3 min)"
    )
    memory.add_argument("--quick", action="store_true", help="fewer turns")
    models = commands.add_parser("models", help="write the random-weight models only")
    models.add_argument("--7b", dest="seven", action="store_true", help="also the 7B shape")
    return parser


def main() -> None:
    args = _parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "uploads":
        from bench.hostile_uploads import measure_uploads, render_table

        print(render_table(measure_uploads([c for c in args.cases.split(",") if c] or None)))
        return
    if args.command == "memory":
        import asyncio
        import json

        from bench.memory_bench import measure_memory, render_memory

        results = asyncio.run(measure_memory(ensure_model(SHAPES["1b"]), quick=args.quick))
        print(json.dumps(results, indent=2))
        print(render_memory(results))
        return
    if args.command == "models":
        for key in ("1b", "7b") if args.seven else ("1b",):
            print(ensure_model(SHAPES[key]))
        return
    parts = tuple(p for p in args.parts.split(",") if p)
    unknown = set(parts) - set(ALL_PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    options = RunOptions(
        quick=args.quick,
        parts=parts,
        model=args.model,
        backends=tuple(b for b in args.backends.split(",") if b),
        reply_backend=args.reply_backend,
        reply_tokens=args.reply_tokens,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
    )
    folder = run_benchmark(options)
    print(f"Results: {folder}/results.md")
    print((folder / "results.md").read_text())


if __name__ == "__main__":
    main()
