"""The pieces of one prompt, each made by a small step, before the budget picks among them.

The steps follow the prompt from top to bottom: who is who (``names_of``), the character
sheet (system prompt, persona, the people present, scenario: ``character_sheet``), the
example blocks, the history lines, the author's note, the post-history instructions and the
reply opening; ``build_parts`` runs them. A new block (a memory of earlier scenes, say) is
one more step here, one more field of ``Parts``, and one more place in
``bot.prompt.render.assemble``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.cards import apply_override, substitute_macros
from bot.lore.scan import Activation
from bot.prompt.examples import split_example_blocks
from bot.prompt.formats import ORIGINAL, PromptFormatter, Sheet
from bot.prompt.inputs import AuthorNote, PromptInputs
from bot.prompt.sanitize import defuse_tokens, names_pattern, neutralize, speaker_name
from bot.values import CharacterFields, ExampleMode, Role, Turn, UserLabel

YOU = "You"  # the member, as seeds 000-002 write them
CardText = Callable[..., str]  # a card's text with its macros filled in, made safe


@dataclass(frozen=True, slots=True)
class Names:
    """Who is who in one prompt, as the prompt writes them (made safe by speaker_name)."""

    char: str  # the character
    user: str  # {{user}} in the closing parts: the author's note, post-history instructions
    card_user: str  # {{user}} in the definition, examples and lore, which open the prompt
    writer: str  # whose line the prompt ends with: the character's, or reply_as's
    turns: list[str]  # the speaker of each history turn


@dataclass(frozen=True, slots=True)
class Parts:
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
    recall: tuple[str, ...] = ()  # old lines memory recalled, after the history


def as_you(inputs: PromptInputs, user_label: UserLabel) -> PromptInputs:
    """With ``USER_LABEL=you``, one member talking with the character alone is ``You`` as
    in the model cards (several people need their names)."""
    if user_label is not UserLabel.YOU:
        return inputs
    members = {turn.speaker for turn in inputs.history if turn.role is Role.HUMAN}
    members |= {
        name for name in (inputs.user_name, inputs.reply_as, inputs.definition_user) if name
    }
    members |= {name for name, _ in inputs.people}
    if len(members) > 1:
        return inputs
    return replace(
        inputs,
        user_name=YOU,
        definition_user=YOU,
        history=[
            replace(turn, speaker=YOU) if turn.role is Role.HUMAN else turn
            for turn in inputs.history
        ],
        reply_as=YOU if inputs.reply_as else inputs.reply_as,
        people=[(YOU, description) for _, description in inputs.people],
    )


def names_of(inputs: PromptInputs) -> Names:
    char = speaker_name(inputs.character.name)
    cast = tuple(speaker_name(name) for name in inputs.cast)
    return Names(
        char=char,
        user=speaker_name(inputs.user_name, character_name=char),
        card_user=speaker_name(inputs.definition_user or inputs.user_name, character_name=char),
        writer=speaker_name(inputs.reply_as, character_name=char) if inputs.reply_as else char,
        turns=[
            char
            if turn.role is Role.CHARACTER
            else speaker_name(turn.speaker, character_name=char, cast=cast)
            for turn in inputs.history
        ],
    )


def scanned_lines(history: Sequence[Turn], names: Names) -> list[str]:
    """The history as lorebooks scan it for their keys."""
    return [f"{name}: {turn.text}" for turn, name in zip(history, names.turns, strict=True)]


def build_parts(
    fmt: PromptFormatter, inputs: PromptInputs, names: Names, lore: list[Activation]
) -> Parts:
    """Every piece of the prompt, in the order it reads."""

    def card_text(raw: str, user: str = names.card_user) -> str:
        return defuse_tokens(substitute_macros(raw, char=names.char, user=user))

    character = inputs.character
    sheet = character_sheet(character, names, inputs.people, card_text)
    if inputs.memory:
        sheet = replace(sheet, memory=tuple(defuse_tokens(line) for line in inputs.memory))
    return Parts(
        sheet=sheet,
        examples=example_blocks(fmt, sheet, character, card_text),
        opening=fmt.history_opening(),
        lines=history_lines(fmt, sheet, inputs.history, names),
        note=author_note_line(fmt, sheet, inputs.author_note, names, card_text),
        note_depth=inputs.author_note.depth if inputs.author_note is not None else 0,
        tail=post_history_line(fmt, sheet, character, names, card_text),
        reply=fmt.speaker_opening(names.writer) if inputs.reply_as else fmt.reply_opening(sheet),
        lore=lore,
        lore_lines=[lore_line(activation) for activation in lore],
        recall=recalled_lines(fmt, sheet, inputs),
    )


def recalled_lines(fmt: PromptFormatter, sheet: Sheet, inputs: PromptInputs) -> tuple[str, ...]:
    """Old lines memory brought back, one system line each (a line recalled again costs no
    new count), when there is a history for them to follow."""
    if not inputs.history:
        return ()
    return tuple(fmt.turn(sheet, Role.SYSTEM, "", defuse_tokens(line)) for line in inputs.recalled)


def character_sheet(
    character: CharacterFields,
    names: Names,
    people: Sequence[tuple[str, str]],
    card_text: CardText,
) -> Sheet:
    """The character's definition: the card's system prompt, persona and scenario, and the
    members present who described themselves."""
    system = None
    if character.system_prompt.strip():
        own = character.system_prompt.replace(ORIGINAL, "")
        system = card_text(apply_override(own, ORIGINAL))
        if system == ORIGINAL:
            system = None  # a bare {{original}}: the format's own prompt
    return Sheet(
        name=names.char,
        persona=card_text(character.persona),
        scenario=card_text(character.scenario),
        system=system,
        people=tuple(
            f"[{speaker_name(name, character_name=names.char)}: "
            f"{' '.join(defuse_tokens(description).split())}]"
            for name, description in people
        ),
    )


def example_blocks(
    fmt: PromptFormatter, sheet: Sheet, character: CharacterFields, card_text: CardText
) -> list[str]:
    if character.example_mode is ExampleMode.NEVER:
        return []
    return [
        fmt.example_block(sheet, card_text(block))
        for block in split_example_blocks(character.example_dialogue)
    ]


def history_lines(
    fmt: PromptFormatter, sheet: Sheet, history: Sequence[Turn], names: Names
) -> list[str]:
    """Each turn as the format writes it; lines that pose as another speaker are defused."""
    known = names_pattern({*names.turns, names.char})
    return [
        fmt.turn(sheet, turn.role, name, neutralize(turn.text, known))
        for turn, name in zip(history, names.turns, strict=True)
    ]


def author_note_line(
    fmt: PromptFormatter,
    sheet: Sheet,
    note: AuthorNote | None,
    names: Names,
    card_text: CardText,
) -> str:
    if note is None or not note.text.strip():
        return ""
    return fmt.turn(sheet, Role.SYSTEM, "", card_text(note.text, names.user))


def post_history_line(
    fmt: PromptFormatter,
    sheet: Sheet,
    character: CharacterFields,
    names: Names,
    card_text: CardText,
) -> str:
    if not character.post_history_instructions.strip():
        return ""
    instructions = apply_override(character.post_history_instructions, "")
    return fmt.turn(sheet, Role.SYSTEM, "", card_text(instructions, names.user))


def lore_line(activation: Activation) -> str:
    return f"{defuse_tokens(activation.content)}\n"
