"""Issue 21's target: a 500-turn scripted chat still knows turn 10's names and facts.

Through the public core (``assemble``) on a real SQLite file, with a context small enough that
the window trims every few turns: the pinned fact is in every prompt from its pin on, the
running summary carries what the trimmed lines shouted, a line from turn 10 comes back when
the current message mentions it, and no prompt ever exceeds the context.
"""

from __future__ import annotations

from bot.app import assemble
from bot.characters.service import CharacterDraft
from bot.memory.prompts import PIN_LABEL, RECALL_LABEL, SUMMARY_LABEL
from bot.policy import OPERATOR, Caller, Place
from bot.settings import Settings
from bot.store import Database
from tests.memory.chronicle_backend import ChronicleBackend

TURNS = 500
FILLER = "We walk on through the hills, talking about the weather and the road ahead."


async def test_five_hundred_turns_keep_turn_ten_in_the_prompt(sqlite_database: Database) -> None:
    backend = ChronicleBackend(context_length=512)
    core = assemble(
        Settings(MODEL="x", MAX_NEW_TOKENS=40, HISTORY_MESSAGES=60), sqlite_database, backend
    )
    aqua = await core.characters.create(
        1, 10, CharacterDraft(name="Aqua", persona="A goddess."), caller=OPERATOR
    )
    session, _ = await core.engine.sessions.start(
        Place(1, 500), aqua.id, caller=Caller(10, "starter"), user_name="Ann"
    )
    for turn in range(1, TURNS + 1):
        if turn == 10:
            text = "Listen: BRAMBLE the smith hid the brass lantern under the old mill wheel."
            await core.memory.pin(session.id, "Ann is Aqua's sworn sister.", caller=OPERATOR)
        elif turn == TURNS:
            text = "Do you remember where the brass lantern is?"
        else:
            text = f"{FILLER} (turn {turn})"
        await core.engine.history.add_human_message(
            session.id, speaker="Ann", content=text, author_id=10
        )
        await core.engine.replies.generate_reply(session.id)
        if turn % 25 == 0:
            await core.memory.summarizer.idle()  # let the background catch up now and then
    last = backend.prompts[-1]

    assert "\nAnn: Listen: BRAMBLE" not in last, "turn 10 is long out of the window"
    assert f"[{PIN_LABEL}: Ann is Aqua's sworn sister.]" in last
    assert f"[{SUMMARY_LABEL}: " in last and "BRAMBLE" in last.split("<START>")[0]
    assert (
        "Ann: Do you remember where the brass lantern is?\n"
        f"[{RECALL_LABEL}, Ann: Listen: BRAMBLE the smith hid the brass lantern under the old "
        "mill wheel.]\nAqua:"
    ) in last
    # Every prompt fits: the renderer's count of each stays within the context.
    tokens = [await backend.count_tokens(p) for p in backend.prompts]
    assert max(tokens) + 40 <= backend.context_length
    assert all(f"[{PIN_LABEL}:" in p for p in backend.prompts[10:])
    assert core.memory.summarizer.folded >= 10
    await core.close()
