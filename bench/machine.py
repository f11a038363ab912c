"""What the benchmark ran on: versions, CPU, load, memory high-water marks, GPU memory."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path

NVIDIA_SMI_TIMEOUT_SECONDS = 10
PACKAGES = (
    "ctransformers",
    "llama_cpp_python",
    "gguf",
    "numpy",
    "SQLAlchemy",
    "aiosqlite",
    "aiohttp",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load: other work on a shared machine skews every timing."""
    return os.getloadavg()


def peak_rss_mib() -> float | None:
    """This process's resident-memory high-water mark (VmHWM), without psutil."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _nvidia_smi(query: str, *, units: bool = True) -> str | None:
    """``nvidia-smi --query-gpu=<query>`` as CSV without a header; None without an NVIDIA GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    csv = "csv,noheader" if units else "csv,noheader,nounits"
    try:
        out = subprocess.run(
            [smi, f"--query-gpu={query}", f"--format={csv}"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def gpu_memory_used_mib() -> float | None:
    """GPU memory in use (all processes) from nvidia-smi; None without an NVIDIA GPU."""
    out = _nvidia_smi("memory.used", units=False)
    values = [float(v) for v in (out or "").split() if v.replace(".", "", 1).isdigit()]
    return sum(values) if values else None


def gpu_name() -> str | None:
    out = _nvidia_smi("name")
    return (out or "").strip() or None


def describe_machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": gpu_name(),
        "packages": package_versions(),
        "load_average_at_start": load_average(),
    }
