"""Random-weight llama GGUF models of realistic shapes, in Q4_0.

Nothing is downloaded: every matrix is written as random Q4_0 blocks (llama.cpp's layout: an
f16 scale, then 32 four-bit weights), with scales drawn so that the weights spread like
Gaussian noise of standard deviation ``WEIGHT_STD`` quantized to Q4_0. Writing the blocks
directly rather than quantizing Gaussian floats makes a 7B file take seconds instead of
minutes, which matters on a GPU machine lent for a few minutes. Compute and memory traffic per
token depend only on the shapes and the quantization, so speed measured on these files is the
speed of a trained model of the same shape. Each tensor is generated and written in turn, so a
7B file needs well under 1 GiB of memory to write.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType

from bench.vocab import Vocabulary, build_vocabulary

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).parent / "models"
GENERATOR_VERSION = 2  # bump when the file contents change, so cached files are rewritten
WEIGHT_STD = 0.02
FILE_TYPE_Q4_0 = 2  # llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0


@dataclass(frozen=True, slots=True)
class ModelShape:
    """A llama architecture's sizes."""

    name: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int = 32_000
    context_length: int = 4096

    def parameter_count(self) -> int:
        head_dim = self.n_embd // self.n_head
        attention = 2 * self.n_embd * self.n_embd + 2 * self.n_embd * head_dim * self.n_head_kv
        per_layer = attention + 3 * self.n_embd * self.n_ff + 2 * self.n_embd
        return self.n_layer * per_layer + 2 * self.n_vocab * self.n_embd + self.n_embd


# TinyLlama-1.1B's shape (grouped-query attention, 4 KV heads) and Llama-2-7B's.
SHAPES: dict[str, ModelShape] = {
    "1b": ModelShape("bench-llama-1b", 2048, 22, 32, 4, 5632),
    "7b": ModelShape("bench-llama-7b", 4096, 32, 32, 32, 11008),
    # Small enough that a long chat runs in minutes: what a backend re-evaluates depends on
    # the prompts and the backend, not on the model's size (the "slide" part).
    "tiny": ModelShape("bench-llama-tiny", 256, 4, 4, 4, 704),
}


def model_path(shape: ModelShape, models_dir: Path = MODELS_DIR) -> Path:
    return models_dir / f"{shape.name}.Q4_0.gguf"


def ensure_model(shape: ModelShape, models_dir: Path = MODELS_DIR) -> Path:
    """The cached file for ``shape``, written first when missing or from an older generator."""
    path = model_path(shape, models_dir)
    stamp = path.with_suffix(".json")
    wanted = {"generator": GENERATOR_VERSION, **asdict(shape)}
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.info("Writing %s (%.2f B parameters, Q4_0)...", path, shape.parameter_count() / 1e9)
    partial = path.with_suffix(".partial")
    write_random_llama(partial, shape)
    partial.replace(path)
    stamp.write_text(json.dumps(wanted, indent=2))
    log.info(
        "Wrote %s: %.0f MiB in %.0f s",
        path,
        path.stat().st_size / 2**20,
        time.monotonic() - started,
    )
    return path


def _tensor_plan(shape: ModelShape) -> list[tuple[str, tuple[int, ...]]]:
    """(name, numpy shape) of every tensor, in file order. Rows are output features."""
    e, ff, kv = shape.n_embd, shape.n_ff, shape.n_embd // shape.n_head * shape.n_head_kv
    plan: list[tuple[str, tuple[int, ...]]] = [
        ("token_embd.weight", (shape.n_vocab, e)),
        ("output_norm.weight", (e,)),
        ("output.weight", (shape.n_vocab, e)),
    ]
    for i in range(shape.n_layer):
        plan += [
            (f"blk.{i}.attn_norm.weight", (e,)),
            (f"blk.{i}.attn_q.weight", (e, e)),
            (f"blk.{i}.attn_k.weight", (kv, e)),
            (f"blk.{i}.attn_v.weight", (kv, e)),
            (f"blk.{i}.attn_output.weight", (e, e)),
            (f"blk.{i}.ffn_norm.weight", (e,)),
            (f"blk.{i}.ffn_gate.weight", (ff, e)),
            (f"blk.{i}.ffn_up.weight", (ff, e)),
            (f"blk.{i}.ffn_down.weight", (e, ff)),
        ]
    return plan


def _q4_0_bytes(rows: int, columns: int) -> int:
    block_size, type_size = gguf.GGML_QUANT_SIZES[GGMLQuantizationType.Q4_0]
    return rows * columns // block_size * type_size


def _add_metadata(writer: gguf.GGUFWriter, shape: ModelShape, vocab: Vocabulary) -> None:
    writer.add_name(shape.name)
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_rope_dimension_count(shape.n_embd // shape.n_head)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(FILE_TYPE_Q4_0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)


def random_q4_0_blocks(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """``rows`` rows of random Q4_0 blocks, as gguf's quantizer would lay them out.

    Q4_0 stores ``d * (q - 8)`` with ``d = max|w| / -8`` per block of 32 weights; the largest
    of 32 Gaussian draws is about 2.1 standard deviations, so ``d`` is drawn around that.
    """
    block_size, type_size = gguf.GGML_QUANT_SIZES[GGMLQuantizationType.Q4_0]
    blocks = rows * columns // block_size
    data = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    scales = -(WEIGHT_STD * rng.uniform(1.6, 2.8, size=blocks)) / 8
    data[:, :2] = scales.astype(np.float16).view(np.uint8).reshape(blocks, 2)
    return data.reshape(rows, columns // block_size * type_size)


def write_random_llama(path: Path, shape: ModelShape, *, seed: int = 0) -> Path:
    """Write a random-weight Q4_0 llama GGUF (norms in F32) to ``path``."""
    vocab = build_vocabulary(shape.n_vocab)
    writer = gguf.GGUFWriter(str(path), "llama")
    _add_metadata(writer, shape, vocab)
    plan = _tensor_plan(shape)
    for name, dims in plan:
        if len(dims) == 1:
            writer.add_tensor_info(name, dims, np.dtype(np.float32), dims[0] * 4)
        else:
            nbytes = _q4_0_bytes(*dims)
            writer.add_tensor_info(
                name,
                (dims[0], nbytes // dims[0]),
                np.dtype(np.uint8),
                nbytes,
                raw_dtype=GGMLQuantizationType.Q4_0,
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for _name, dims in plan:
        if len(dims) == 1:
            writer.write_tensor_data(np.ones(dims, dtype=np.float32))
            continue
        writer.write_tensor_data(random_q4_0_blocks(rng, *dims))
    writer.close()
    return path
