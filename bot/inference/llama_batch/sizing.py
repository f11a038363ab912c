"""Defaults for PARALLEL, the KV cache type and its size, from the machine the model runs on.

On a GPU the KV cache competes with the weights for the card's memory: after the model is
loaded, the free memory (less a margin for llama.cpp's compute buffers) decides how many
sequences of CONTEXT_LENGTH fit. On the CPU a batch helps less (the cores, not the memory
bus, soon limit a step), so a small fixed number is the default.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CPU_PARALLEL = 4
MAX_AUTO_PARALLEL = 32
GPU_PARALLEL_UNKNOWN = 8  # when the card's free memory cannot be read
COMPUTE_MARGIN = 1536 * 2**20  # compute buffers, CUDA graphs, the rest of the process
RESIDENT_PER_SLOT = 4  # idle conversations kept per reply slot, cells permitting
MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ
_GPU_DEVICE_TYPES = (1, 3)  # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU


@dataclass(frozen=True, slots=True)
class Sizing:
    parallel: int
    kv_type: str
    kv_cells: int
    sequences: int


def choose_sizing(
    *,
    parallel: int,
    kv_type: str,
    kv_cells: int,
    context_per_sequence: int,
    kv_bytes_per_token: dict[str, int],
    on_gpu: bool,
    free_bytes: int | None,
) -> Sizing:
    """Fill in the settings left at 0/"auto"."""
    if kv_type == "auto":
        # q8_0 halves the cache at no measurable quality cost; on the CPU it costs speed.
        kv_type = "q8_0" if on_gpu else "f16"
    per_sequence = context_per_sequence * kv_bytes_per_token[kv_type]
    if parallel <= 0:
        if not on_gpu:
            parallel = CPU_PARALLEL
        elif free_bytes is None:
            parallel = GPU_PARALLEL_UNKNOWN
        else:
            fits = (free_bytes - COMPUTE_MARGIN) // max(1, per_sequence)
            parallel = int(max(1, min(MAX_AUTO_PARALLEL, fits)))
    if kv_cells <= 0:
        kv_cells = parallel * context_per_sequence
    kv_cells = max(kv_cells, context_per_sequence)
    sequences = min(MAX_SEQUENCES, max(parallel, RESIDENT_PER_SLOT * parallel))
    return Sizing(parallel, kv_type, kv_cells, sequences)


def gpu_free_bytes(library_dir: Path) -> int | None:
    """Free memory on the GPUs ggml sees, or None (a CPU build, or the query failed)."""
    try:
        ggml = ctypes.CDLL(os.fspath(library_dir / "libggml.so"))
        base = ctypes.CDLL(os.fspath(library_dir / "libggml-base.so"))
        ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
        ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
        ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        base.ggml_backend_dev_type.restype = ctypes.c_int
        base.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        base.ggml_backend_dev_memory.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        total_free, found = 0, False
        for index in range(ggml.ggml_backend_dev_count()):
            device = ggml.ggml_backend_dev_get(index)
            if base.ggml_backend_dev_type(device) not in _GPU_DEVICE_TYPES:
                continue
            free, total = ctypes.c_size_t(), ctypes.c_size_t()
            base.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
            total_free, found = total_free + free.value, True
        return total_free if found else None
    except (OSError, AttributeError) as error:
        log.debug("Could not read the GPU's free memory: %s", error)
        return None
