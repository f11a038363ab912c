"""What a prompt is rendered from (PromptInputs) and what rendering gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.cards import LoreBook
from bot.values import CharacterFields, Turn


@dataclass(frozen=True, slots=True)
class AuthorNote:
    """A session's note to the model, inserted before the last ``depth`` messages."""

    text: str
    depth: int = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptInputs:
    """Everything one prompt is rendered from: the character's next reply to ``history``.

    ``lore``: the books to scan (the character's own first); ``author_note``: the session's
    note, if any. In a group scene ``others`` names everyone else who may speak (other
    characters, members), so that generation stops where their lines begin; ``people`` are
    (name, description) of the members present. ``reply_as``: the prompt ends with that
    member's line instead of the character's (to draft it for them).

    ``{{user}}`` is ``definition_user`` (default ``user_name``) in the character's
    definition, examples and lore, which open the prompt, and ``user_name`` in the author's
    note and post-history instructions, which close it: a group scene passes one name for
    the whole session, so the prompt's start stays the same while people take turns.
    ``cast``: the other characters of a group scene, whose names members cannot pass for.

    ``memory``: lines the character remembers (the summary so far, pinned facts; bot/memory/),
    in its definition; they change only when the window trims, so the prompt's start stays
    the same between trims. ``recalled``: old lines brought back for the newest message, as
    system lines after the history, the one place where a change costs the backend only
    what follows it.
    """

    character: CharacterFields
    history: Sequence[Turn]  # oldest first
    user_name: str
    reply_tokens: int
    sticky_first_turn_id: int | None = None  # keep the window's start where it was
    lore: Sequence[LoreBook] = ()
    author_note: AuthorNote | None = None
    others: Sequence[str] = ()
    people: Sequence[tuple[str, str]] = ()
    reply_as: str | None = None
    definition_user: str | None = None
    cast: Sequence[str] = ()
    memory: Sequence[str] = ()
    recalled: Sequence[str] = ()


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
