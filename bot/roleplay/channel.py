"""Channel roleplay: which messages join the story, which characters answer, and how bursts
of messages become one reply per character.

The Discord cog turns each Discord message into an ``IncomingMessage`` and supplies a
``ReplyPresenter`` that shows the reply; everything else is decided here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from bot.common.keyed_locks import KeyedLocks
from bot.common.memo import LruCache
from bot.errors import GalateaError, StorageUnavailable
from bot.guilds.config import GuildConfigService
from bot.members.personas import PersonaService
from bot.policy import ChannelReplyLimit, Cooldowns, Place, UserReplyLimit, check_nsfw_allowed
from bot.roleplay.engine import SessionEngine, SessionView
from bot.roleplay.intake import (
    NOT_STORED_NOTE,
    IncomingMessage,
    Intake,
    Outcome,
    is_out_of_character,
    story_text,
)
from bot.roleplay.lease import ChannelLeases
from bot.roleplay.speakers import Candidate, choose_speakers
from bot.values import CastMember, Character, GuildSettings, StoredMessage

__all__ = [
    "NOT_STORED_NOTE",
    "ChannelRoleplay",
    "IncomingMessage",
    "Outcome",
    "ReplyPresenter",
    "is_out_of_character",
]

log = logging.getLogger(__name__)

ANSWERS_REMEMBERED = 50_000  # (channel, character) pairs: channels come and go
STORAGE_NOTE_EVERY = 60.0  # seconds between two storage notes in one channel
# Waits before trying a message again after a storage fault; none while an outage is known
# (the first message found it), so a long outage does not hold every channel's messages.
STORAGE_RETRY_DELAYS = (0.5, 2.0)


class ReplyPresenter(Protocol):
    """Shows one reply in a channel as it is generated."""

    async def start(self) -> None:
        """The reply is being generated (show typing)."""
        ...

    async def queued(self, position: int) -> None:
        """The model is busy: this reply waits, ``position`` in line."""
        ...

    async def update(self, text: str) -> None:
        """The cleaned reply so far."""
        ...

    def shown_id(self) -> int | None:
        """The id of the message showing the reply so far (None until one is posted): stored
        with the reply, so that the usual case needs no second write."""
        ...

    async def finish(self, message: StoredMessage) -> int | None:
        """The final reply; returns the id of the message that shows it."""
        ...

    async def fail(self, user_message: str) -> None:
        """Tell the channel, briefly, that no reply came and why."""
        ...


# Called with the session's view whose ``character`` is the one about to speak.
PresenterFactory = Callable[[SessionView], ReplyPresenter]


def _no_front_end(view: SessionView) -> ReplyPresenter:
    raise RuntimeError("No front end shows replies yet (call ChannelRoleplay.present_with)")


class ChannelRoleplay:
    def __init__(
        self,
        engine: SessionEngine,
        config: GuildConfigService,
        presenter_factory: PresenterFactory | None = None,
        *,
        personas: PersonaService | None = None,
        rng: random.Random | None = None,
        channel_limit: ChannelReplyLimit | None = None,
        user_limit: UserReplyLimit | None = None,
        leases: ChannelLeases | None = None,
    ) -> None:
        self._engine = engine
        self._intake = Intake(engine.database, engine.history, config, personas, leases)
        self._presenter_factory = presenter_factory or _no_front_end
        self._rng = rng or random.Random()
        self._cooldowns = Cooldowns()
        self._channel_limit = channel_limit or ChannelReplyLimit(0)
        self._user_limit = user_limit or UserReplyLimit(0)
        # Characters asked to speak next in each channel, in order (each at most once).
        # Per channel, the characters asked to speak next, in order, each with the newest
        # message it must answer (None: answer whatever is there).
        self._pending: dict[int, dict[int, int | None]] = {}
        # Per (channel, character), the newest message its last reply's prompt held: a request
        # for a message that reply already covered is dropped, not answered twice.
        self._answered: LruCache[tuple[int, int], int] = LruCache(ANSWERS_REMEMBERED)
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._intake_locks: KeyedLocks[int] = KeyedLocks()  # per channel, only while in use
        self._storage_down = False  # the last message could not be stored
        self._storage_told: LruCache[int, float] = LruCache(ANSWERS_REMEMBERED)

    def present_with(self, presenter_factory: PresenterFactory) -> None:
        """Show replies through this front end (the Discord cog attaches itself at load; the
        runtime is built with the other services, before any front end exists)."""
        self._presenter_factory = presenter_factory

    @property
    def channel_limit(self) -> ChannelReplyLimit:
        return self._channel_limit

    @property
    def user_limit(self) -> UserReplyLimit:
        return self._user_limit

    async def handle(self, message: IncomingMessage) -> Outcome:
        """Take one message: record it when it belongs to the story, schedule a reply.

        Front ends dispatch each message as its own task; taking the channel's intake lock
        before anything else keeps the stored history in the order people wrote it. Call this
        before awaiting anything else for the message.
        """
        async with self._intake_locks.hold(message.place.channel_id):
            return await self._take_or_retry(message)

    async def _take_or_retry(self, message: IncomingMessage) -> Outcome:
        """``_take``, tried again after a storage fault (bounded); NOT_STORED if it still
        fails. Storing is idempotent (one Discord message is stored once), so a retry after a
        commit that did happen only finds it stored."""
        delays = () if self._storage_down else STORAGE_RETRY_DELAYS
        for attempt in range(len(delays) + 1):
            try:
                outcome = await self._take(message)
            except StorageUnavailable:
                # The store logged the cause (once per outage, bot/store/faults.py).
                if attempt == len(delays):
                    break
                await asyncio.sleep(delays[attempt])
                continue
            self._storage_down = False
            return outcome
        self._storage_down = True
        channel, now = message.place.channel_id, asyncio.get_running_loop().time()
        told = self._storage_told.get(channel)
        if told is not None and now - told < STORAGE_NOTE_EVERY:
            return Outcome.NOT_STORED_QUIET
        self._storage_told[channel] = now
        return Outcome.NOT_STORED

    async def _take(self, message: IncomingMessage) -> Outcome:
        """Store the message when it belongs to the story (one unit of work, see
        bot/roleplay/intake.py), then decide whether it draws replies."""
        content = story_text(message)
        if content is None:
            return Outcome.IGNORED
        taken = await self._intake.take(message, content)
        if isinstance(taken, Outcome):
            return taken
        if not taken.answers:
            # Another process holds the channel (a rolling deploy, or one that died and whose
            # lease has not run out yet): the message is kept, that process answers.
            return Outcome.OTHER_PROCESS
        if taken.view.session.paused:
            return Outcome.PAUSED
        speakers = self.speakers_for(taken.message, taken.view, taken.config)
        held = self._held(taken.message, taken.config, speakers)
        if held is not None:
            return held
        stored_id = taken.stored.id if taken.stored is not None else None
        self.schedule(taken.view, message.place, taken.config, speakers, answering=stored_id)
        return Outcome.REPLY_SCHEDULED

    def _held(
        self, message: IncomingMessage, config: GuildSettings, speakers: Sequence[int]
    ) -> Outcome | None:
        """Why the message draws no reply although it joined the story (None: it does): no
        character is addressed, the member's cooldown, or a reply limit (counted when not)."""
        if not speakers:
            return Outcome.RECORDED
        guild, author = message.place.guild_id, message.author_id
        if self._cooldowns.remaining(guild, author, config.user_cooldown_seconds):
            return Outcome.RECORDED
        # The member's limit first: one member's flood must not use up the channel's replies.
        member, channel = (guild, author), message.place.channel_id
        for limit, key, held in (
            (self._user_limit, member, Outcome.USER_AT_LIMIT),
            (self._channel_limit, channel, Outcome.CHANNEL_AT_LIMIT),
        ):
            if limit.full(key):
                log.info("Channel %d: %s, message recorded", channel, held)
                return held if limit.first_hold(key) else Outcome.RECORDED
        self._user_limit.count(member)
        self._channel_limit.count(channel)
        return None

    def speakers_for(
        self, message: IncomingMessage, view: SessionView, config: GuildSettings
    ) -> list[int]:
        """The characters who answer ``message``, in order (see bot/roleplay/speakers.py)."""
        cast = _cast_of(view)
        replied_to = message.replied_character_id
        if replied_to is None and message.replies_to_character and len(cast) == 1:
            replied_to = cast[0].character.id
        candidates = [
            Candidate(m.character.id, m.character.name, m.character.talkativeness) for m in cast
        ]
        return choose_speakers(
            message.content,
            candidates,
            limit=max(1, config.replies_per_message),
            replied_to=replied_to,
            addressed_only=config.reply_mode == "mention" and not message.mentions_bot,
            rng=self._rng,
        )

    def schedule(
        self,
        view: SessionView,
        place: Place,
        config: GuildSettings,
        speakers: Sequence[int] | None = None,
        *,
        answering: int | None = None,
    ) -> None:
        """Ask ``speakers`` (default: the session's first character) for a reply each to the
        stored message ``answering``. While one is being generated, requests for the same
        character merge into one more reply that covers everything said in the meantime; a
        request whose message a reply has already covered is dropped."""
        channel = place.channel_id
        pending = self._pending.setdefault(channel, {})
        for character_id in speakers or (view.character.id,):
            if character_id in pending:
                known = pending[character_id]
                pending[character_id] = (
                    None if known is None or answering is None else max(known, answering)
                )
            else:
                pending[character_id] = answering
        worker = self._workers.get(channel)
        if worker is None or worker.done():
            self._workers[channel] = asyncio.create_task(
                self._reply_loop(view, place, config), name=f"replies-{channel}"
            )

    async def _reply_loop(self, view: SessionView, place: Place, config: GuildSettings) -> None:
        channel = place.channel_id
        fresh: SessionView | None = view  # just read by the message that started this worker
        try:
            while pending := self._pending.get(channel):
                character_id, answering = next(iter(pending.items()))
                del pending[character_id]
                covered = self._answered.get((channel, character_id))
                if answering is not None and covered is not None and covered >= answering:
                    continue  # a reply that started after this message was stored answered it
                # Later replies read the scene again: it may have changed meanwhile.
                try:
                    current = fresh or await self._engine.sessions.active(channel)
                except StorageUnavailable as fault:  # the store logged the cause
                    self._pending.pop(channel, None)
                    await self._presenter_factory(view).fail(fault.user_message)
                    return
                fresh = None
                if current is None or current.session.id != view.session.id:
                    return
                speaker = _member(current, character_id)
                if speaker is not None:
                    covered = await self._reply_once(
                        replace(current, character=speaker), place, config
                    )
                    if covered is not None:
                        self._answered[(channel, character_id)] = covered
        finally:
            if self._workers.get(channel) is asyncio.current_task():
                del self._workers[channel]
            if not self._pending.get(channel):
                self._pending.pop(channel, None)  # a quiet channel keeps nothing here

    async def _reply_once(
        self, view: SessionView, place: Place, config: GuildSettings
    ) -> int | None:
        """Generate and show one reply; returns the newest message its prompt held (None when
        no reply was shown)."""
        presenter = self._presenter_factory(view)
        try:
            # Checked when the character is about to speak, not only at session start.
            check_nsfw_allowed(config, view.character, place)
            await presenter.start()
            replies = self._engine.replies
            reply = await replies.generate_reply(
                view.session.id,
                character_id=view.character.id,
                params=replies.params_for(config),
                on_text=presenter.update,
                on_queued=presenter.queued,
                shown_as=presenter.shown_id,
            )
            try:
                shown_as = await presenter.finish(reply.message)
            except BaseException:
                # Nobody saw it: the history must not hold a line the channel never showed.
                await asyncio.shield(self._engine.history.discard(reply.message.id))
                raise
            if shown_as is not None and shown_as != reply.message.discord_message_id:
                await self._engine.history.attach_discord_id(reply.message.id, shown_as)
            return reply.prompt.last_turn_id
        except GalateaError as exc:
            await presenter.fail(exc.user_message)
        except asyncio.CancelledError:
            raise
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("Reply in channel %d failed (error %s)", place.channel_id, error_id)
            await presenter.fail(
                f"Sorry, something went wrong while {view.character.name} was answering "
                f"(error {error_id}). The conversation is kept; send another message to retry."
            )
        return None

    async def cancel(self, channel_id: int) -> None:
        """Stop any reply in progress in a channel (session stopped or reset)."""
        self._pending.pop(channel_id, None)
        worker = self._workers.pop(channel_id, None)
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no reply is in progress (tests and shutdown; callers bound the wait)."""
        while workers := [w for w in self._workers.values() if not w.done()]:
            await asyncio.wait(workers)

    def channels_in_use(self) -> set[int]:
        """Channels with a reply pending or in progress (a message still being taken in holds
        only its intake lock, which the worker does not need)."""
        return set(self._workers) | set(self._pending)

    def per_channel_entries(self) -> int:
        """How many per-channel entries this object holds now (bounded by the busy ones)."""
        return len(self._intake_locks) + len(self._pending) + len(self._workers)

    def busy(self, channel_id: int) -> bool:
        worker = self._workers.get(channel_id)
        return worker is not None and not worker.done()


def _cast_of(view: SessionView) -> tuple[CastMember, ...]:
    return view.cast or (CastMember(view.character),)


def _member(view: SessionView, character_id: int) -> Character | None:
    return next((m.character for m in _cast_of(view) if m.character.id == character_id), None)
