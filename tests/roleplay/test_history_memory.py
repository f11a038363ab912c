"""A session's history is kept in memory between prompts, and never goes stale.

The database moves a session's ``history_revision`` on every change to its messages (triggers,
migration b3c1e0a7d2f4); the prompt builder re-reads only when that moved by more than this
process's own stored lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

from sqlalchemy import event, insert, text

from bot.policy import OPERATOR, Caller, Place
from bot.store import Database
from bot.store.models import MessageRow
from bot.values import Role
from tests.roleplay.test_engine import PARAMS, make_engine, start
from tests.support.recording_backend import RecordingBackend


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def reads_messages(seen: list[str]) -> bool:
    return any(s.startswith("SELECT") and "FROM messages" in s for s in seen)


async def revision(db: Database, session_id: int) -> int:
    async with db.read() as uow:
        session = await uow.sessions.get(session_id)
    assert session is not None
    return session.history_revision


async def test_every_change_to_a_sessions_messages_moves_its_revision_and_no_other(
    database: Database,
) -> None:
    engine = make_engine(database, RecordingBackend(replies=["Hi."]))
    first = await start(engine, database, 500)
    async with database.read() as uow:
        character_id = (await uow.sessions.get(first)).character_id  # type: ignore[union-attr]
    second_session, _ = await engine.sessions.start(
        Place(1, 501), character_id, caller=Caller(10, "member")
    )
    second = second_session.id
    other_before = await revision(database, second)
    steps = []
    message = await engine.history.add_human_message(
        first, speaker="Alice", content="One.", author_id=1
    )
    steps.append(await revision(database, first))
    await engine.history.attach_discord_id(message.id, 99)
    steps.append(await revision(database, first))
    await engine.history.edit_by_discord_id(99, "One, edited.")
    steps.append(await revision(database, first))
    await engine.history.delete_by_discord_id(99)
    steps.append(await revision(database, first))
    await engine.sessions.reset(first, caller=OPERATOR)  # deletes the rows
    steps.append(await revision(database, first))
    assert all(later > earlier for earlier, later in pairwise(steps))
    assert await revision(database, second) == other_before


async def test_turns_read_no_history_while_nobody_else_writes(database: Database) -> None:
    engine = make_engine(database, RecordingBackend(replies=["Hello.", "Yes.", "Sure."]))
    session = await start(engine, database)
    # The first two prompts read: the window's start is fixed by the first one.
    for speaker, line in (("Alice", "Hi!"), ("Bob", "Hey.")):
        await engine.history.add_human_message(session, speaker=speaker, content=line, author_id=1)
        await engine.replies.generate_reply(session, params=PARAMS)
    with statements(database) as seen:
        await engine.history.add_human_message(
            session, speaker="Carol", content="Hello?", author_id=3
        )
        await engine.replies.generate_reply(session, params=PARAMS)
    assert not reads_messages(seen)
    history = await engine.history.recent(session)
    assert [m.content for m in history][-6:] == ["Hi!", "Hello.", "Hey.", "Yes.", "Hello?", "Sure."]


async def test_lines_another_process_wrote_or_changed_reach_the_next_prompt(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Hello.", "Yes.", "Sure."])
    engine = make_engine(database, backend)
    session = await start(engine, database)
    await engine.history.add_human_message(session, speaker="Alice", content="Hi!", author_id=1)
    await engine.replies.generate_reply(session, params=PARAMS)
    await engine.history.add_human_message(session, speaker="Bob", content="Hey.", author_id=2)
    reply = await engine.replies.generate_reply(session, params=PARAMS)  # from memory from now on
    # Another shard stores a member's line, and a moderator's fix edits the reply, behind
    # this process's back (plain SQL: nothing here hears of it).
    async with database.write() as uow:
        await uow.session.execute(
            insert(MessageRow).values(
                session_id=session, role=Role.HUMAN.value, speaker="Carol", content="I'm here too."
            )
        )
        await uow.session.execute(
            text("UPDATE messages SET content = 'Hello, friends.' WHERE id = :id"),
            {"id": reply.message.id},
        )
    await engine.history.add_human_message(
        session, speaker="Alice", content="Welcome, Carol.", author_id=1
    )
    await engine.replies.generate_reply(session, params=PARAMS)
    prompt = backend.prompts[-1]
    assert "Carol: I'm here too." in prompt
    assert "Aqua: Hello, friends." in prompt and "Aqua: Yes." not in prompt
    assert prompt.index("Carol: I'm here too.") < prompt.index("Alice: Welcome, Carol.")
