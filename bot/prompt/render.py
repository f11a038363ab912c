"""Character + history (+ lore, notes) + budget -> prompt text and stop sequences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.cards import LoreBook, apply_override, substitute_macros
from bot.lore.scan import Activation, book_budget, scan_book_async, within_budget
from bot.prompt.budget import Window, fit_window
from bot.prompt.examples import split_example_blocks
from bot.prompt.formats import ORIGINAL, MetharmeFormat, PromptFormatter, PygmalionFormat, Sheet
from bot.prompt.sanitize import defuse_tokens, names_pattern, neutralize, speaker_name
from bot.prompt.tokens import TokenCounter
from bot.values import ExampleMode, PromptFormat, Role, Turn, UserLabel

# Tokens reserved beyond the reply budget: piecewise counts can differ from the whole by a few.
SAFETY_MARGIN = 8
MAX_STOP_SPEAKERS = 24
MAX_REFITS = 8
END_OF_TEXT = ("</s>", "<|endoftext|>")
YOU = "You"  # the member, as seeds 000-002 write them


def formatter_for(prompt_format: PromptFormat) -> PromptFormatter:
    return MetharmeFormat() if prompt_format is PromptFormat.METHARME else PygmalionFormat()


@dataclass(frozen=True, slots=True)
class CharacterPrompt:
    """What a prompt needs from a character."""

    name: str
    persona: str
    scenario: str = ""
    example_dialogue: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    example_mode: ExampleMode = ExampleMode.GRADUAL


@dataclass(frozen=True, slots=True)
class AuthorNote:
    """A session's note to the model, inserted before the last ``depth`` messages."""

    text: str
    depth: int = 4


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
    lore_included: int = 0
    last_turn_id: int | None = None  # id of the newest turn included: what the reply answers


def stop_sequences(character_name: str, speakers: Sequence[str]) -> tuple[str, ...]:
    """Everything that means the model has started writing someone else's part."""
    stops = [f"\n{name}:" for name in speakers[:MAX_STOP_SPEAKERS] if name != character_name]
    stops += ["\nYou:", "<START>", "<|user|>", "<|system|>", "<|model|>", *END_OF_TEXT]
    return tuple(dict.fromkeys(stops))


@dataclass(frozen=True, slots=True)
class _Parts:
    """The pieces of one prompt, before the budget picks among them."""

    sheet: Sheet
    examples: list[str]
    opening: str
    lines: list[str]
    note: str  # the author's note line, or ""
    note_depth: int
    tail: str  # post-history instructions, or ""
    reply: str
    lore: list[Activation]  # most important first
    lore_lines: list[str]
    recall: tuple[str, ...] = ()  # old lines memory recalled, before the newest line


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

    async def render(
        self,
        character: CharacterPrompt,
        history: Sequence[Turn],
        *,
        user_name: str,
        reply_tokens: int,
        sticky_first_turn_id: int | None = None,
        lore: Sequence[LoreBook] = (),
        author_note: AuthorNote | None = None,
        others: Sequence[str] = (),
        people: Sequence[tuple[str, str]] = (),
        reply_as: str | None = None,
        definition_user: str | None = None,
        cast: Sequence[str] = (),
        memory: Sequence[str] = (),
        recalled: Sequence[str] = (),
    ) -> RenderedPrompt:
        """Render the prompt for the character's next reply to ``history`` (oldest first).

        ``lore``: the books to scan (the character's own first); ``author_note``: the
        session's note, if any. In a group scene ``others`` names everyone else who may speak
        (other characters, members), so that generation stops where their lines begin;
        ``people`` are (name, description) of the members present. ``reply_as``: the prompt
        ends with that member's line instead of the character's (to draft it for them).

        ``{{user}}`` is ``definition_user`` (default ``user_name``) in the character's
        definition, examples and lore, which open the prompt, and ``user_name`` in the author's
        note and post-history instructions, which close it: a group scene passes one name for
        the whole session, so the prompt's start stays the same while people take turns.
        ``cast``: the other characters of a group scene, whose names members cannot pass for.
        ``memory``: lines the character remembers (bot/memory/), in its definition;
        ``recalled``: old lines brought back, as system lines just before the newest line
        (there the prompt's start stays the same for the backend to reuse).
        """
        char = speaker_name(character.name)
        if self._alone_with(history, user_name, reply_as, definition_user, people):
            user_name = definition_user = YOU
            history = [
                replace(turn, speaker=YOU) if turn.role is Role.HUMAN else turn for turn in history
            ]
            if reply_as:
                reply_as = YOU
            people = [(YOU, description) for _, description in people]
        user = speaker_name(user_name, character_name=char)
        writer = speaker_name(reply_as, character_name=char) if reply_as else char
        card_user = speaker_name(definition_user or user_name, character_name=char)
        cast_names = tuple(speaker_name(name) for name in cast)
        names = [
            char
            if turn.role is Role.CHARACTER
            else speaker_name(turn.speaker, character_name=char, cast=cast_names)
            for turn in history
        ]
        scanned = [f"{name}: {turn.text}" for turn, name in zip(history, names, strict=True)]
        activations = await self._lore(lore, scanned, char=char, user=card_user)
        parts = self._parts(
            character, history, names, activations, author_note, char, user, card_user
        )
        if people:
            lines = tuple(
                f"[{speaker_name(name, character_name=char)}: "
                f"{' '.join(defuse_tokens(description).split())}]"
                for name, description in people
            )
            parts = replace(parts, sheet=replace(parts.sheet, people=lines))
        if reply_as:
            parts = replace(parts, reply=self._format.speaker_opening(writer))
        if memory:
            remembered = tuple(defuse_tokens(line) for line in memory)
            parts = replace(parts, sheet=replace(parts.sheet, memory=remembered))
        if recalled and history:
            pieces = tuple(
                self._format.turn(parts.sheet, Role.SYSTEM, "", defuse_tokens(line))
                for line in recalled
            )  # one piece each: a line recalled again costs no new count
            parts = replace(parts, recall=pieces)

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
        example_costs = costs[:n_examples]
        turn_costs = costs[n_examples : n_examples + n_lines]
        lore_costs = costs[n_examples + n_lines :]
        available = self._context_length - reply_tokens - SAFETY_MARGIN
        if self._longest is not None:
            available = min(available, self._longest)
        always = character.example_mode is ExampleMode.ALWAYS

        window = fit_window(
            fixed_cost=fixed,
            example_costs=example_costs,
            turn_costs=turn_costs,
            available=available,
            sticky_first_turn=_index_of_id(history, sticky_first_turn_id),
            lore_costs=lore_costs,
            examples_always=always,
        )
        text, exact = await self._assemble(parts, window)
        for _ in range(MAX_REFITS):
            if exact <= available:
                break
            # Piecewise counts were optimistic: make room for the difference and check again.
            refit = fit_window(
                fixed_cost=fixed + (exact - window.tokens),
                example_costs=example_costs,
                turn_costs=turn_costs,
                available=available,
                sticky_first_turn=max(window.first_turn, 1),
                lore_costs=lore_costs[: window.lore],
                examples_always=always,
            )
            if refit == window:
                break
            window = refit
            text, exact = await self._assemble(parts, window)

        included = history[window.first_turn :]
        speakers = list(
            dict.fromkeys(name for name in reversed(names[window.first_turn :]) if name != writer)
        )
        if user not in speakers and user != writer:
            speakers.insert(0, user)
        extra = [char] if writer != char else []
        extra += [speaker_name(name, character_name=char) for name in others]
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
            token_count=exact,
            lore_included=window.lore,
        )

    def _alone_with(
        self,
        history: Sequence[Turn],
        user_name: str,
        reply_as: str | None,
        definition_user: str | None,
        people: Sequence[tuple[str, str]],
    ) -> bool:
        """With ``USER_LABEL=you``: whether one member talks with the character alone, so
        that they can be ``You`` as in the model cards (several people need their names)."""
        if self._user_label is not UserLabel.YOU:
            return False
        members = {turn.speaker for turn in history if turn.role is Role.HUMAN}
        members |= {name for name in (user_name, reply_as, definition_user) if name}
        members |= {name for name, _ in people}
        return len(members) <= 1

    def _parts(
        self,
        character: CharacterPrompt,
        history: Sequence[Turn],
        names: list[str],
        activations: list[Activation],
        author_note: AuthorNote | None,
        char: str,
        user: str,
        card_user: str,
    ) -> _Parts:
        fmt = self._format

        def card_text(raw: str, user: str = card_user) -> str:
            return defuse_tokens(substitute_macros(raw, char=char, user=user))

        system = None
        if character.system_prompt.strip():
            own = character.system_prompt.replace(ORIGINAL, "")
            system = card_text(apply_override(own, ORIGINAL))
            if system == ORIGINAL:
                system = None  # a bare {{original}}: the format's own prompt
        sheet = Sheet(
            name=char,
            persona=card_text(character.persona),
            scenario=card_text(character.scenario),
            system=system,
        )
        examples = []
        if character.example_mode is not ExampleMode.NEVER:
            examples = [
                fmt.example_block(sheet, card_text(block))
                for block in split_example_blocks(character.example_dialogue)
            ]
        known = names_pattern({*names, char})
        lines = [
            fmt.turn(sheet, turn.role, name, neutralize(turn.text, known))
            for turn, name in zip(history, names, strict=True)
        ]
        note = ""
        if author_note is not None and author_note.text.strip():
            note = fmt.turn(sheet, Role.SYSTEM, "", card_text(author_note.text, user))
        tail = ""
        if character.post_history_instructions.strip():
            instructions = apply_override(character.post_history_instructions, "")
            tail = fmt.turn(sheet, Role.SYSTEM, "", card_text(instructions, user))
        return _Parts(
            sheet=sheet,
            examples=examples,
            opening=fmt.history_opening(),
            lines=lines,
            note=note,
            note_depth=author_note.depth if author_note is not None else 0,
            tail=tail,
            reply=fmt.reply_opening(sheet),
            lore=activations,
            lore_lines=[_lore_line(a) for a in activations],
        )

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
            costs = await self._counter.count_in_prompt([_lore_line(a) for a in found])
            chosen += within_budget(found, costs, book_budget(book, self._context_length))
        return chosen

    async def _assemble(self, parts: _Parts, window: Window) -> tuple[str, int]:
        kept = sorted(
            range(window.lore), key=lambda i: parts.lore[i].order
        )  # lowest insertion order first, as the books ask
        before = tuple(parts.lore_lines[i].rstrip("\n") for i in kept if parts.lore[i].before_char)
        after = tuple(
            parts.lore_lines[i].rstrip("\n") for i in kept if not parts.lore[i].before_char
        )
        sheet = replace(parts.sheet, lore_before=before, lore_after=after)
        history = parts.lines[window.first_turn :]
        if parts.note:
            at = max(0, len(history) - max(parts.note_depth, 0))
            history = [*history[:at], parts.note, *history[at:]]
        if parts.recall and history:
            history = [*history[:-1], *parts.recall, history[-1]]
        pieces = [
            self._format.header(sheet),
            *parts.examples[: window.examples],
            parts.opening,
            *history,
            parts.tail,
            parts.reply,
        ]
        return "".join(pieces), await self._counter.count_joined(pieces)


def _lore_line(activation: Activation) -> str:
    return f"{defuse_tokens(activation.content)}\n"


def _index_of_id(history: Sequence[Turn], turn_id: int | None) -> int:
    """Index of the first turn at or after ``turn_id`` (0 when unknown or out of the window)."""
    if turn_id is None:
        return 0
    for index, turn in enumerate(history):
        if turn.id is not None and turn.id >= turn_id:
            return index
    return 0
