"""The token estimate: a true upper bound for the real tokenizers, and what it learns."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inference.token_estimate import TokenEstimator, estimate_tokens
from tests.support.tiny_gguf import write_tiny_llama

# Vocabulary-only GGUF files from llama.cpp's `models/` folder (ggml-vocab-llama-spm.gguf:
# LLaMA's SentencePiece, for Pygmalion 7B, Pygmalion-2 and Mythalion; ggml-vocab-gpt-2.gguf:
# GPT-2's byte-level BPE, for GPT-J's Pygmalion 6B). They are not shipped with Galatea; point
# GALATEA_VOCAB_DIR at a folder holding them (a llama.cpp checkout's models/) to check the
# estimate against the real tokenizers too. The tiny model's check below always runs.
VOCABULARIES = Path(os.environ.get("GALATEA_VOCAB_DIR", "/nonexistent"))
Count = Callable[[str], int]

ZALGO = [chr(c) for c in range(0x300, 0x370)]
EMOJI = ["😀", "🎉", "👨‍👩‍👧", "✨", "🔥", "🏳️‍🌈", "👍🏽"]
BASE64 = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
WORDS = ["the", "water", "goddess", " Aqua", " smiles", "and", " leans", "closer", "*", '"']


def tricky_text() -> st.SearchStrategy[str]:
    """Arbitrary text, with the kinds the old estimate undercounted made likely."""
    piece = st.one_of(
        st.text(max_size=20),
        st.text(alphabet=st.sampled_from(ZALGO + list("Zalgo ")), max_size=40),
        st.lists(st.sampled_from([*EMOJI, " ", "\n"]), max_size=20).map("".join),
        st.text(alphabet=st.sampled_from(BASE64), min_size=8, max_size=80),
        st.text(alphabet=st.sampled_from(list("你好世界。、Привет→★♥©€")), max_size=30),
        st.text(alphabet=st.characters(codec="ascii"), max_size=40),
        st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    )
    return st.lists(piece, max_size=6).map("".join)


def vocabulary_counter(path: Path) -> Count:
    llama_cpp = pytest.importorskip("llama_cpp")
    model = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(model.tokenize(text.encode(), add_bos=False, special=False))

    return count


@pytest.fixture(scope="module", params=["ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"])
def real_count(request: pytest.FixtureRequest) -> Count:
    path = VOCABULARIES / request.param
    if not path.is_file():
        pytest.skip(f"{request.param} not found: set GALATEA_VOCAB_DIR to llama.cpp's models/")
    return vocabulary_counter(path)


@pytest.fixture(scope="module")
def tiny_count(tmp_path_factory: pytest.TempPathFactory) -> Count:
    """The tiny test model's vocabulary, with the bare "▁" every real SentencePiece vocabulary
    has (the default tiny vocabulary leaves it out on purpose, to test runs of byte tokens)."""
    path = tmp_path_factory.mktemp("models") / "tiny-llama-marker.gguf"
    return vocabulary_counter(write_tiny_llama(path, extra_pieces=[" "]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=tricky_text())
def test_the_estimate_is_never_under_the_real_count(real_count: Count, text: str) -> None:
    assert estimate_tokens(text) >= real_count(text)


@settings(max_examples=200, deadline=None)
@given(text=tricky_text())
def test_the_estimate_is_never_under_the_tiny_models_count(tiny_count: Count, text: str) -> None:
    assert estimate_tokens(text) >= tiny_count(text)


@pytest.mark.parametrize(
    "text",
    [
        "😀🎉👨‍👩‍👧✨🔥" * 50,
        "Z̷̢̛a̶l̸g̵o̴ ̷t̸e̶x̵t̴" * 40,
        "aGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQ=" * 10,
        "→★♥☆♪♫©®™§¶†‡•…‰′″‹›€£¥" * 20,
    ],
)
def test_what_the_old_estimate_undercounted_is_now_covered(real_count: Count, text: str) -> None:
    assert estimate_tokens(text) >= real_count(text)


def test_empty_and_tiny_texts() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 2  # a byte, and the space SentencePiece puts first


def test_learning_from_the_servers_counts_tightens_words_only(real_count: Count) -> None:
    prose = (
        'Aqua: *She flips her blue hair and grins.* "Oh? You want to join the Axis Church? '
        'Of course you do!" *She leans closer.*\nKazuma: Not happening. We need money.\n'
    ) * 20
    estimator = TokenEstimator()
    assert estimator.estimate(prose) == estimate_tokens(prose)  # nothing learned: the bound
    estimator.observe(prose, real_count(prose))
    assert real_count(prose) <= estimator.estimate(prose) < estimate_tokens(prose)
    emoji = "😀🎉✨🔥" * 30  # no plain words: still the strict bound
    assert estimator.estimate(emoji) == estimate_tokens(emoji) >= real_count(emoji)
    base64 = "aGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQ=" * 10
    assert estimator.estimate(base64) >= real_count(base64)


def test_an_undercount_sends_the_estimate_back_to_the_bound_then_learns_again() -> None:
    estimator = TokenEstimator()
    estimator.observe("word " * 100, 100)
    low = estimator.estimate("word " * 100)
    assert 100 <= low < estimate_tokens("word " * 100)
    estimator.observe("other " * 100, 600)  # the server counted far more than estimated
    assert estimator.estimate("other " * 100) >= 600
