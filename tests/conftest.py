"""Fixtures shared by the whole suite: the tiny GGUF model and temporary databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.inference.ctransformers_backend import CTransformersBackend
from bot.store import Database
from bot.store.migrate import upgrade_to_head
from tests.support.tiny_gguf import write_tiny_llama


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight llama GGUF (~0.6 MB), generated once per test run."""
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A real SQLite file, migrated to head."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
    await upgrade_to_head(db)
    yield db
    await db.dispose()


@pytest.fixture
async def tiny_backend(tiny_model_path: Path) -> AsyncIterator[CTransformersBackend]:
    """The real ctransformers backend on the tiny model."""
    backend = CTransformersBackend(str(tiny_model_path), context_length=1024, threads=2)
    await backend.load()
    yield backend
    await backend.close()
