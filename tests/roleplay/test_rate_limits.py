"""Reply limits per channel and per member: past them, messages join the story but ask for no
reply, and the first message held in a minute says so (later ones stay quiet)."""

from __future__ import annotations

import asyncio

from bot.guilds.config import GuildConfigService
from bot.policy import ChannelReplyLimit, ReplyLimit, UserReplyLimit
from bot.roleplay.channel import ChannelRoleplay, IncomingMessage, Outcome
from bot.roleplay.engine import SessionEngine, SessionView
from bot.store import Database
from tests.roleplay.test_channel import PLACE, Presenter, setup
from tests.support.recording_backend import RecordingBackend


def test_the_limit_counts_per_channel_in_a_sliding_minute() -> None:
    now = [0.0]
    limit = ChannelReplyLimit(2, clock=lambda: now[0])
    assert limit.allow(1) and limit.allow(1)
    assert not limit.allow(1)
    assert limit.allow(2)  # another channel has its own count
    now[0] = 59.9
    assert not limit.allow(1)
    now[0] = 60.0
    assert limit.allow(1)
    assert ChannelReplyLimit(0).allow(1)  # 0: no limit


def test_a_member_limit_counts_each_member_of_each_server_apart() -> None:
    now = [0.0]
    limit = UserReplyLimit(1, clock=lambda: now[0])
    assert limit.allow((1, 7))
    assert limit.full((1, 7)) and not limit.allow((1, 7))
    assert limit.allow((1, 8))  # another member
    assert limit.allow((2, 7))  # the same person on another server
    now[0] = 60.0
    assert not limit.full((1, 7))
    assert not UserReplyLimit(0).full((1, 7))


def test_full_counts_nothing_and_count_uses_a_place() -> None:
    limit = ReplyLimit(2, clock=lambda: 0.0)
    for _ in range(5):
        assert not limit.full("k")  # asking does not use the limit up
    limit.count("k")
    limit.count("k")
    assert limit.full("k")


def test_a_hold_is_told_once_a_minute() -> None:
    now = [0.0]
    limit = ChannelReplyLimit(1, clock=lambda: now[0])
    assert limit.first_hold(1)
    now[0] = 30.0
    assert not limit.first_hold(1)
    assert limit.first_hold(2)  # each key is told on its own
    now[0] = 60.0
    assert limit.first_hold(1)


def test_keys_idle_for_a_minute_are_forgotten_past_the_bound() -> None:
    now = [0.0]
    limit = UserReplyLimit(1, clock=lambda: now[0])
    limit.MAX_KEYS = 3
    for user in range(3):
        limit.count((1, user))
    now[0] = 61.0
    limit.count((1, 99))  # a fourth key: the idle three go
    assert set(limit._recent) == {(1, 99)}
    now[0] = 62.0
    limit.count((1, 100))
    assert limit.full((1, 99))  # keys still counting are kept


def test_notes_say_the_figure_and_that_messages_are_kept() -> None:
    assert "3 replies a minute" in ChannelReplyLimit(3).note("Aqua")
    assert ChannelReplyLimit(1).note("Aqua").startswith("Aqua needs a moment")
    assert "one reply a minute" in UserReplyLimit(1).note("Aqua")
    for note in (ChannelReplyLimit(2).note("Aqua"), UserReplyLimit(2).note("Aqua")):
        assert "kept" in note and "@" not in note


def _incoming(index: int, author: int, text: str | None = None) -> IncomingMessage:
    return IncomingMessage(
        place=PLACE,
        message_id=index + 1,
        author_id=author,
        author_name=f"P{author}",
        content=text or f"Message {index}",
    )


async def _humans(engine: SessionEngine) -> list[str]:
    view = await engine.sessions.active(PLACE.channel_id)
    assert view is not None
    return [m.content for m in await engine.history.recent(view.session.id) if m.author_id]


async def _replies_with(
    database: Database,
    backend: RecordingBackend,
    *,
    channel: ChannelReplyLimit | None = None,
    user: UserReplyLimit | None = None,
) -> tuple[ChannelRoleplay, SessionEngine]:
    _, engine, _ = await setup(database, backend)
    presenter = Presenter()

    def factory(view: SessionView) -> Presenter:
        return presenter

    config = GuildConfigService(database)
    roleplay = ChannelRoleplay(engine, config, factory, channel_limit=channel, user_limit=user)
    return roleplay, engine


async def test_messages_past_the_channel_limit_are_recorded_and_the_first_says_so(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    now = [0.0]
    replies, engine = await _replies_with(
        database, backend, channel=ChannelReplyLimit(2, clock=lambda: now[0])
    )
    outcomes = []
    for index, author in enumerate((7, 8, 9, 7)):
        outcomes.append(await replies.handle(_incoming(index, author)))
        await asyncio.wait_for(replies.idle(), 5)
    assert outcomes == [
        Outcome.REPLY_SCHEDULED,
        Outcome.REPLY_SCHEDULED,
        Outcome.CHANNEL_AT_LIMIT,  # the first held: the channel is told
        Outcome.RECORDED,  # then quiet for the rest of the minute
    ]
    assert len(backend.calls) == 2
    assert await _humans(engine) == [f"Message {i}" for i in range(4)]  # all kept

    now[0] = 61.0  # a minute later the channel may ask again
    assert await replies.handle(_incoming(9, 7, "Hi")) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(replies.idle(), 5)


async def test_a_member_past_their_limit_is_held_without_using_the_channels_replies(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    now = [0.0]
    replies, engine = await _replies_with(
        database,
        backend,
        channel=ChannelReplyLimit(3, clock=lambda: now[0]),
        user=UserReplyLimit(1, clock=lambda: now[0]),
    )
    outcomes = []
    for index, author in enumerate((7, 7, 7, 8, 9)):
        outcomes.append(await replies.handle(_incoming(index, author)))
        await asyncio.wait_for(replies.idle(), 5)
    assert outcomes == [
        Outcome.REPLY_SCHEDULED,
        Outcome.USER_AT_LIMIT,  # told once
        Outcome.RECORDED,
        # Member 7's held messages did not count against the channel's three.
        Outcome.REPLY_SCHEDULED,
        Outcome.REPLY_SCHEDULED,
    ]
    assert len(backend.calls) == 3
    assert await _humans(engine) == [f"Message {i}" for i in range(5)]

    now[0] = 60.0
    assert await replies.handle(_incoming(7, 7, "Back.")) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(replies.idle(), 5)
