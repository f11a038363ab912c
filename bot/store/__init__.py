"""Persistence: ORM models, the database and its units of work, migrations."""

from bot.store.database import Database
from bot.store.repositories import UnitOfWork

__all__ = ["Database", "UnitOfWork"]
