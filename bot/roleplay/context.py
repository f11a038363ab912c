"""What a session's prompt holds besides its history, and the greeting that opens a story.

The character's definition, the lorebooks to scan (the character's own, then the world the
session has attached) and the session's author's note are read in the same unit of work as
the history, so one prompt sees one consistent state.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards import LoreBook, substitute_macros
from bot.errors import NotFound
from bot.prompt.render import AuthorNote, CharacterPrompt
from bot.store import UnitOfWork
from bot.values import ChannelSession, Character, Role, StoredMessage


@dataclass(frozen=True, slots=True)
class PromptContext:
    character: Character
    books: tuple[LoreBook, ...] = ()
    author_note: AuthorNote | None = None


def prompt_character(character: Character) -> CharacterPrompt:
    return CharacterPrompt(
        name=character.name,
        persona=character.persona,
        scenario=character.scenario,
        example_dialogue=character.example_dialogue,
        system_prompt=character.system_prompt,
        post_history_instructions=character.post_history_instructions,
        example_mode=character.example_mode,
    )


async def load_context(uow: UnitOfWork, session: ChannelSession) -> PromptContext:
    character = await uow.characters.get(session.character_id)
    if character is None:
        raise NotFound("This session's character was deleted.")
    books = await uow.lore.for_prompt(character.id, session.world_id)
    note = None
    if session.author_note.strip():
        note = AuthorNote(session.author_note, session.author_note_depth)
    return PromptContext(character, tuple(books), note)


async def add_greeting(
    uow: UnitOfWork, session_id: int, character: Character, user_name: str
) -> StoredMessage | None:
    """Store the character's first message, its alternate greetings as versions to browse
    with the swipe buttons; ``{{char}}`` and ``{{user}}`` become the character's name and
    ``user_name``. None when the character has no greeting at all."""
    greetings = [g.strip() for g in (character.greeting, *character.alternate_greetings)]
    versions = [substitute_macros(g, char=character.name, user=user_name) for g in greetings if g]
    if not versions:
        return None
    message = await uow.messages.add(
        session_id=session_id, role=Role.CHARACTER, speaker=character.name, content=versions[0]
    )
    if len(versions) > 1:
        message = await uow.messages.set_versions(
            message.id, content=versions[0], swipes=versions, swipe_index=0
        )
    return message
