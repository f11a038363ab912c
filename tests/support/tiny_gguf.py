"""Writes small random-weight llama GGUF files that the real ctransformers can load.

The vocabulary is a SentencePiece-style one (byte fallback plus single characters with and
without the ``▁`` word marker), so any text tokenises and detokenises back exactly. Weights are
random: the model babbles, which is all the tests need.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np

_BYTE_TOKEN = 6
_NORMAL_TOKEN = 1
_CONTROL_TOKEN = 3


def _vocabulary(extra_pieces: Sequence[str] = ()) -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    scores = [0.0, 0.0, 0.0]
    types = [2, _CONTROL_TOKEN, _CONTROL_TOKEN]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        scores.append(0.0)
        types.append(_BYTE_TOKEN)
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    pieces = ["▁" + c for c in chars] + chars + ["▁the", "▁and", "▁you", "▁I", "▁is", "\n"]
    pieces += [piece.replace(" ", "▁") for piece in extra_pieces]
    seen = set(tokens)
    for rank, piece in enumerate(pieces):
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            scores.append(-float(rank))
            types.append(_NORMAL_TOKEN)
    return tokens, scores, types


def write_tiny_llama(
    path: Path,
    *,
    n_embd: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 128,
    context_length: int = 2048,
    seed: int = 0,
    extra_pieces: Sequence[str] = (),
) -> Path:
    """Write a random-weight llama model in GGUF (F32 weights) to ``path`` and return it.

    ``extra_pieces``: more vocabulary tokens (a space stands for ``▁``), e.g. ones that span
    line breaks, to test what relies on where tokens can form."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(context_length)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)

    tokens, scores, types = _vocabulary(extra_pieces)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)

    rng = np.random.default_rng(seed)
    vocab = len(tokens)

    def random(name: str, shape: tuple[int, ...]) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    def ones(name: str) -> None:
        writer.add_tensor(name, np.ones(n_embd, dtype=np.float32))

    random("token_embd.weight", (vocab, n_embd))
    ones("output_norm.weight")
    random("output.weight", (vocab, n_embd))
    for i in range(n_layer):
        ones(f"blk.{i}.attn_norm.weight")
        for part in ("q", "k", "v", "output"):
            random(f"blk.{i}.attn_{part}.weight", (n_embd, n_embd))
        ones(f"blk.{i}.ffn_norm.weight")
        random(f"blk.{i}.ffn_gate.weight", (n_ff, n_embd))
        random(f"blk.{i}.ffn_up.weight", (n_ff, n_embd))
        random(f"blk.{i}.ffn_down.weight", (n_embd, n_ff))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
