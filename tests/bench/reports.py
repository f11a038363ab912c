"""A benchmark report around one part's results, for tests of how that part is rendered."""

from __future__ import annotations

from typing import Any

from bench.report import render_markdown


def report_with(**parts: Any) -> str:
    """The Markdown report of a quick run on a made-up machine holding only ``parts``."""
    return render_markdown(
        {
            "mode": "quick",
            "wall_seconds": 1.0,
            "load_average_at_end": (0, 0, 0),
            "machine": {
                "cpu": "x",
                "cpu_count": 2,
                "memory_gib": 1,
                "gpu": None,
                "python": "3",
                "packages": {},
                "load_average_at_start": (0, 0, 0),
            },
            "model": {"file": "tiny.gguf", "parameters_b": 0.0, "mib": 1.0},
            **parts,
        }
    )
