"""Latency and tokens/s against the number of channels: matplotlib PNG, or a hand-made SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SVG_WIDTH, SVG_HEIGHT, MARGIN = 640, 360, 50


def _series(channels: dict[str, Any]) -> tuple[list[int], dict[str, list[float]]]:
    counts = sorted(int(key) for key in channels)
    rows = [channels[str(count)] for count in counts]
    return counts, {
        "latency p50 (s)": [r["latency_p50"] for r in rows],
        "latency p95 (s)": [r["latency_p95"] for r in rows],
        "longest wait (s)": [r["longest_wait_for_first_text"] or 0.0 for r in rows],
        "tokens/s, all channels": [r["aggregate_tokens_per_second"] or 0.0 for r in rows],
    }


def write_plot(channels: dict[str, Any], folder: Path, title: str) -> Path:
    """PNG with matplotlib when it is installed (the ``bench`` extra), else SVG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _write_svg(channels, folder / "reply_path.svg", title)
    counts, series = _series(channels)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("latency p50 (s)", "latency p95 (s)", "longest wait (s)"):
        left.plot(counts, series[name], marker="o", label=name)
    left.set(xlabel="concurrently active channels", ylabel="seconds", xscale="log", title=title)
    left.legend()
    right.plot(counts, series["tokens/s, all channels"], marker="o", color="tab:green")
    right.set(
        xlabel="concurrently active channels",
        ylabel="generated tokens/s",
        xscale="log",
        title="aggregate generation",
    )
    for axis in (left, right):
        axis.set_xticks(counts, [str(c) for c in counts])
        axis.grid(alpha=0.3)
    figure.tight_layout()
    path = folder / "reply_path.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _write_svg(channels: dict[str, Any], path: Path, title: str) -> Path:
    """A plain line chart per series, each scaled to its own maximum (labelled)."""
    counts, series = _series(channels)
    colours = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c")
    width, height = SVG_WIDTH - 2 * MARGIN, SVG_HEIGHT - 2 * MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}"'
        ' font-family="sans-serif" font-size="12">',
        f'<text x="{MARGIN}" y="20">{title} (each line scaled to its maximum)</text>',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{width}" height="{height}" fill="none"'
        ' stroke="#888"/>',
    ]
    step = width / max(len(counts) - 1, 1)
    for index, count in enumerate(counts):
        x = MARGIN + index * step
        parts.append(f'<text x="{x:.0f}" y="{SVG_HEIGHT - MARGIN + 16}">{count}</text>')
    for line, ((name, values), colour) in enumerate(zip(series.items(), colours, strict=False)):
        top = max(values) or 1.0
        points = " ".join(
            f"{MARGIN + i * step:.1f},{MARGIN + height - v / top * height:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{MARGIN + 8}" y="{MARGIN + 16 + 14 * line}" fill="{colour}">'
            f"{name}, max {top:.2f}</text>"
        )
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path
