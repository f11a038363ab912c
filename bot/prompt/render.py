"""Character + history (+ lore, notes) + budget -> prompt text and stop sequences.

``PromptRenderer.render`` runs named steps: the member may become ``You``
(``parts.as_you``), names are made safe (``parts.names_of``), lorebooks are scanned, the
pieces are built (``parts.build_parts``), the budget picks which fit (``_fit``), and the
stop sequences are worked out from who may speak next (``_rendered``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.cards import LoreBook
from bot.lore.scan import Activation, book_budget, scan_book_async, within_budget
from bot.prompt.budget import Window, fit_window
from bot.prompt.formats import MetharmeFormat, PromptFormatter, PygmalionFormat
from bot.prompt.inputs import AuthorNote, PromptInputs, RenderedPrompt
from bot.prompt.parts import (
    Names,
    Parts,
    as_you,
    build_parts,
    lore_line,
    names_of,
    scanned_lines,
)
from bot.prompt.sanitize import speaker_name
from bot.prompt.tokens import TokenCounter
from bot.values import ExampleMode, PromptFormat, Turn, UserLabel

__all__ = [
    "AuthorNote",
    "PromptInputs",
    "PromptRenderer",
    "RenderedPrompt",
    "formatter_for",
    "stop_sequences",
]

# Tokens reserved beyond the reply budget: piecewise counts can differ from the whole by a few.
SAFETY_MARGIN = 8
MAX_STOP_SPEAKERS = 24
MAX_REFITS = 8
END_OF_TEXT = ("</s>", "<|endoftext|>")


def formatter_for(prompt_format: PromptFormat) -> PromptFormatter:
    return MetharmeFormat() if prompt_format is PromptFormat.METHARME else PygmalionFormat()


def stop_sequences(character_name: str, speakers: Sequence[str]) -> tuple[str, ...]:
    """Everything that means the model has started writing someone else's part."""
    stops = [f"\n{name}:" for name in speakers[:MAX_STOP_SPEAKERS] if name != character_name]
    stops += ["\nYou:", "<START>", "<|user|>", "<|system|>", "<|model|>", *END_OF_TEXT]
    return tuple(dict.fromkeys(stops))


@dataclass(frozen=True, slots=True)
class _Costs:
    """What each piece costs in tokens, in place: the budget chooses with these."""

    fixed: int  # the header and the pieces always in: opening, note, tail, reply
    examples: list[int]
    turns: list[int]
    lore: list[int]


class PromptRenderer:
    """Renders prompts for one model: its format, context size and tokenizer."""

    def __init__(
        self,
        prompt_format: PromptFormat,
        counter: TokenCounter,
        *,
        context_length: int,
        user_label: UserLabel = UserLabel.NAMES,
    ) -> None:
        self.prompt_format = prompt_format
        self._user_label = user_label
        self._format = formatter_for(prompt_format)
        self._counter = counter
        self._context_length = context_length
        self._longest: int | None = None  # set when a server refused a prompt as too long

    def make_room(self, refused_tokens: int) -> None:
        """A server refused a prompt of ``refused_tokens`` (as counted here) as too long: the
        counts run short on this server's text, so prompts stay a quarter shorter from now on
        (never under a quarter of the context)."""
        shorter = max(self._context_length // 4, refused_tokens * 3 // 4)
        self._longest = shorter if self._longest is None else min(self._longest, shorter)

    @property
    def context_length(self) -> int:
        return self._context_length

    def adopt(self, prompt_format: PromptFormat, context_length: int) -> None:
        """Render for the model as loaded: its format and context are known only then (an
        inference server reports its model's name and context when first reached)."""
        self.prompt_format = prompt_format
        self._format = formatter_for(prompt_format)
        self._context_length = context_length

    async def render(self, inputs: PromptInputs) -> RenderedPrompt:
        """Render the prompt for the character's next reply (see PromptInputs)."""
        inputs = as_you(inputs, self._user_label)
        names = names_of(inputs)
        lore = await self._lore(
            inputs.lore,
            scanned_lines(inputs.history, names),
            char=names.char,
            user=names.card_user,
        )
        parts = build_parts(self._format, inputs, names, lore)
        window, text, tokens = await self._fit(parts, inputs)
        return _rendered(inputs, names, window, text, tokens)

    async def _lore(
        self, books: Sequence[LoreBook], scanned: list[str], *, char: str, user: str
    ) -> list[Activation]:
        """Activated entries of every book, each book held to its token budget."""
        chosen: list[Activation] = []
        for book in books:
            found = await scan_book_async(book, scanned, char=char, user=user)
            if not found:
                continue
            # Counted as they stand in the prompt: the window's costs below are then cached.
            costs = await self._counter.count_in_prompt([lore_line(a) for a in found])
            chosen += within_budget(found, costs, book_budget(book, self._context_length))
        return chosen

    async def _costs(self, parts: Parts) -> _Costs:
        # Each piece costs what it costs in place (after a line break), so the sum is the
        # prompt's count wherever no token spans a join (bot/prompt/joins.py).
        fixed_pieces = [parts.opening, parts.note, *parts.recall, parts.tail, parts.reply]
        costs = await self._counter.count_in_prompt(
            [*fixed_pieces, *parts.examples, *parts.lines, *parts.lore_lines]
        )
        fixed = await self._counter.count(self._format.header(parts.sheet))
        fixed += sum(costs[: len(fixed_pieces)])
        costs = costs[len(fixed_pieces) :]
        n_examples, n_lines = len(parts.examples), len(parts.lines)
        return _Costs(
            fixed=fixed,
            examples=costs[:n_examples],
            turns=costs[n_examples : n_examples + n_lines],
            lore=costs[n_examples + n_lines :],
        )

    async def _fit(self, parts: Parts, inputs: PromptInputs) -> tuple[Window, str, int]:
        """The window of examples, turns and lore that fits the context, with its text and
        exact token count: fitted on piecewise counts, refitted while the whole runs over."""
        costs = await self._costs(parts)
        available = self._context_length - inputs.reply_tokens - SAFETY_MARGIN
        if self._longest is not None:
            available = min(available, self._longest)
        always = inputs.character.example_mode is ExampleMode.ALWAYS
        window = fit_window(
            fixed_cost=costs.fixed,
            example_costs=costs.examples,
            turn_costs=costs.turns,
            available=available,
            sticky_first_turn=_index_of_id(inputs.history, inputs.sticky_first_turn_id),
            lore_costs=costs.lore,
            examples_always=always,
        )
        text, exact = await self._assemble(parts, window)
        for _ in range(MAX_REFITS):
            if exact <= available:
                break
            # Piecewise counts were optimistic: make room for the difference and check again.
            refit = fit_window(
                fixed_cost=costs.fixed + (exact - window.tokens),
                example_costs=costs.examples,
                turn_costs=costs.turns,
                available=available,
                sticky_first_turn=max(window.first_turn, 1),
                lore_costs=costs.lore[: window.lore],
                examples_always=always,
            )
            if refit == window:
                break
            window = refit
            text, exact = await self._assemble(parts, window)
        return window, text, exact

    async def _assemble(self, parts: Parts, window: Window) -> tuple[str, int]:
        pieces = assemble(self._format, parts, window)
        return "".join(pieces), await self._counter.count_joined(pieces)


def assemble(fmt: PromptFormatter, parts: Parts, window: Window) -> list[str]:
    """The prompt's pieces in order, for the window the budget chose."""
    kept = sorted(
        range(window.lore), key=lambda i: parts.lore[i].order
    )  # lowest insertion order first, as the books ask
    before = tuple(parts.lore_lines[i].rstrip("\n") for i in kept if parts.lore[i].before_char)
    after = tuple(parts.lore_lines[i].rstrip("\n") for i in kept if not parts.lore[i].before_char)
    sheet = replace(parts.sheet, lore_before=before, lore_after=after)
    history = parts.lines[window.first_turn :]
    if parts.note:
        at = max(0, len(history) - max(parts.note_depth, 0))
        history = [*history[:at], parts.note, *history[at:]]
    return [
        fmt.header(sheet),
        *parts.examples[: window.examples],
        parts.opening,
        *history,
        *parts.recall,
        parts.tail,
        parts.reply,
    ]


def _rendered(
    inputs: PromptInputs, names: Names, window: Window, text: str, tokens: int
) -> RenderedPrompt:
    """The rendered prompt, with the stop sequences of everyone else who may speak."""
    writer = names.writer
    included = inputs.history[window.first_turn :]
    speakers = list(
        dict.fromkeys(name for name in reversed(names.turns[window.first_turn :]) if name != writer)
    )
    if names.user not in speakers and names.user != writer:
        speakers.insert(0, names.user)
    extra = [names.char] if writer != names.char else []
    extra += [speaker_name(name, character_name=names.char) for name in inputs.others]
    speakers += [n for n in dict.fromkeys(extra) if n not in speakers and n != writer]
    return RenderedPrompt(
        text=text,
        stop=stop_sequences(writer, speakers),
        character_name=writer,
        speakers=tuple(speakers),
        first_turn_id=included[0].id if included else None,
        last_turn_id=included[-1].id if included else None,
        turns_included=len(included),
        examples_included=window.examples,
        token_count=tokens,
        lore_included=window.lore,
    )


def _index_of_id(history: Sequence[Turn], turn_id: int | None) -> int:
    """Index of the first turn at or after ``turn_id`` (0 when unknown or out of the window)."""
    if turn_id is None:
        return 0
    for index, turn in enumerate(history):
        if turn.id is not None and turn.id >= turn_id:
            return index
    return 0
