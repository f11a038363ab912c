"""The unit of work: one AsyncSession and the stores that share it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.cast import CastStore
from bot.store.characters import CharacterStore
from bot.store.guilds import GuildConfigStore
from bot.store.leases import LeaseStore
from bot.store.lore import BooksRead, LoreStore
from bot.store.memory import MemoryStore
from bot.store.messages import MessageStore
from bot.store.personas import PersonaStore
from bot.store.scenes import SceneStore
from bot.store.sessions import SessionStore
from bot.store.state import AppStateStore


class UnitOfWork:
    """Everything one transaction may touch. Never shared between tasks."""

    def __init__(self, session: AsyncSession, books_read: BooksRead) -> None:
        self.session = session
        self.characters = CharacterStore(session)
        self.sessions = SessionStore(session)
        self.messages = MessageStore(session)
        self.guilds = GuildConfigStore(session)
        self.state = AppStateStore(session)
        self.lore = LoreStore(session, books_read)
        self.cast = CastStore(session)
        self.personas = PersonaStore(session)
        self.scenes = SceneStore(session)
        self.leases = LeaseStore(session)
        self.memory = MemoryStore(session)
