"""Start-up faults of the database: one line each saying what to do, exit status 2, no
traceback, never a password. Real processes where the fault can be made for one (a file that
is not a database, a folder, a database from a newer Galatea, URL typos); in process where the
wait would be long (PostgreSQL down or silent) or where root would not see the fault."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Database
from bot.store import startup as startup_module
from bot.store.migrate import upgrade_to_head
from bot.store.startup import DatabaseStartError, _start_problem, open_and_migrate
from tests.test_main import run_main

PASSWORD = "hunter2-secret"


def _one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Shopping list: milk, eggs, a better database.\n" * 50)
    result = run_main("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{notes}"}, cwd=tmp_path)
    assert "is not a SQLite database" in _one_line(result)
    assert notes.read_text().startswith("Shopping list")  # untouched


def test_a_folder_where_the_file_should_be(tmp_path: Path) -> None:
    folder = tmp_path / "galatea.db"
    folder.mkdir()
    result = run_main(
        "migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{folder}"}, cwd=tmp_path
    )
    assert "cannot be opened" in _one_line(result)


def test_a_database_from_a_newer_galatea(tmp_path: Path) -> None:
    path = tmp_path / "galatea.db"
    assert run_main("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{path}"}).returncode == 0
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    connection.close()
    result = run_main("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{path}"}, cwd=tmp_path)
    line = _one_line(result)
    assert "f00dfeedbeef" in line and "newer Galatea" in line
    assert list(tmp_path.glob("*.bak")) == []  # nothing migrated, nothing to back up


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://galatea:{PASSWORD}@db.example:54x2/galatea",  # port typo
        f"postgres://galatea:{PASSWORD}@db.example:5432/galatea",  # scheme typo
        f"postgresql+asyncpg://galatea:{PASSWORD}@@db.example:5432/galatea",  # doubled @
    ],
    ids=["port", "scheme", "at-sign"],
)
def test_a_database_url_typo_never_prints_the_password(tmp_path: Path, url: str) -> None:
    result = run_main("migrate", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert "DATABASE_URL" in _one_line(result) or "database" in result.stderr.lower()


# -- in process: the waits, and faults root cannot make with file permissions ---------------


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_module, "RETRY_EVERY_SECONDS", 0.2)
    monkeypatch.setattr(startup_module, "CONNECT_TIMEOUT_SECONDS", 0.5)


async def test_postgresql_down_is_waited_for_then_one_line(
    quick: None, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+asyncpg://galatea:{PASSWORD}@127.0.0.1:{_free_port()}/galatea"
    started = time.monotonic()
    with pytest.raises(DatabaseStartError) as raised:
        await asyncio.wait_for(open_and_migrate(url, wait=1.0), 10)
    took = time.monotonic() - started
    line = raised.value.user_message
    assert line.startswith("Cannot reach the database at postgresql+asyncpg://galatea:***@")
    assert "Check that PostgreSQL is running" in line and "(tried for 1 s)" in line
    assert PASSWORD not in line + caplog.text
    assert 0.8 <= took < 5
    assert "Database not ready yet" in caplog.text  # it did try again


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word (a hung server, a firewall that drops)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    for writer in held:
        writer.close()


async def test_a_silent_postgresql_is_bounded_then_one_line(
    quick: None, silent_server: int
) -> None:
    url = f"postgresql+asyncpg://galatea:{PASSWORD}@127.0.0.1:{silent_server}/galatea"
    started = time.monotonic()
    with pytest.raises(DatabaseStartError, match="Cannot reach the database") as raised:
        await asyncio.wait_for(open_and_migrate(url, wait=1.0), 15)
    assert time.monotonic() - started < 5  # not asyncpg's 60 s
    assert PASSWORD not in raised.value.user_message


async def test_a_read_only_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "galatea.db"
    old = Database(f"sqlite+aiosqlite:///{path}")
    from bot.store.migrate import upgrade

    await upgrade(old, "2b55fdddcaad")  # needs migrating: a write
    await old.dispose()
    with pytest.raises(DatabaseStartError) as raised:
        await open_and_migrate(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    assert "read-only" in raised.value.user_message
    assert "write access" in raised.value.user_message


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """SQLite's own page limit gives the error a full disk gives (SQLITE_FULL)."""
    connection = sqlite3.connect(tmp_path / "galatea.db")
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        connection.execute("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    connection.close()
    problem = _start_problem(full.value, "sqlite+aiosqlite:///galatea.db")
    assert problem is not None
    waiting, line = problem
    assert not waiting and "disk is full" in line and "Free space" in line


async def test_a_current_database_starts_without_waiting(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'galatea.db'}"
    first = Database(url)
    await upgrade_to_head(first)
    await first.dispose()
    database = await open_and_migrate(url, wait=0)
    await database.dispose()
