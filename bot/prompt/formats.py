"""The two prompt formats Pygmalion models were trained on.

Classic Pygmalion (Pygmalion 6B and 7B)::

    {char}'s Persona: {persona}
    Scenario: {scenario}
    <START>
    {example block}
    <START>
    {speaker}: {text}
    {char}:

Metharme (Pygmalion-2, Mythalion): ``<|system|>`` with the persona, then ``<|user|>`` and
``<|model|>`` turns, ending with ``<|model|>``.

Each format renders pieces; bot/prompt/render.py decides which pieces fit the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.values import Role


@dataclass(frozen=True, slots=True)
class Sheet:
    """The parts of a character a prompt needs, names already made safe."""

    name: str
    persona: str
    scenario: str = ""


class PromptFormatter(Protocol):
    def header(self, sheet: Sheet) -> str:
        """Persona and scenario: always in the prompt."""
        ...

    def example_block(self, sheet: Sheet, block: str) -> str: ...

    def history_opening(self) -> str:
        """What separates the character definition from the conversation."""
        ...

    def turn(self, sheet: Sheet, role: Role, speaker: str, text: str) -> str: ...

    def reply_opening(self, sheet: Sheet) -> str:
        """The text the model continues: the character's turn."""
        ...


class PygmalionFormat:
    """Classic Pygmalion: persona, ``<START>`` delimiters, ``Name: text`` lines."""

    def header(self, sheet: Sheet) -> str:
        text = f"{sheet.name}'s Persona: {sheet.persona}\n"
        if sheet.scenario:
            text += f"Scenario: {sheet.scenario}\n"
        return text

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


class MetharmeFormat:
    """Metharme: role tokens, the model card's roleplay system prompt."""

    def header(self, sheet: Sheet) -> str:
        text = (
            f"<|system|>Enter RP mode. Pretend to be {sheet.name} whose persona follows:\n"
            f"{sheet.persona}\n"
        )
        if sheet.scenario:
            text += f"Scenario: {sheet.scenario}\n"
        return (
            text + "\nYou shall reply to the user while staying in character, "
            "and generate long responses."
        )

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
