"""What a session's prompt holds besides its history, and the greeting that opens a story.

The speaking character's definition, the lorebooks to scan (the character's own, then the
world the session has attached), the session's author's note, the scene's other characters and
the members' personas are read in the same unit of work as the history, so one prompt sees one
consistent state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.cards import LoreBook, substitute_macros
from bot.common.memo import LruCache
from bot.errors import NotFound
from bot.memory.service import NO_MEMORY, MemoryService, PromptMemory
from bot.prompt.render import AuthorNote, PromptInputs, PromptRenderer, RenderedPrompt
from bot.store import Database, UnitOfWork
from bot.store.scenes import Scene
from bot.values import (
    CastMember,
    ChannelSession,
    Character,
    ExampleMode,
    Persona,
    Role,
    StoredMessage,
    Turn,
)


@dataclass(frozen=True, slots=True)
class PromptContext:
    character: Character
    books: tuple[LoreBook, ...] = ()
    author_note: AuthorNote | None = None
    session: ChannelSession | None = None
    cast: tuple[CastMember, ...] = ()
    personas: dict[int, Persona] = field(default_factory=dict)  # by member id
    memory: PromptMemory = NO_MEMORY  # summary, pins, recalled lines (bot/memory/)


async def load_cast(uow: UnitOfWork, session: ChannelSession) -> tuple[CastMember, ...]:
    """The scene's characters in the order they joined (the session's first one first)."""
    scene = await uow.scenes.get(session.id)
    return await cast_of(uow, scene) if scene is not None else ()


async def cast_of(uow: UnitOfWork, scene: Scene) -> tuple[CastMember, ...]:
    """The scene's characters that still exist, in the order they joined."""
    members = list(scene.members)
    first = scene.session.character_id
    if not any(character_id == first for character_id, _, _ in members):
        # A session from before group scenes: its character has no cast row.
        members.insert(0, (first, None, await uow.characters.get(first)))
    return tuple(CastMember(c, since) for _, since, c in members if c is not None)


async def load_context(
    uow: UnitOfWork,
    session: ChannelSession,
    character_id: int | None = None,
    *,
    cast: tuple[CastMember, ...] | None = None,
) -> PromptContext:
    """The context for ``character_id``'s prompt (the session's first character by default)."""
    if cast is None:
        cast = await load_cast(uow, session)
    wanted = character_id if character_id is not None else session.character_id
    member = next((m for m in cast if m.character.id == wanted), None)
    if member is None:
        raise NotFound("That character is no longer in this roleplay.")
    character = member.character
    books = await uow.lore.for_prompt(character.id, session.world_id)
    note = None
    if session.author_note.strip():
        note = AuthorNote(session.author_note, session.author_note_depth)
    return PromptContext(character, tuple(books), note, session, cast)


def speaker_of(message: StoredMessage, session: ChannelSession | None) -> int | None:
    """The character who spoke a character line (old lines: the session's first character)."""
    if message.role is not Role.CHARACTER:
        return None
    if message.character_id is not None:
        return message.character_id
    return session.character_id if session is not None else None


def known_since(context: PromptContext) -> int:
    """The newest message the speaking character did not witness (0: it knows them all)."""
    member = next((m for m in context.cast if m.character.id == context.character.id), None)
    return member.since_message_id or 0 if member is not None else 0


def present_for(messages: Sequence[StoredMessage], context: PromptContext) -> list[StoredMessage]:
    """The history the speaking character witnessed: from when it joined the scene on."""
    member = next((m for m in context.cast if m.character.id == context.character.id), None)
    since = member.since_message_id if member is not None else None
    if since is None:
        return list(messages)
    return [m for m in messages if m.id > since]


SESSIONS_REMEMBERED = 10_000
# Histories kept in memory: the sessions that spoke most recently. A few hundred rows each.
HISTORIES_REMEMBERED = 256


@dataclass(slots=True)
class _History:
    """A session's prompt window as last read, and the lines this process stored since.

    ``revision`` is the session's ``history_revision`` when it was read; the database moves
    that number by one for every message inserted, changed or deleted. If it has moved by
    exactly the number of lines this process stored since, nobody else changed the history and
    those lines are the whole difference: no read is needed."""

    revision: int
    from_id: int | None
    messages: list[StoredMessage]
    stored_since: list[StoredMessage] = field(default_factory=list)

    def current(self, revision: int, from_id: int | None, limit: int) -> list[StoredMessage] | None:
        if from_id != self.from_id or revision != self.revision + len(self.stored_since):
            return None
        if self.stored_since:
            self.messages = (self.messages + self.stored_since)[-limit:]
            self.revision, self.stored_since = revision, []
        return list(self.messages)


@dataclass(frozen=True, slots=True)
class _Window:
    """What a (session, character)'s last prompt held, for the next one."""

    first_turn_id: int | None  # the window never starts earlier: the prompt's start stays put
    # Example blocks shown; None once they made way for history: they do not come back (each
    # change near the prompt's start makes the backend read the whole prompt again).
    examples: int | None

    @staticmethod
    def after(last: _Window | None, prompt: RenderedPrompt, *, trimmed: bool) -> _Window:
        first = prompt.first_turn_id
        if first is None and last is not None:
            first = last.first_turn_id
        shown_before = 0 if last is None else last.examples
        gone = shown_before is None or trimmed or prompt.examples_included < shown_before
        return _Window(first, None if gone else prompt.examples_included)


class PromptBuilder:
    """Loads what a prompt needs and renders it, keeping each speaker's window start fixed."""

    def __init__(
        self,
        database: Database,
        renderer: PromptRenderer,
        history_limit: int,
        memory: MemoryService | None = None,
    ) -> None:
        self._db = database
        self._memory = memory
        self.renderer = renderer
        self._history_limit = history_limit
        # Each (session, character)'s last window, so the next prompt keeps its start.
        self._windows: LruCache[tuple[int, int], _Window] = LruCache(SESSIONS_REMEMBERED)
        # Who {{user}} is in each session's character definition (see ``definition_user``).
        self._definition_users: LruCache[int, str] = LruCache(SESSIONS_REMEMBERED)
        self._histories: LruCache[int, _History] = LruCache(HISTORIES_REMEMBERED)

    def forget(self, session_id: int) -> None:
        for key in [k for k in self._windows if k[0] == session_id]:
            del self._windows[key]
        self._definition_users.pop(session_id, None)
        self._histories.pop(session_id, None)
        self.forget_memory(session_id)

    def forget_memory(self, session_id: int) -> None:
        """The session's memory changed in the store (a reset, an old line edited after a
        summary folded it): the next prompt reads it again."""
        if self._memory is not None:
            self._memory.forget(session_id)

    def stored(self, message: StoredMessage) -> None:
        """This process stored ``message`` (committed): the next prompt needs no read for it."""
        history = self._histories.get(message.session_id)
        if history is None:
            return
        if len(history.stored_since) >= self._history_limit:
            # Nobody asked for a prompt in a whole window's worth of lines (a paused session,
            # held replies): reading again later is cheaper than holding them here.
            del self._histories[message.session_id]
            return
        history.stored_since.append(message)

    async def _recent(
        self, uow: UnitOfWork, session: ChannelSession, from_id: int | None
    ) -> list[StoredMessage]:
        """The window's messages: from memory while the history revision says nothing else
        changed, else read (one per session, kept for the next prompt)."""
        history = self._histories.get(session.id)
        if history is not None:
            messages = history.current(session.history_revision, from_id, self._history_limit)
            if messages is not None:
                return messages
        messages = await uow.messages.recent(session.id, self._history_limit, from_id=from_id)
        self._histories[session.id] = _History(session.history_revision, from_id, messages)
        return list(messages)

    async def load(
        self, session_id: int, character_id: int | None = None
    ) -> tuple[PromptContext, list[StoredMessage]]:
        async with self._db.read() as uow:
            scene = await uow.scenes.get(session_id)
            if scene is None:
                raise NotFound("That session no longer exists.")
            session = scene.session
            context = await load_context(uow, session, character_id, cast=await cast_of(uow, scene))
            # The window never starts before the last prompt's first turn: read from there.
            window = self._windows.get((session_id, context.character.id))
            start = window.first_turn_id if window is not None else None
            messages = await self._recent(uow, session, start)
            authors = {m.author_id for m in messages if m.author_id is not None}
            personas = await uow.personas.of_members(session.guild_id, authors)
            present = present_for(messages, context)
            memory = NO_MEMORY
            if self._memory is not None:
                memory = await self._memory.for_prompt(
                    uow,
                    session_id,
                    context.character.id,
                    present,
                    window_start=start,
                    since=known_since(context),
                )
        context = replace(context, personas=personas, memory=memory)
        return context, present

    async def render(
        self,
        session_id: int,
        context: PromptContext,
        messages: list[StoredMessage],
        reply_tokens: int,
        *,
        reply_as: str | None = None,
    ) -> RenderedPrompt:
        """The speaking character's prompt; ``reply_as``: a member's line instead."""
        me = context.character.id
        turns = [_turn_for(m, context.character) for m in messages]
        humans = [m for m in messages if m.role is Role.HUMAN]
        user = reply_as or (humans[-1].speaker if humans else "You")
        others = [m.character.name for m in context.cast if m.character.id != me]
        others += list(dict.fromkeys(m.speaker for m in reversed(humans)))
        people = _people(humans, context.personas)
        key = (session_id, me)
        definition_user = self.definition_user(session_id, context.session, humans, user)
        character = context.character
        last = self._windows.get(key)
        if last is not None and last.examples is None:
            if character.example_mode is ExampleMode.GRADUAL:
                character = replace(character, example_mode=ExampleMode.NEVER)
        inputs = PromptInputs(
            character=character,
            history=turns,
            user_name=user,
            reply_tokens=reply_tokens,
            sticky_first_turn_id=last.first_turn_id if last is not None else None,
            lore=context.books,
            author_note=context.author_note,
            others=others,
            people=people,
            reply_as=reply_as,
            definition_user=definition_user,
            cast=[m.character.name for m in context.cast if m.character.id != me],
            memory=context.memory.lines,
            recalled=context.memory.recall,
        )
        prompt = await self.renderer.render(inputs)
        if self._memory is not None and reply_as is None:
            # The window moved: a summary job may have folded what it trimmed; adopt it now.
            adopted = await self._memory.rendered(
                session_id,
                me,
                context.character.name,
                prompt.first_turn_id,
                since=known_since(context),
            )
            if adopted is not None:
                prompt = await self.renderer.render(replace(inputs, memory=adopted))
        if reply_as is None:
            self._windows[key] = _Window.after(
                last, prompt, trimmed=prompt.turns_included < len(turns)
            )
        return prompt

    def definition_user(
        self,
        session_id: int,
        session: ChannelSession | None,
        humans: Sequence[StoredMessage],
        current: str,
    ) -> str:
        """The name ``{{user}}`` stands for in the character's definition, fixed per session.

        The member who started the session (their latest name in the history), else whoever
        speaks now; chosen once, so the prompt's opening does not change while several people
        take turns (a backend then evaluates only the new lines).
        """
        chosen = self._definition_users.get(session_id)
        if chosen is None:
            starter = session.started_by if session is not None else None
            names = [m.speaker for m in humans if starter is not None and m.author_id == starter]
            chosen = names[-1] if names else current
            self._definition_users[session_id] = chosen
        return chosen


def _turn_for(message: StoredMessage, me: Character) -> Turn:
    """Another character's line reads like anyone else's: ``Name: text``, not the model's."""
    if message.role is Role.CHARACTER:
        mine = (
            message.character_id == me.id
            if message.character_id is not None  # None: from before group scenes, or the
            else message.speaker == me.name  # character who spoke it was deleted since
        )
        if not mine:
            return Turn(message.speaker, message.content, Role.HUMAN, message.id)
    return message.as_turn()


def _people(humans: Sequence[StoredMessage], personas: dict[int, Persona]) -> list[tuple[str, str]]:
    """(name, description) of the members with a persona description who speak in the history."""
    seen: dict[int, tuple[str, str]] = {}
    for message in humans:
        persona = personas.get(message.author_id or -1)
        if persona is not None and persona.description and message.author_id not in seen:
            seen[message.author_id or -1] = (persona.name, persona.description)
    return list(seen.values())


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
        session_id=session_id,
        role=Role.CHARACTER,
        speaker=character.name,
        content=versions[0],
        character_id=character.id,
    )
    if len(versions) > 1:
        message = await uow.messages.set_versions(
            message.id, content=versions[0], swipes=versions, swipe_index=0
        )
    return message
