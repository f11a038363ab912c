"""A character whose card keeps everything in its lorebook (empty persona) still reads well."""

from __future__ import annotations

from bot.cards import LoreBook, LoreEntry
from bot.prompt.render import PromptInputs, PromptRenderer
from bot.prompt.tokens import TokenCounter
from bot.settings import PromptFormat
from bot.values import CharacterFields, Role, Turn
from tests.support.recording_backend import RecordingBackend

NARRATOR = CharacterFields(name="Narrator", persona="")
BOOK = LoreBook(
    entries=(
        LoreEntry(
            keys=("town",),
            content="{{char}} tells of the town of Vell.",
            constant=True,
            position="before_char",
        ),
        LoreEntry(keys=("well",), content="The well of Vell is dry.", position="after_char"),
    )
)
HISTORY = [
    Turn("Narrator", "You arrive in Vell at dusk.", Role.CHARACTER, 1),
    Turn("Alice", "I look for the well.", Role.HUMAN, 2),
]


def renderer(fmt: PromptFormat) -> PromptRenderer:
    return PromptRenderer(fmt, TokenCounter(RecordingBackend()), context_length=2048)


async def test_pygmalion_prompt_of_a_lorebook_only_character_has_no_empty_persona_line() -> None:
    prompt = await renderer(PromptFormat.PYGMALION).render(
        PromptInputs(
            character=NARRATOR, history=HISTORY, user_name="Alice", reply_tokens=100, lore=[BOOK]
        )
    )
    assert prompt.text == (
        "Narrator tells of the town of Vell.\n"
        "The well of Vell is dry.\n"
        "<START>\n"
        "Narrator: You arrive in Vell at dusk.\n"
        "Alice: I look for the well.\n"
        "Narrator:"
    )


async def test_metharme_prompt_of_a_lorebook_only_character_has_no_blank_persona() -> None:
    prompt = await renderer(PromptFormat.METHARME).render(
        PromptInputs(
            character=NARRATOR, history=HISTORY, user_name="Alice", reply_tokens=100, lore=[BOOK]
        )
    )
    assert prompt.text.startswith(
        "<|system|>Narrator tells of the town of Vell.\n"
        "Enter RP mode. Pretend to be Narrator whose persona follows:\n"
        "The well of Vell is dry.\n"
    )
    assert "\n\n\n" not in prompt.text
