"""The console chat says so when storage fails (a real write lock), and carries on after."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.app import assemble
from bot.characters.service import CONSOLE_GUILD_ID, CharacterDraft
from bot.console import ConsoleChat
from bot.policy import OPERATOR
from bot.settings import Settings
from bot.store import Database, sqlite_driver
from tests.support.recording_backend import RecordingBackend


async def test_a_locked_database_is_one_line_at_the_console_not_a_traceback(
    sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_SECONDS", 0.2)
    core = assemble(Settings(MODEL="tiny"), sqlite_database, RecordingBackend(replies=["Hi."]))
    aqua = await core.characters.create(
        CONSOLE_GUILD_ID, 0, CharacterDraft(name="Aqua", persona="p"), caller=OPERATOR
    )
    other = sqlite3.connect(tmp_path / "galatea.db", isolation_level=None)
    output: list[str] = []
    lines = iter(["Locked out.", "/reset", "unlock", "Back again.", "/quit"])

    async def ask(prompt: str) -> str | None:
        line = next(lines, None)
        if line == "Locked out.":
            other.execute("BEGIN IMMEDIATE")  # another process writing, for longer than the wait
        if line == "unlock":
            other.execute("ROLLBACK")
            return "/history"
        return line

    try:
        code = await ConsoleChat(core.engine, core.characters, ask=ask, say=output.append).run(
            character_name="Aqua", user="Ann"
        )
    finally:
        other.close()
    transcript = "".join(output)
    assert code == 0
    storage_line = (
        "! I can't reach my storage right now, so that wasn't saved. Please try again in a "
        "minute. (the database is locked by another connection (waited the busy timeout))\n"
    )
    assert transcript.count(storage_line) == 2  # the message, then /reset
    assert "Traceback" not in transcript
    view = await core.engine.sessions.active(aqua.id)  # the console's channel is the character's id
    assert view is not None
    assert [m.content for m in await core.engine.history.recent(view.session.id)] == [
        "Back again.",
        "Hi.",
    ]
