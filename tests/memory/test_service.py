"""Who may change a session's memory, and what resets, edits and /forget me leave of it."""

from __future__ import annotations

import pytest

from bot.app import Core, assemble
from bot.characters.service import CharacterDraft
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.memory.prompts import PIN_LABEL, SUMMARY_LABEL
from bot.memory.summarizer import FoldRequest
from bot.policy import OPERATOR, Caller, Place
from bot.settings import Settings
from bot.store import Database
from tests.memory.chronicle_backend import ChronicleBackend

STARTER = Caller(10, "Ann")
GUEST = Caller(11, "Bo")
ADMIN = Caller(12, "Mod", is_admin=True)


async def _core(db: Database, **settings: object) -> tuple[Core, ChronicleBackend, int, int]:
    backend = ChronicleBackend(context_length=512)
    core = assemble(Settings(MODEL="x", MAX_NEW_TOKENS=40, **settings), db, backend)  # type: ignore[arg-type]
    aqua = await core.characters.create(
        1, 10, CharacterDraft(name="Aqua", persona="p"), caller=OPERATOR
    )
    session, _ = await core.engine.sessions.start(
        Place(1, 5), aqua.id, caller=Caller(STARTER.user_id, "starter")
    )
    return core, backend, session.id, aqua.id


async def _fold(core: Core, session: int, character: int, lines: list[tuple[int, str]]) -> int:
    """Members say ``lines`` ((author, text)), then everything before a last line is folded."""
    for author, text in lines:
        await core.engine.history.add_human_message(
            session, speaker=f"M{author}", content=text, author_id=author
        )
    last = await core.engine.history.add_human_message(session, speaker="Ann", content="Now.")
    core.memory.summarizer.request(FoldRequest(session, character, "Aqua", last.id, 0))
    await core.memory.summarizer.idle()
    return last.id


async def test_anyone_pins_and_only_the_pinner_or_the_starter_unpins(database: Database) -> None:
    core, backend, session, _ = await _core(database)
    await core.memory.pin(session, "  The key is   under the oak. ", caller=GUEST)
    await core.memory.pin(session, "Ann is a princess.", caller=STARTER)
    with pytest.raises(PermissionDenied):
        await core.memory.unpin(session, 2, caller=GUEST)
    with pytest.raises(NotFound):
        await core.memory.unpin(session, 3, caller=STARTER)
    with pytest.raises(InvalidInput):
        await core.memory.pin(session, "x" * 201, caller=GUEST)
    removed = await core.memory.unpin(session, 1, caller=GUEST)
    assert removed.text == "The key is under the oak."
    await core.engine.history.add_human_message(session, speaker="Bo", content="Hi.")
    await core.engine.replies.generate_reply(session)
    assert f"[{PIN_LABEL}: Ann is a princess.]" in backend.prompts[-1]
    assert "oak" not in backend.prompts[-1]
    await core.close()


async def test_editing_and_switching_off_need_session_rights(database: Database) -> None:
    core, backend, session, aqua = await _core(database)
    with pytest.raises(PermissionDenied):
        await core.memory.edit(session, aqua, "They met.", caller=GUEST)
    with pytest.raises(PermissionDenied):
        await core.memory.set_enabled(session, False, caller=GUEST)
    await core.memory.edit(session, aqua, "They met at the well.", caller=ADMIN)
    await core.memory.pin(session, "Ann is a princess.", caller=GUEST)
    await core.engine.history.add_human_message(session, speaker="Bo", content="Hi.")
    await core.engine.replies.generate_reply(session)
    assert f"[{SUMMARY_LABEL}: They met at the well.]" in backend.prompts[-1]
    await core.memory.set_enabled(session, False, caller=STARTER)
    await core.engine.replies.generate_reply(session)
    assert "They met" not in backend.prompts[-1] and "princess" not in backend.prompts[-1]
    assert not (await core.memory.show(session)).enabled
    await core.close()


async def test_reset_clears_the_summary_and_the_pins(database: Database) -> None:
    core, _, session, aqua = await _core(database)
    await _fold(core, session, aqua, [(10, "We found the RUBY.")])
    await core.memory.pin(session, "Ann is a princess.", caller=GUEST)
    assert "RUBY" in (await core.memory.show(session)).summaries[0].text
    await core.engine.sessions.reset(session, caller=STARTER)
    state = await core.memory.show(session)
    assert state.summaries == () and state.pins == ()
    await core.close()


async def test_a_changed_old_line_makes_its_summary_start_again(database: Database) -> None:
    core, _, session, aqua = await _core(database)
    await core.engine.history.add_human_message(
        session, speaker="Bo", content="The EMERALD is mine.", author_id=11, discord_message_id=77
    )
    await _fold(core, session, aqua, [(10, "And the RUBY.")])
    assert "EMERALD" in (await core.memory.show(session)).summaries[0].text
    await core.engine.history.delete_by_discord_id(77)
    summary = (await core.memory.show(session)).summaries[0]
    assert summary.text == "" and summary.covered_until == 0
    # Regenerating or deleting the latest reply never touches what was folded.
    last = await _fold(core, session, aqua, [])
    await core.engine.replies.generate_reply(session)
    await core.engine.replies.regenerate(session)
    await core.engine.replies.delete_latest_reply(session)
    summary = (await core.memory.show(session)).summaries[0]
    assert "RUBY" in summary.text and "EMERALD" not in summary.text
    assert summary.covered_until < last
    await core.close()


async def test_forget_me_erases_pins_and_summaries_holding_the_member(database: Database) -> None:
    core, _, session, aqua = await _core(database)
    await _fold(core, session, aqua, [(11, "Bo's SECRET is here.")])
    await core.memory.pin(session, "Bo likes tea.", caller=GUEST)
    await core.memory.pin(session, "Ann is a princess.", caller=STARTER)
    await core.privacy.forget(1, GUEST.user_id, caller=GUEST)
    state = await core.memory.show(session)
    assert [p.text for p in state.pins] == ["Ann is a princess."]
    assert state.summaries == ()
    await core.close()


async def test_the_export_carries_the_memory(database: Database) -> None:
    core, _, session, aqua = await _core(database)
    await core.memory.edit(session, aqua, "They met at the well.", caller=OPERATOR)
    await core.memory.pin(session, "Ann is a princess.", caller=GUEST)
    text, data = await core.engine.history.export(session)
    assert "Memory of Aqua: They met at the well." in text
    assert "Pinned: Ann is a princess." in text
    assert '"pins": [\n' in data and "They met at the well." in data
    await core.close()


async def test_with_memory_off_on_the_bot_nothing_is_added_or_changed(database: Database) -> None:
    core, backend, session, _ = await _core(database, MEMORY=False)
    with pytest.raises(InvalidInput):
        await core.memory.pin(session, "x", caller=STARTER)
    await core.engine.history.add_human_message(session, speaker="Ann", content="Hello.")
    await core.engine.replies.generate_reply(session)
    assert "[Earlier" not in backend.prompts[-1] and backend.summaries == []
    await core.close()
