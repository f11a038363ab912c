"""Console roleplay on the same core as Discord: ``python main.py chat``.

History goes into the same store as a Discord channel's (the console is server 0, and each
character has its own console channel), so a conversation can be resumed later.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from bot.characters.service import CONSOLE_GUILD_ID, CharacterDraft, CharacterService, clean_name
from bot.errors import GalateaError, NotFound, StorageUnavailable
from bot.memory.service import MemoryService
from bot.policy import OPERATOR, Place
from bot.prompt.sanitize import speaker_name
from bot.roleplay.engine import SessionEngine, SessionView
from bot.values import Character, Role

Ask = Callable[[str], Awaitable[str | None]]  # returns None at end of input
Say = Callable[[str], None]

HELP = """Commands:
  /user NAME     speak as someone else from now on (try several people)
  /characters    list characters        /new     create a character
  /history       show the conversation  /reset   start the conversation over
  /memory        what the character remembers (/memory off|on, /memory edit TEXT)
  /pin FACT      a fact never forgotten /unpin N remove the N-th pinned fact
  /prompt        show the prompt the next reply would get
  /help          this help              /quit    leave (the conversation is kept)
Anything else is said by the current speaker."""


def enable_line_editing() -> None:
    """Arrow keys, Home/End and history (up/down) for every question, as in a shell.

    Importing readline is what makes ``input()`` use it; without a terminal there is nothing
    to edit (and some readline builds write escape codes on import), so only then."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            import readline  # noqa: F401
        except ImportError:  # Python built without it (some minimal images): plain input()
            pass


async def ask_stdin(prompt: str) -> str | None:
    """Read a line without blocking the event loop; None at end of input."""
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


def say_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class ConsoleChat:
    def __init__(
        self,
        engine: SessionEngine,
        characters: CharacterService,
        *,
        memory: MemoryService | None = None,
        ask: Ask = ask_stdin,
        say: Say = say_stdout,
    ) -> None:
        self._engine = engine
        self._memory = memory
        self._characters = characters
        self._ask = ask
        self._say = say

    async def run(self, *, character_name: str | None, user: str) -> int:
        character = await self._choose_character(character_name)
        if character is None:
            return 1
        view = await self._open_session(character, user)
        self._say(f"Talking with {character.name} as {user}. Type /help for commands.\n\n")
        await self._show_history(view, last=10)
        while True:
            line = await self._ask(f"{user}> ")
            if line is None:
                self._say("\n")
                return 0
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                try:
                    result = await self._command(line, view, user)
                except GalateaError as exc:
                    self._tell(exc)
                    continue
                if result is None:
                    return 0
                view, user = result
                continue
            try:
                await self._engine.history.add_human_message(
                    view.session.id, speaker=user, content=line
                )
                await self._reply(view)
            except GalateaError as exc:
                self._tell(exc)

    def _tell(self, error: GalateaError) -> None:
        """One line; at the console the person is the operator, so a storage fault's cause too."""
        cause = f" ({error.cause})" if isinstance(error, StorageUnavailable) else ""
        self._say(f"! {error.user_message}{cause}\n")

    async def _reply(self, view: SessionView) -> None:
        shown = ""
        self._say(f"{view.character.name}: ")

        async def on_text(text: str) -> None:
            nonlocal shown
            if text.startswith(shown):
                self._say(text[len(shown) :])
            else:  # cleaning took something back: show the new version on its own line
                self._say(f"\n{view.character.name}: {text}")
            shown = text

        reply = await self._engine.replies.generate_reply(view.session.id, on_text=on_text)
        final = reply.message.content
        if final != shown:
            self._say(f"\n{view.character.name}: {final}" if shown else final)
        self._say("\n")

    async def _command(
        self, line: str, view: SessionView, user: str
    ) -> tuple[SessionView, str] | None:
        name, _, arg = line[1:].partition(" ")
        name = name.lower()
        if name in ("quit", "exit", "q"):
            return None
        if name == "user":
            if not arg.strip():
                self._say("! Say who is speaking: /user NAME\n")
            else:
                user = speaker_name(arg)
                self._say(f"Now speaking as {user}.\n")
        elif name == "characters":
            for character in await self._characters.in_guild(CONSOLE_GUILD_ID, limit=100):
                self._say(f"- {character.name}\n")
        elif name == "new":
            created = await self._create_character()
            if created is not None:
                view = await self._open_session(created, user)
                self._say(f"Now talking with {created.name}.\n")
        elif name == "history":
            await self._show_history(view, last=50)
        elif name == "reset":
            await self._engine.sessions.reset(view.session.id, caller=OPERATOR)
            view = await self._open_session(view.character, user, fresh=True)
            self._say("The conversation starts over.\n")
        elif name in ("memory", "pin", "unpin", "prompt"):
            await self._memory_command(name, arg.strip(), view)
        elif name == "help":
            self._say(HELP + "\n")
        else:
            self._say(f"! Unknown command /{name}. Type /help for the list.\n")
        return view, user

    async def _memory_command(self, name: str, arg: str, view: SessionView) -> None:
        """Memory at the console: the operator may do everything (see bot/memory/service.py)."""
        memory = self._memory
        session = view.session.id
        if name == "prompt":
            prompt = await self._engine.replies.prompt_for(session, self._engine.replies.defaults)
            self._say(f"--- prompt ({prompt.token_count} tokens) ---\n{prompt.text}\n---\n")
            return
        if memory is None:
            self._say("! Memory is not available here.\n")
        elif name == "pin":
            pin = await memory.pin(session, arg, caller=OPERATOR)
            self._say(f"Pinned: {pin.text}\n")
        elif name == "unpin":
            if not arg.isdigit():
                self._say("! Say which fact: /unpin N (numbers from /memory)\n")
                return
            pin = await memory.unpin(session, int(arg), caller=OPERATOR)
            self._say(f"Unpinned: {pin.text}\n")
        elif arg in ("off", "on"):
            await memory.set_enabled(session, arg == "on", caller=OPERATOR)
            self._say(f"Memory is {arg}.\n")
        elif arg.startswith("edit"):
            await memory.edit(session, view.character.id, arg[4:].strip(), caller=OPERATOR)
            self._say("The summary was updated.\n")
        else:
            state = await memory.show(session)
            self._say(f"Memory is {'on' if state.enabled else 'off'}.\n")
            for summary in state.summaries:
                self._say(f"Summary: {summary.text or '(empty)'}\n")
            if not state.summaries:
                self._say("Summary: none yet (written when old lines leave the window)\n")
            for number, pin in enumerate(state.pins, 1):
                self._say(f"{number}. {pin.text}\n")

    async def _choose_character(self, name: str | None) -> Character | None:
        if name:
            try:
                return await self._characters.find(CONSOLE_GUILD_ID, name)
            except GalateaError as exc:
                self._say(f"! {exc.user_message}\n")
        existing = await self._characters.in_guild(CONSOLE_GUILD_ID, limit=100)
        if existing:
            self._say("Characters: " + ", ".join(c.name for c in existing) + "\n")
            answer = await self._ask("Pick one by name, or press Enter to create a new one: ")
            if answer is None:
                return None
            if answer.strip():
                return await self._choose_character(answer)
        return await self._create_character()

    async def _create_character(self) -> Character | None:
        self._say("Creating a character. Use {{char}} and {{user}} for names.\n")
        name = await self._ask_new_name()
        if name is None:
            return None
        fields: dict[str, str] = {"name": name}
        for key, question in (
            ("persona", "Persona (a few sentences): "),
            ("greeting", "Greeting (optional): "),
            ("scenario", "Scenario (optional): "),
        ):
            answer = await self._ask(question)
            if answer is None:
                return None
            fields[key] = answer
        try:
            return await self._characters.create(
                CONSOLE_GUILD_ID,
                0,
                CharacterDraft(
                    name=fields["name"],
                    persona=fields["persona"],
                    greeting=fields["greeting"],
                    scenario=fields["scenario"],
                ),
                caller=OPERATOR,
            )
        except GalateaError as exc:
            self._say(f"! {exc.user_message}\n")
            return await self._create_character()

    async def _ask_new_name(self) -> str | None:
        """Ask for a name until it is one a new character can have: checked as soon as it is
        typed, not after three more questions."""
        while True:
            answer = await self._ask("Name: ")
            if answer is None:
                return None
            try:
                name = clean_name(answer)
                await self._characters.find(CONSOLE_GUILD_ID, name)
            except NotFound:
                return name
            except GalateaError as exc:
                self._say(f"! {exc.user_message}\n")
                continue
            self._say(f"! There is already a character named {name}; choose another name.\n")

    async def _open_session(
        self, character: Character, user: str, *, fresh: bool = False
    ) -> SessionView:
        channel = character.id  # one console channel per character; never a Discord snowflake
        view = None if fresh else await self._engine.sessions.resume_latest(channel)
        if view is None or view.character.id != character.id:
            # The operator's own terminal: no channel rule or age restriction applies.
            place = Place(CONSOLE_GUILD_ID, channel, age_restricted=True)
            await self._engine.sessions.start(place, character.id, caller=OPERATOR, user_name=user)
            view = await self._engine.sessions.active(channel)
        assert view is not None
        return view

    async def _show_history(self, view: SessionView, *, last: int) -> None:
        for message in await self._engine.history.recent(view.session.id, limit=last):
            who = view.character.name if message.role is Role.CHARACTER else message.speaker
            self._say(f"{who}: {message.content}\n")
