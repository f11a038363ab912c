"""Fixtures shared by the whole suite: the tiny GGUF model and temporary databases."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn

import pytest

from bot.inference.ctransformers_backend import CTransformersBackend
from bot.store import Database
from bot.store.migrate import upgrade_to_head
from tests.support.postgres import (
    PostgresServer,
    PostgresUnavailable,
    find_binaries,
    migrate_template,
    postgres_server,
)
from tests.support.tiny_gguf import write_tiny_llama


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight llama GGUF (~0.6 MB), generated once per test run."""
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


DATABASES = ("sqlite", "postgresql")
# Tests that run the real model or the whole bot against the Discord emulator cost the most,
# and their storage goes through the same core the other tests run on both databases.
SQLITE_ONLY_UNLESS_ASKED = frozenset({"tiny_backend", "tiny_model_path", "emu"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-on-postgresql",
        action="store_true",
        help="also run the model and Discord end-to-end tests on PostgreSQL",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``database`` runs once per database (the costliest on SQLite only)."""
    if "database" not in metafunc.fixturenames:
        return
    costly = SQLITE_ONLY_UNLESS_ASKED & set(metafunc.fixturenames)
    everywhere = metafunc.config.getoption("--all-on-postgresql")
    kinds = ["sqlite"] if costly and not everywhere else list(DATABASES)
    metafunc.parametrize("database", kinds, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Database:
    """A real database migrated to head, SQLite or PostgreSQL (see pytest_generate_tests)."""
    db: Database = request.getfixturevalue(f"{request.param}_database")
    return db


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A real SQLite file, migrated to head."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}")
    await upgrade_to_head(db)
    yield db
    await db.dispose()


@pytest.fixture
async def postgresql_database(postgres: PostgresServer) -> AsyncIterator[Database]:
    """A database of its own on the session's PostgreSQL server, copied from the migrated
    template (the session migrated that one from empty)."""
    name = await postgres.create_database()
    db = Database(postgres.url(name))
    yield db
    await db.dispose()
    await postgres.drop_database(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session, its template migrated to head.

    Without PostgreSQL its tests are skipped on a developer machine, but fail when ``CI`` is
    set: CI must really test both databases.
    """
    binaries = find_binaries()
    if binaries is None:
        _postgres_unavailable(
            "PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, no pg_ctl on PATH); "
            "install it (Debian: apt-get install postgresql) to run the PostgreSQL tests"
        )
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server(binaries))
        except PostgresUnavailable as exc:
            _postgres_unavailable(f"PostgreSQL could not be started: {exc}")
        migrate_template(server)  # a migration failing here is a test failure, never a skip
        yield server


def _postgres_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
        pytest.fail(f"{reason} (CI is set: PostgreSQL must be tested there)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
async def tiny_backend(tiny_model_path: Path) -> AsyncIterator[CTransformersBackend]:
    """The real ctransformers backend on the tiny model."""
    backend = CTransformersBackend(str(tiny_model_path), context_length=1024, threads=2)
    await backend.load()
    yield backend
    await backend.close()
