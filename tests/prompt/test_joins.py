"""A prompt's token count from its pieces' cached counts, checked against real tokenizers.

The tiny model here has tokens that span line breaks and role markers on purpose ("i\\n",
"\\nB", ".<", ...), so some joins are unsafe and must fall back to counting the whole text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inference.ctransformers_backend import CTransformersBackend
from bot.prompt.joins import JoinChecker
from bot.prompt.render import PromptInputs, PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.settings import PromptFormat
from bot.values import CharacterFields, Role, Turn
from tests.support.tiny_gguf import write_tiny_llama

# Words whose every substring becomes a token, so merges chain across the joins in them.
SPANNING = ("hi\nBob", "i.<|user|>", "Aqua:", " there\n", "ob: hi", "Dan")


def _substrings(words: tuple[str, ...]) -> list[str]:
    found = dict.fromkeys(
        word[start:end]
        for word in words
        for start in range(len(word))
        for end in range(start + 2, len(word) + 1)
    )
    return list(found)


@pytest.fixture(scope="module")
def spanning_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("joins") / "spanning.gguf"
    return write_tiny_llama(path, extra_pieces=_substrings(SPANNING))


@pytest.fixture
async def spanning_backend(spanning_model: Path) -> AsyncIterator[CTransformersBackend]:
    backend = CTransformersBackend(str(spanning_model), context_length=1024, threads=1)
    await backend.load()
    yield backend
    await backend.close()


def test_a_join_is_unsafe_exactly_when_a_token_spans_it() -> None:
    checker = JoinChecker([b"i\n", b"\nB", b"ab", b"x", b"\xc3\xa9t"])
    assert not checker.safe("hi", "\nthere")  # "i\n"
    assert not checker.safe("Alice\n", "Bob")  # "\nB"
    assert not checker.safe("caf\u00e9", "t")  # bytes of "é" + "t"
    assert checker.safe("hi.", "\nthere")
    assert checker.safe("Alice\n", "Carol")
    assert checker.safe("a", "")
    assert checker.safe("", "b")
    assert not checker.safe("a", "b")
    assert checker.safe("b", "a")


async def test_the_spanning_model_really_merges_across_line_breaks(
    spanning_backend: CTransformersBackend,
) -> None:
    whole = await spanning_backend.count_tokens("hi\nBob")
    parts = await spanning_backend.count_tokens("hi") + await spanning_backend.count_tokens("\nBob")
    assert whole < parts  # otherwise the tests below could not tell a wrong sum


pieces_of_text = st.lists(
    st.text(alphabet="hiBob:Aqu\n.<|>user model there", min_size=0, max_size=12),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=pieces_of_text)
async def test_a_joined_count_always_equals_the_whole_texts_count(
    spanning_backend: CTransformersBackend, pieces: list[str]
) -> None:
    counter = TokenCounter(spanning_backend, verify_first=0, verify_every=0)
    assert await counter.count_joined(pieces) == await spanning_backend.count_tokens(
        "".join(pieces)
    )


async def test_pieces_glued_where_a_token_spans_the_join_still_count_exactly(
    spanning_backend: CTransformersBackend,
) -> None:
    counter = TokenCounter(spanning_backend, verify_first=0, verify_every=0)
    lines = ["Persona: kind.\n", "<START>\n", "Carol: yes\n", "Dan: no\n", "Aqua:"]
    assert await counter.count_joined(lines) == await spanning_backend.count_tokens("".join(lines))
    spanning = ["Carol: hi\n", "Bob: ok\n", "Dan: hi\n"]  # "\nB" spans the first join
    assert await counter.count_joined(spanning) == await spanning_backend.count_tokens(
        "".join(spanning)
    )
    assert counter._runs(await counter.joins(), spanning) == ["Carol: hi\nBob: ok\n", "Dan: hi\n"]


async def _render_turns(
    backend: Any, prompt_format: PromptFormat, counter: TokenCounter
) -> list[tuple[str, int]]:
    renderer = PromptRenderer(prompt_format, counter, context_length=400)
    character = CharacterFields(
        name="Aqua",
        persona="A water goddess who says hi.\nShe likes {{user}}.",
        scenario="A tavern.",
        example_dialogue="<START>\n{{user}}: hi\n{{char}}: there\n",
    )
    history: list[Turn] = []
    rendered = []
    for turn in range(30):
        # Bob's lines and a final "." span joins (unsafe: counted whole) until they scroll out.
        speaker = "Bob" if turn < 2 else ("Carol", "Dan")[turn % 2]
        end = "." if turn < 2 else "!"
        history.append(Turn(speaker, f"hi there {turn}{end}", Role.HUMAN, len(history) + 1))
        history.append(
            Turn("Aqua", f"there hi\nAqua {turn}{end}", Role.CHARACTER, len(history) + 1)
        )
        prompt = await renderer.render(
            PromptInputs(
                character=character,
                history=history,
                user_name=speaker,
                reply_tokens=40,
                definition_user="Bob",
            )
        )
        rendered.append((prompt.text, prompt.token_count))
    return rendered


@pytest.mark.parametrize("prompt_format", list(PromptFormat))
async def test_rendered_prompts_report_their_exact_count_and_fit(
    spanning_backend: CTransformersBackend, prompt_format: PromptFormat
) -> None:
    counter = TokenCounter(spanning_backend, verify_first=0, verify_every=0)
    for text, count in await _render_turns(spanning_backend, prompt_format, counter):
        assert count == await spanning_backend.count_tokens(text)
        assert count <= 400 - 40
    assert counter.summed == 30


async def test_the_usual_model_sums_every_prompt(tiny_backend: CTransformersBackend) -> None:
    counter = TokenCounter(tiny_backend, verify_first=0, verify_every=0)
    rendered = await _render_turns(tiny_backend, PromptFormat.PYGMALION, counter)
    assert counter.summed == len(rendered)  # no token spans a line break in its vocabulary
    for text, count in rendered:
        assert count == await tiny_backend.count_tokens(text)


class _VocabularyWithoutMerges:
    """The spanning model's tokenizer, claiming a vocabulary where nothing spans anything."""

    def __init__(self, backend: CTransformersBackend) -> None:
        self._backend = backend

    async def count_tokens(self, text: str) -> int:
        return await self._backend.count_tokens(text)

    async def token_pieces(self) -> list[bytes]:
        return [b"a"]


async def test_a_tokenizer_that_breaks_the_rule_is_caught_and_counted_whole(
    spanning_backend: CTransformersBackend, caplog: pytest.LogCaptureFixture
) -> None:
    counter = TokenCounter(_VocabularyWithoutMerges(spanning_backend))
    pieces = ["Carol: hi", "Bob: ok\n"]  # "iB" and "hiB" span the join, unknown to this vocabulary
    whole = await spanning_backend.count_tokens("".join(pieces))
    with caplog.at_level(logging.WARNING, logger="bot.prompt.tokens"):
        assert await counter.count_joined(pieces) == whole
        assert await counter.count_joined(pieces) == whole  # from now on counted whole
    assert "counting whole prompts from now on" in caplog.text
    assert counter.summed == 1


def test_no_join_is_unsafe_in_a_vocabulary_of_single_bytes() -> None:
    checker = JoinChecker(bytes([b]) for b in range(256))
    text = ["Alice: hi\n", "<|model|>there", "\n"]
    assert all(checker.safe(a, b) for a, b in pairwise(text))
