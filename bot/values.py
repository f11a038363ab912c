"""Frozen values that cross layers: the store returns them, prompts and cogs read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.cards import LoreBook, LoreEntry


class PromptFormat(StrEnum):
    PYGMALION = "pygmalion"
    METHARME = "metharme"


class UserLabel(StrEnum):
    """How a prompt labels the member's lines: by name, or ``You:`` as the model cards write
    it (only where one person talks: a single-player channel, the console)."""

    NAMES = "names"
    YOU = "you"


class Role(StrEnum):
    HUMAN = "human"
    CHARACTER = "character"
    SYSTEM = "system"


class ExampleMode(StrEnum):
    """When a character's example dialogue is in the prompt (SillyTavern's three choices)."""

    ALWAYS = "always"  # never dropped: counts like the persona
    GRADUAL = "gradual"  # while the whole history fits; pushed out as the story grows
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of the conversation as the prompt sees it."""

    speaker: str
    text: str
    role: Role
    id: int | None = None  # the stored message id, when there is one


@dataclass(frozen=True, slots=True)
class Character:
    """A character as the core uses it (the avatar image itself is fetched separately)."""

    id: int
    guild_id: int
    owner_id: int
    name: str
    persona: str
    greeting: str = ""
    scenario: str = ""
    example_dialogue: str = ""
    nsfw: bool = False
    has_avatar: bool = False
    alternate_greetings: tuple[str, ...] = ()
    system_prompt: str = ""  # replaces the format's default; {{original}} embeds it
    post_history_instructions: str = ""
    example_mode: ExampleMode = ExampleMode.GRADUAL
    talkativeness: float = 0.5  # how readily it speaks up in a group scene, 0..1
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message of a roleplay session as stored."""

    id: int
    session_id: int
    role: Role
    speaker: str
    content: str
    author_id: int | None
    discord_message_id: int | None
    created_at: datetime
    edited_at: datetime | None = None
    deleted: bool = False
    swipes: tuple[str, ...] = ()  # every version of a regenerated reply; content is the chosen
    swipe_index: int = 0
    character_id: int | None = None  # which character spoke a character line
    discord_tail_ids: tuple[int, ...] = ()  # a long reply's further Discord messages, in order

    @property
    def discord_ids(self) -> tuple[int, ...]:
        """Every Discord message showing this line, first to last."""
        first = () if self.discord_message_id is None else (self.discord_message_id,)
        return first + self.discord_tail_ids

    def as_turn(self) -> Turn:
        return Turn(speaker=self.speaker, text=self.content, role=self.role, id=self.id)


@dataclass(frozen=True, slots=True)
class ChannelSession:
    """An active or ended roleplay session in one channel or thread."""

    id: int
    guild_id: int
    channel_id: int
    character_id: int
    active: bool
    started_by: int | None
    created_at: datetime
    ended_at: datetime | None = None
    world_id: int | None = None  # a server world (lorebook) attached to this roleplay
    author_note: str = ""
    author_note_depth: int = 4  # inserted before this many of the latest messages
    paused: bool = False  # messages are recorded, nobody answers
    history_revision: int = 0  # moves with every change to the session's messages


@dataclass(frozen=True, slots=True)
class CastMember:
    """A character in a session's scene, and from which message on it was there."""

    character: Character
    since_message_id: int | None = None  # None: it knows the whole history


@dataclass(frozen=True, slots=True)
class Persona:
    """What a member is called in roleplay on one server, and a short description."""

    guild_id: int
    user_id: int
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """What a server's admins configured; defaults when they configured nothing."""

    guild_id: int
    allowed_channel_ids: tuple[int, ...] | None = None  # None: every channel
    creator_role_ids: tuple[int, ...] | None = None  # None: everyone may create characters
    session_role_ids: tuple[int, ...] | None = None  # None: everyone may start sessions
    reply_mode: str = "all"  # "all" or "mention"
    ooc_prefix: str = "//"
    max_reply_tokens: int | None = None
    sampler_preset: str | None = None
    user_cooldown_seconds: float = 0.0
    nsfw_rule: str = "age_restricted"  # "age_restricted", "allow" or "never"
    max_characters: int = 4  # characters in one scene
    replies_per_message: int = 2  # character replies one human message can draw


# Stored lorebooks as the core sees them: their fields and entries are bot.cards values, the
# same ones a card carries, so a card's book is stored and exported again without translation.


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One lorebook entry with its row id (what ``/lore show`` and ``/lore remove`` take)."""

    id: int
    book_id: int
    entry: LoreEntry

    @property
    def title(self) -> str:
        """A short label: the entry's name or comment, else its keys."""
        label = self.entry.name or self.entry.comment or ", ".join(self.entry.keys)
        return " ".join(label.split())[:80] or "(no keys)"


@dataclass(frozen=True, slots=True)
class Lorebook:
    """A character's own lorebook (``character_id``) or a server world (``name``)."""

    id: int
    guild_id: int
    character_id: int | None
    name: str | None
    book: LoreBook  # the book's fields; ``book.entries`` holds the entries in order
    entry_ids: tuple[int, ...] = ()  # the row id of each of ``book.entries``

    def stored_entries(self) -> list[StoredEntry]:
        return [
            StoredEntry(id=entry_id, book_id=self.id, entry=entry)
            for entry_id, entry in zip(self.entry_ids, self.book.entries, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class WorldSummary:
    id: int
    name: str
    entries: int


# Memory beyond the context window (bot/memory/).


@dataclass(frozen=True, slots=True)
class MemorySummary:
    """A (session, character)'s running summary of the lines its window trimmed."""

    session_id: int
    character_id: int
    text: str
    covered_until: int  # the newest message id folded into it (0: none yet)
    revision: int  # moves with every change: a summary job writes only over what it read
    authors: tuple[int, ...] = ()  # members whose lines were folded in (for /forget me)


@dataclass(frozen=True, slots=True)
class Pin:
    """A fact a member pinned: in every prompt of the session until unpinned."""

    id: int
    session_id: int
    text: str
    pinned_by: int | None


@dataclass(frozen=True, slots=True)
class SessionMemory:
    """A session's memory as people see and change it."""

    session_id: int
    enabled: bool
    revision: int  # moves with every pin, unpin, on/off
    pins: tuple[Pin, ...] = ()
    summaries: tuple[MemorySummary, ...] = ()


@dataclass(frozen=True, slots=True)
class RecalledLine:
    """An old line of the history that matches what is said now."""

    id: int
    speaker: str
    content: str
