"""Character + history + budget -> prompt text and stop sequences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.prompt.budget import Window, fit_window
from bot.prompt.examples import split_example_blocks, substitute_names
from bot.prompt.formats import MetharmeFormat, PromptFormatter, PygmalionFormat, Sheet
from bot.prompt.sanitize import defuse_tokens, names_pattern, neutralize, speaker_name
from bot.prompt.tokens import TokenCounter
from bot.settings import PromptFormat
from bot.values import Role, Turn

# Tokens reserved beyond the reply budget: piecewise counts can differ from the whole by a few.
SAFETY_MARGIN = 8
MAX_STOP_SPEAKERS = 24
END_OF_TEXT = ("</s>", "<|endoftext|>")


def formatter_for(prompt_format: PromptFormat) -> PromptFormatter:
    return MetharmeFormat() if prompt_format is PromptFormat.METHARME else PygmalionFormat()


@dataclass(frozen=True, slots=True)
class CharacterPrompt:
    """What a prompt needs from a character."""

    name: str
    persona: str
    scenario: str = ""
    example_dialogue: str = ""


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]
    character_name: str  # as it appears in the prompt
    speakers: tuple[str, ...]  # other speakers in the window, most recent first
    first_turn_id: int | None  # id of the oldest turn included, to keep the window sticky
    turns_included: int
    examples_included: int
    token_count: int


def stop_sequences(character_name: str, speakers: Sequence[str]) -> tuple[str, ...]:
    """Everything that means the model has started writing someone else's part."""
    stops = [f"\n{name}:" for name in speakers[:MAX_STOP_SPEAKERS] if name != character_name]
    stops += ["\nYou:", "<START>", "<|user|>", "<|system|>", "<|model|>", *END_OF_TEXT]
    return tuple(dict.fromkeys(stops))


class PromptRenderer:
    """Renders prompts for one model: its format, context size and tokenizer."""

    def __init__(
        self,
        prompt_format: PromptFormat,
        counter: TokenCounter,
        *,
        context_length: int,
    ) -> None:
        self.prompt_format = prompt_format
        self._format = formatter_for(prompt_format)
        self._counter = counter
        self._context_length = context_length

    async def render(
        self,
        character: CharacterPrompt,
        history: Sequence[Turn],
        *,
        user_name: str,
        reply_tokens: int,
        sticky_first_turn_id: int | None = None,
    ) -> RenderedPrompt:
        """Render the prompt for the character's next reply to ``history`` (oldest first)."""
        fmt = self._format
        char = speaker_name(character.name)
        user = speaker_name(user_name, character_name=char)
        sheet = Sheet(
            name=char,
            persona=defuse_tokens(substitute_names(character.persona, char=char, user=user)),
            scenario=defuse_tokens(substitute_names(character.scenario, char=char, user=user)),
        )
        examples = [
            fmt.example_block(sheet, defuse_tokens(substitute_names(b, char=char, user=user)))
            for b in split_example_blocks(character.example_dialogue)
        ]
        names = [
            char if turn.role is Role.CHARACTER else speaker_name(turn.speaker, character_name=char)
            for turn in history
        ]
        known = names_pattern({*names, char})
        lines = [
            fmt.turn(sheet, turn.role, name, neutralize(turn.text, known))
            for turn, name in zip(history, names, strict=True)
        ]
        header = fmt.header(sheet)
        opening, reply = fmt.history_opening(), fmt.reply_opening(sheet)

        costs = await self._counter.count_many([header + opening + reply, *examples, *lines])
        fixed, example_costs, turn_costs = (
            costs[0],
            costs[1 : 1 + len(examples)],
            costs[1 + len(examples) :],
        )
        available = self._context_length - reply_tokens - SAFETY_MARGIN
        sticky = _index_of_id(history, sticky_first_turn_id)

        window = fit_window(
            fixed_cost=fixed,
            example_costs=example_costs,
            turn_costs=turn_costs,
            available=available,
            sticky_first_turn=sticky,
        )
        text, exact = await self._assemble(header, examples, opening, lines, reply, window)
        while exact > available and window.first_turn < len(lines) - 1:
            # Piecewise counts were optimistic: trim one more chunk and check again.
            window = fit_window(
                fixed_cost=fixed + (exact - window.tokens),
                example_costs=example_costs,
                turn_costs=turn_costs,
                available=available,
                sticky_first_turn=max(window.first_turn, 1),
            )
            text, exact = await self._assemble(header, examples, opening, lines, reply, window)

        included = history[window.first_turn :]
        speakers = list(
            dict.fromkeys(name for name in reversed(names[window.first_turn :]) if name != char)
        )
        if user not in speakers:
            speakers.insert(0, user)
        return RenderedPrompt(
            text=text,
            stop=stop_sequences(char, speakers),
            character_name=char,
            speakers=tuple(speakers),
            first_turn_id=included[0].id if included else None,
            turns_included=len(included),
            examples_included=window.examples,
            token_count=exact,
        )

    async def _assemble(
        self,
        header: str,
        examples: list[str],
        opening: str,
        lines: list[str],
        reply: str,
        window: Window,
    ) -> tuple[str, int]:
        text = "".join(
            [header, *examples[: window.examples], opening, *lines[window.first_turn :], reply]
        )
        return text, await self._counter.count(text)


def _index_of_id(history: Sequence[Turn], turn_id: int | None) -> int:
    """Index of the first turn at or after ``turn_id`` (0 when unknown or out of the window)."""
    if turn_id is None:
        return 0
    for index, turn in enumerate(history):
        if turn.id is not None and turn.id >= turn_id:
            return index
    return 0
