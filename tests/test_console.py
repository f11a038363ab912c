"""The console chat on the real tiny model: two speakers, stored history, resumable."""

from __future__ import annotations

from collections.abc import Iterator

from bot.app import assemble
from bot.console import ConsoleChat
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.settings import Settings
from bot.store import Database


class Script:
    """Feeds scripted lines to the console and records everything it prints."""

    def __init__(self, lines: list[str]) -> None:
        self._lines: Iterator[str] = iter(lines)
        self.output: list[str] = []

    async def ask(self, prompt: str) -> str | None:
        self.output.append(prompt)
        line = next(self._lines, None)
        if line is not None:
            self.output.append(line + "\n")
        return line

    def say(self, text: str) -> None:
        self.output.append(text)

    @property
    def transcript(self) -> str:
        return "".join(self.output)


async def test_console_chat_with_two_users_is_stored_and_resumable(
    database: Database, tiny_backend: CTransformersBackend
) -> None:
    settings = Settings(MODEL="tiny", MAX_NEW_TOKENS=16, TEMPERATURE=0.0, TOP_K=1)
    core = assemble(settings, database, tiny_backend)
    first = Script(
        [
            "Aqua",
            "A cheerful water goddess.",
            "Hello {{user}}!",
            "",
            "Hi Aqua, I'm Alice.",
            "/user Bob",
            "And I'm Bob.",
            "/quit",
        ]
    )
    code = await ConsoleChat(core.engine, core.characters, ask=first.ask, say=first.say).run(
        character_name=None, user="Alice"
    )
    assert code == 0
    assert "Aqua: Hello Alice!" in first.transcript
    assert "Now speaking as Bob." in first.transcript
    assert first.transcript.count("\nAqua: ") >= 2  # two replies streamed

    second = Script(["/history", "/quit"])
    await ConsoleChat(core.engine, core.characters, ask=second.ask, say=second.say).run(
        character_name="aqua", user="Carol"
    )
    assert "Alice: Hi Aqua, I'm Alice." in second.transcript
    assert "Bob: And I'm Bob." in second.transcript


async def test_console_explains_bad_input_and_carries_on(
    database: Database, tiny_backend: CTransformersBackend
) -> None:
    core = assemble(Settings(MODEL="tiny"), database, tiny_backend)
    script = Script(["Bad:Name", "Good", "p", "", "", "/user", "/nonsense", "/help", "/quit"])
    await ConsoleChat(core.engine, core.characters, ask=script.ask, say=script.say).run(
        character_name=None, user="Al"
    )
    # The name is checked as soon as it is typed: the next question is the name again.
    assert "Name: Bad:Name\n! Character names cannot contain" in script.transcript
    assert "backticks.\nName: Good\nPersona" in script.transcript
    assert "! Say who is speaking" in script.transcript
    assert "! Unknown command /nonsense. Type /help for the list." in script.transcript
    assert script.transcript.count("Commands:") == 1  # only /help shows the list


async def test_a_taken_name_is_refused_before_the_other_questions(
    database: Database, tiny_backend: CTransformersBackend
) -> None:
    core = assemble(Settings(MODEL="tiny"), database, tiny_backend)
    first = Script(["Aqua", "A goddess.", "", "", "/quit"])
    await ConsoleChat(core.engine, core.characters, ask=first.ask, say=first.say).run(
        character_name=None, user="Al"
    )
    second = Script(["", "aqua", "Darkness", "A knight.", "", "", "/quit"])
    await ConsoleChat(core.engine, core.characters, ask=second.ask, say=second.say).run(
        character_name=None, user="Al"
    )
    assert "Name: aqua\n! There is already a character named aqua" in second.transcript
    assert "Name: Darkness\nPersona" in second.transcript
    assert "Talking with Darkness as Al." in second.transcript
