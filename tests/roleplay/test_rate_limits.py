"""Per-channel reply limit: past it, messages join the story but ask for no reply."""

from __future__ import annotations

import asyncio

from bot.guild_config import GuildConfigService
from bot.policy import ChannelReplyLimit
from bot.roleplay.channel import ChannelRoleplay, IncomingMessage, Outcome
from bot.roleplay.engine import SessionView
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


async def test_messages_past_the_channel_limit_are_recorded_without_a_reply(
    database: Database,
) -> None:
    backend = RecordingBackend(replies=["Answer."])
    _, engine, _ = await setup(database, backend)
    presenter = Presenter()
    now = [0.0]

    def factory(view: SessionView) -> Presenter:
        return presenter

    replies = ChannelRoleplay(
        engine,
        GuildConfigService(database),
        factory,
        channel_limit=ChannelReplyLimit(2, clock=lambda: now[0]),
    )
    outcomes = []
    for index, author in enumerate((7, 8, 9, 7)):
        text = f"Message {index}"
        incoming = IncomingMessage(
            place=PLACE, message_id=index + 1, author_id=author, author_name="P", content=text
        )
        outcomes.append(await replies.handle(incoming))
        await asyncio.wait_for(replies.idle(), 5)
    assert outcomes == [
        Outcome.REPLY_SCHEDULED,
        Outcome.REPLY_SCHEDULED,
        Outcome.RECORDED,
        Outcome.RECORDED,
    ]
    assert len(backend.calls) == 2
    view = await engine.active(PLACE.channel_id)
    assert view is not None
    humans = [m.content for m in await engine.history(view.session.id) if m.author_id]
    assert humans == [f"Message {i}" for i in range(4)]  # all kept in the story

    now[0] = 61.0  # a minute later the channel may ask again
    late = IncomingMessage(place=PLACE, message_id=9, author_id=7, author_name="P", content="Hi")
    assert await replies.handle(late) is Outcome.REPLY_SCHEDULED
    await asyncio.wait_for(replies.idle(), 5)
