"""A channel message taken into the story: one unit of work per message.

The unit reads the channel's session, renews the channel's lease, reads the server's settings
and the author's persona (each when not in memory), stores the line and looks up the message
it replies to, so one message sees one consistent state and takes the write lock once. Only a
channel not yet known to have a roleplay costs a read first (without the write lock: most
channels have none).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from bot.common.memo import LruCache
from bot.errors import PermissionDenied
from bot.guilds.config import GuildConfigService
from bot.members.personas import PersonaService
from bot.policy import Place, check_channel_allowed
from bot.roleplay.context import cast_of
from bot.roleplay.history import HistoryService, add_human_line
from bot.roleplay.lease import ChannelLeases
from bot.roleplay.sessions import SessionView, view_of
from bot.store import Database, UnitOfWork
from bot.store.messages import MessageAlreadyStored
from bot.store.text import storable
from bot.values import GuildSettings, Role, StoredMessage

CHANNELS_REMEMBERED = 50_000
MAX_MESSAGE_CHARS = 8_000  # longer than any Discord message; anything past it is cut


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message in a channel, described without Discord types."""

    place: Place
    message_id: int
    author_id: int
    author_name: str  # the server display name
    content: str
    from_bot: bool = False
    from_webhook: bool = False
    is_system: bool = False
    mentions_bot: bool = False
    replies_to_character: bool = False
    replied_character_id: int | None = None  # which character's message it replies to
    reply_to_message_id: int | None = None  # the Discord message this one replies to


class Outcome(StrEnum):
    NO_SESSION = "no session"
    IGNORED = "ignored"  # bots, webhooks, system messages, empty text
    OUT_OF_CHARACTER = "out of character"
    NOT_ALLOWED = "not allowed here"
    RECORDED = "recorded"  # joins the history, no reply asked for
    PAUSED = "paused"  # joins the history; the scene is paused
    REPLY_SCHEDULED = "reply scheduled"
    # Recorded, no reply: a reply limit holds it. Returned for the first hold in a minute (say
    # so: the limit's ``note``); later holds in that minute are RECORDED, so nothing spams.
    CHANNEL_AT_LIMIT = "channel at its reply limit"
    USER_AT_LIMIT = "member at their reply limit"
    OTHER_PROCESS = "another process answers this channel"  # see bot/roleplay/lease.py
    # Storage failed (after bounded retries): the message is not in the history. The first
    # such outcome in a channel within STORAGE_NOTE_EVERY is NOT_STORED (tell the channel:
    # ``NOT_STORED_NOTE``); the others are NOT_STORED_QUIET, so an outage does not spam.
    NOT_STORED = "not stored: storage unavailable"
    NOT_STORED_QUIET = "not stored: storage unavailable, channel already told"


NOT_STORED_NOTE = (
    "I can't save messages right now (a storage problem on my side), so what was just said "
    "here is not part of the story. Please send it again in a minute."
)


@dataclass(frozen=True, slots=True)
class Taken:
    """A message that joined the story (or was already in it), with what its unit read."""

    view: SessionView
    config: GuildSettings
    message: IncomingMessage  # with the character it replies to, when the store knows it
    stored: StoredMessage | None  # None: another process stored it first
    answers: bool  # this process answers the channel


def story_text(message: IncomingMessage) -> str | None:
    """The text that would join the story; None for what never does (bots, webhooks, system
    messages, empty text: a text of only NUL bytes is empty)."""
    if message.from_bot or message.from_webhook or message.is_system:
        return None
    return storable(message.content).strip() or None


def is_out_of_character(content: str, prefix: str) -> bool:
    text = content.strip()
    if prefix and text.startswith(prefix):
        return True
    return text.startswith("((") and text.endswith("))")


def refusal(content: str, config: GuildSettings, place: Place) -> Outcome | None:
    """Why a message stays out of the story in a channel with a roleplay (None: it joins)."""
    if is_out_of_character(content, config.ooc_prefix):
        return Outcome.OUT_OF_CHARACTER
    try:
        check_channel_allowed(config, place)
    except PermissionDenied:
        return Outcome.NOT_ALLOWED
    return None


class Intake:
    def __init__(
        self,
        database: Database,
        history: HistoryService,
        config: GuildConfigService,
        personas: PersonaService | None,
        leases: ChannelLeases | None,
    ) -> None:
        self._db = database
        self._history = history
        self._config = config
        self._personas = personas
        self._leases = leases
        # Channels where a roleplay was found: their messages open the write unit at once.
        self._roleplays: LruCache[int, bool] = LruCache(CHANNELS_REMEMBERED)

    async def take(self, message: IncomingMessage, content: str) -> Taken | Outcome:
        channel = message.place.channel_id
        if channel not in self._roleplays:
            async with self._db.read() as uow:
                if await uow.scenes.active_in_channel(channel) is None:
                    return Outcome.NO_SESSION
            self._roleplays[channel] = True
        try:
            async with self._db.write() as uow:
                taken = await self._take_in(uow, message, content)
        except BaseException as error:
            if self._leases is not None:
                self._leases.forget(channel)  # a lease renewed in the unit was not kept
            if isinstance(error, MessageAlreadyStored):
                return Outcome.OTHER_PROCESS  # stored by a writer that skipped the write lock
            raise
        if isinstance(taken, Taken) and taken.stored is not None:
            self._history.stored(taken.stored)
        return taken

    async def _take_in(
        self, uow: UnitOfWork, message: IncomingMessage, content: str
    ) -> Taken | Outcome:
        place = message.place
        scene = await uow.scenes.active_in_channel(place.channel_id)
        if scene is None:
            self._roleplays.pop(place.channel_id, None)
            return Outcome.NO_SESSION
        cast = await cast_of(uow, scene)
        view = await view_of(uow, scene.session, count_messages=False, cast=cast)
        # Only channels with a roleplay are leased (no write for any other channel).
        answers = self._leases is None or await self._leases.claim(place.channel_id, uow)
        config = await self._config.get(place.guild_id, uow=uow)
        refused = refusal(content, config, place)
        if refused is not None:
            return refused
        stored = await self._store(uow, view, message, content)
        # Stored by another copy of the bot: without leases that copy answers too; with them,
        # the lease holder answers. The message is in the history either way.
        answers = answers and (stored is not None or self._leases is not None)
        if answers:
            message = await self._with_replied(uow, message, view)
        return Taken(view, config, message, stored, answers)

    async def _store(
        self, uow: UnitOfWork, view: SessionView, message: IncomingMessage, content: str
    ) -> StoredMessage | None:
        """The member's line, signed with their persona's name; None when it is stored already
        (under the write lock, nobody else stores it meanwhile)."""
        known = await uow.messages.by_discord_id(message.message_id)
        if known is not None and known.session_id == view.session.id and known.role is Role.HUMAN:
            return None
        speaker = message.author_name
        if self._personas is not None:
            speaker = await self._personas.speaker_name(
                message.place.guild_id, message.author_id, message.author_name, uow=uow
            )
        return await add_human_line(
            uow,
            view.session.id,
            speaker=speaker,
            content=content[:MAX_MESSAGE_CHARS],
            author_id=message.author_id,
            discord_message_id=message.message_id,
        )

    @staticmethod
    async def _with_replied(
        uow: UnitOfWork, message: IncomingMessage, view: SessionView
    ) -> IncomingMessage:
        """A reply to a character's message the front end could not name: the store knows."""
        if message.reply_to_message_id is None or message.replied_character_id is not None:
            return message
        replied = await uow.messages.by_discord_id(message.reply_to_message_id)
        if replied is None or replied.role is not Role.CHARACTER:
            return message
        return replace(
            message,
            replies_to_character=True,
            replied_character_id=replied.character_id or view.session.character_id,
        )
