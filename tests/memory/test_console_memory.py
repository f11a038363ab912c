"""The console chat remembers like a Discord channel: a long chat on the tiny model."""

from __future__ import annotations

from bot.app import assemble
from bot.console import ConsoleChat
from bot.inference.ctransformers_backend import CTransformersBackend
from bot.settings import Settings
from bot.store import Database
from tests.test_console import Script

FILLER = "We walk on through the hills and talk about the weather, turn {}."


def long_chat(turns: int) -> list[str]:
    return [
        "Aqua",
        "A cheerful water goddess.",
        "Hello {{user}}!",
        "A road through the hills.",
        "Bramble the smith hid the brass lantern under the old mill wheel.",
        "/pin Ann is Aqua's sworn sister.",
        *(FILLER.format(i) for i in range(turns)),
        "Do you remember where the brass lantern is?",
        "/memory",
        "/prompt",
        "/quit",
    ]


async def test_a_long_console_chat_recalls_a_pinned_fact_and_an_old_line(
    sqlite_database: Database, tiny_backend: CTransformersBackend
) -> None:
    settings = Settings(MODEL="tiny", MAX_NEW_TOKENS=16, TEMPERATURE=0.0, TOP_K=1)
    core = assemble(settings, sqlite_database, tiny_backend)
    script = Script(long_chat(30))
    code = await ConsoleChat(
        core.engine, core.characters, memory=core.memory, ask=script.ask, say=script.say
    ).run(character_name=None, user="Ann")
    assert code == 0
    prompt = script.transcript.split("--- prompt")[1]
    assert "\nAnn: Bramble" not in prompt, "the first line is long out of the window"
    assert "[Remember: Ann is Aqua's sworn sister.]" in prompt
    assert "[Earlier, Ann: Bramble the smith hid the brass lantern under the old mill wheel.]" in (
        prompt
    )
    assert "Pinned: Ann is Aqua's sworn sister." in script.transcript
    assert "1. Ann is Aqua's sworn sister." in script.transcript
    await core.close()
