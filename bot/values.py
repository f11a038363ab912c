"""Frozen values that cross layers: the store returns them, prompts and cogs read them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

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


class FieldKind(StrEnum):
    """What a character field holds, which says how it is checked, stored and shown."""

    TEXT = "text"
    TEXTS = "texts"  # several texts, each held to the field's limit (alternate greetings)
    FLAG = "flag"
    CHOICE = "choice"  # an ExampleMode
    SHARE = "share"  # a number from 0 to 1


@dataclass(frozen=True, slots=True)
class FormInput:
    """How a front end's form shows a field. Discord's forms hold five inputs, each with a
    label of at most 45 characters and at most 4,000 characters of text."""

    label: str
    max_length: int
    paragraph: bool = True
    placeholder: str | None = None
    required: bool = False
    custom_id: str | None = None  # what a submitted form calls it; None: the field's name


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a character: how people read its name, how long it may be, where a card
    keeps it, and whether the form shows it. ``name`` is the attribute (filled in below)."""

    label: str  # in sentences: "The {label} is too long"
    kind: FieldKind = FieldKind.TEXT
    max_length: int | None = None  # characters (of each text, for TEXTS)
    card_key: str | None = None  # the CharacterCard attribute it comes from and goes back to
    form: FormInput | None = None
    name: str = ""


_SPEC = "galatea.spec"  # the key of each field's FieldSpec in its dataclass metadata


def _spec(label: str, kind: FieldKind = FieldKind.TEXT, **more: Any) -> dict[str, FieldSpec]:
    return {_SPEC: FieldSpec(label, kind, **more)}


MAX_NAME = 64  # fits a Discord webhook name (80) with room to spare
_LONG = 16_000  # persona and example dialogue
_MEDIUM = 8_000  # greetings (longer ones come in several Discord messages), card prompts


@dataclass(frozen=True, slots=True, kw_only=True)
class CharacterFields:
    """What people write for a character and a card carries: the one definition of these
    fields. Each one's FieldSpec (CHARACTER_FIELDS) drives the checks (bot.characters), the
    rows (bot.store), the card mapping (bot.characters.card_io) and the Discord form."""

    name: str = field(
        metadata=_spec(
            "name",
            max_length=MAX_NAME,
            card_key="name",
            form=FormInput("Name", MAX_NAME, paragraph=False, required=True),
        )
    )
    persona: str = field(
        metadata=_spec(
            "persona",
            max_length=_LONG,
            card_key="persona",  # description and personality; an edit replaces both
            form=FormInput(
                "Persona",
                4000,
                required=True,
                placeholder="Who they are, how they talk. {{char}} and {{user}} work here.",
            ),
        )
    )
    greeting: str = field(
        default="",
        metadata=_spec(
            "greeting",
            max_length=_MEDIUM,
            card_key="first_mes",
            form=FormInput("Greeting (first message)", 2000),
        ),
    )
    scenario: str = field(
        default="",
        metadata=_spec(
            "scenario", max_length=4_000, card_key="scenario", form=FormInput("Scenario", 1000)
        ),
    )
    example_dialogue: str = field(
        default="",
        metadata=_spec(
            "example dialogue",
            max_length=_LONG,
            card_key="mes_example",
            form=FormInput(
                "Example dialogue",
                4000,
                placeholder="<START>\n{{user}}: Hi!\n{{char}}: Hello there!",
                custom_id="examples",
            ),
        ),
    )
    nsfw: bool = field(default=False, metadata=_spec("NSFW flag", FieldKind.FLAG))
    alternate_greetings: tuple[str, ...] = field(
        default=(),
        metadata=_spec(
            "alternate greeting",
            FieldKind.TEXTS,
            max_length=_MEDIUM,
            card_key="alternate_greetings",
        ),
    )
    # Replaces the format's default system prompt; {{original}} embeds it.
    system_prompt: str = field(
        default="",
        metadata=_spec("system prompt", max_length=_MEDIUM, card_key="system_prompt"),
    )
    post_history_instructions: str = field(
        default="",
        metadata=_spec(
            "post-history instructions",
            max_length=_MEDIUM,
            card_key="post_history_instructions",
        ),
    )
    example_mode: ExampleMode = field(
        default=ExampleMode.GRADUAL, metadata=_spec("example mode", FieldKind.CHOICE)
    )
    # How readily the character speaks up in a group scene, 0..1; cards keep it in
    # extensions.talkativeness (bot.characters.card_io).
    talkativeness: float = field(default=0.5, metadata=_spec("talkativeness", FieldKind.SHARE))


CHARACTER_FIELDS: tuple[FieldSpec, ...] = tuple(
    replace(f.metadata[_SPEC], name=f.name) for f in fields(CharacterFields)
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Character(CharacterFields):
    """A character as the core uses it (the avatar image itself is fetched separately)."""

    id: int
    guild_id: int
    owner_id: int
    has_avatar: bool = False
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
