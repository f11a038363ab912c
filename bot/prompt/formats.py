"""The two prompt formats Pygmalion models were trained on.

Classic Pygmalion (Pygmalion 6B and 7B)::

    {card system prompt, when the card has one}
    {lore: before_char entries}
    {char}'s Persona: {persona}
    [{member}: {description}]  (the members present who set a /persona description)
    Scenario: {scenario}
    {lore: after_char entries}
    [{memory: the summary so far, pinned facts}]
    <START>
    {example block}
    <START>
    {speaker}: {text}
    [{author's note, at its depth}]
    [{post-history instructions}]
    {char}:

Metharme (Pygmalion-2, Mythalion): ``<|system|>`` with the persona (and the lore and memory), then
``<|user|>`` and ``<|model|>`` turns, the author's note and post-history instructions as
``<|system|>`` turns, ending with ``<|model|>``. The default system prompt is the seed's whole
block: "Enter RP mode. Pretend to be {char} whose persona follows:", the character's definition,
a blank line and "You shall reply to the user while staying in character, and generate long
responses." A card's system prompt replaces that block (the definition still follows it); per
the V2 spec its ``{{original}}`` stands for the whole block, closing line included.

Each format renders pieces; bot/prompt/render.py decides which pieces fit the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.values import PromptFormat, Role

# Where a card's system prompt said ``{{original}}``: a private-use marker the formatter
# replaces with its whole default system prompt (the definition included), so lore chosen per
# window lands inside it.
ORIGINAL = "\ue000original\ue000"


@dataclass(frozen=True, slots=True)
class Sheet:
    """The parts of a character a prompt needs, names already made safe."""

    name: str
    persona: str
    scenario: str = ""
    system: str | None = None  # the card's system prompt; ORIGINAL marks its {{original}}
    lore_before: tuple[str, ...] = ()
    lore_after: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # "[Name: description]" of the members present
    memory: tuple[str, ...] = ()  # the summary so far and pinned facts (bot/memory/)


class PromptFormatter(Protocol):
    def header(self, sheet: Sheet) -> str:
        """System prompt, lore, persona and scenario: the character's definition."""
        ...

    def example_block(self, sheet: Sheet, block: str) -> str: ...

    def history_opening(self) -> str:
        """What separates the character definition from the conversation."""
        ...

    def turn(self, sheet: Sheet, role: Role, speaker: str, text: str) -> str: ...

    def reply_opening(self, sheet: Sheet) -> str:
        """The text the model continues: the character's turn."""
        ...

    def speaker_opening(self, name: str) -> str:
        """The text the model continues to write a member's line (``/impersonate``)."""
        ...


def _lines(texts: tuple[str, ...]) -> str:
    return "".join(f"{text}\n" for text in texts)


class PygmalionFormat:
    """Classic Pygmalion: persona, ``<START>`` delimiters, ``Name: text`` lines."""

    def header(self, sheet: Sheet) -> str:
        # The classic format has no instruction: a card's {{original}} stands for nothing.
        system = (sheet.system or "").replace(ORIGINAL, "").strip()
        text = f"{system}\n" if system else ""
        text += _lines(sheet.lore_before)
        if sheet.persona:  # a card whose character lives in its lorebook has none
            text += f"{sheet.name}'s Persona: {sheet.persona}\n"
        text += _lines(sheet.people)
        if sheet.scenario:
            text += f"Scenario: {sheet.scenario}\n"
        return text + _lines(sheet.lore_after) + _lines(sheet.memory)

    def example_block(self, sheet: Sheet, block: str) -> str:
        return f"<START>\n{block}\n"

    def history_opening(self) -> str:
        return "<START>\n"

    def turn(self, sheet: Sheet, role: Role, speaker: str, text: str) -> str:
        if role is Role.SYSTEM:
            return f"[{text}]\n"
        return f"{speaker}: {text}\n"

    def reply_opening(self, sheet: Sheet) -> str:
        return f"{sheet.name}:"

    def speaker_opening(self, name: str) -> str:
        return f"{name}:"


class MetharmeFormat:
    """Metharme: role tokens, the model card's roleplay system prompt."""

    def header(self, sheet: Sheet) -> str:
        # empty persona: a card whose character lives in its lorebook
        definition = (f"{sheet.persona}\n" if sheet.persona else "") + _lines(sheet.people)
        if sheet.scenario:
            definition += f"Scenario: {sheet.scenario}\n"
        definition += _lines(sheet.lore_after) + _lines(sheet.memory)
        default = (
            f"Enter RP mode. Pretend to be {sheet.name} whose persona follows:\n{definition}\n"
            "You shall reply to the user while staying in character, and generate long responses."
        )
        if sheet.system is None:
            system = default
        elif ORIGINAL in sheet.system:
            system = sheet.system.replace(ORIGINAL, default)
        else:  # the card's prompt replaces the whole default; the definition still follows
            system = f"{sheet.system}\n{definition}".rstrip("\n")
        return f"<|system|>{_lines(sheet.lore_before)}{system}"

    def example_block(self, sheet: Sheet, block: str) -> str:
        return f"<|system|>Example of how {sheet.name} talks:\n{block}"

    def history_opening(self) -> str:
        return ""

    def turn(self, sheet: Sheet, role: Role, speaker: str, text: str) -> str:
        if role is Role.CHARACTER:
            return f"<|model|>{text}"
        if role is Role.SYSTEM:
            return f"<|system|>{text}"
        return f"<|user|>{speaker}: {text}"

    def reply_opening(self, sheet: Sheet) -> str:
        return "<|model|>"

    def speaker_opening(self, name: str) -> str:
        return f"<|user|>{name}:"


def continued(prompt_format: PromptFormat, prompt_text: str, reply_so_far: str) -> str:
    """A prompt that has the model go on with ``reply_so_far``: the classic format's reply
    opening ends with "Name:" and a reply follows it after a space; Metharme's ``<|model|>``
    is followed directly."""
    joiner = " " if prompt_format is PromptFormat.PYGMALION else ""
    return prompt_text + joiner + reply_so_far
