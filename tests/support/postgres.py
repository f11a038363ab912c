"""A throwaway PostgreSQL server for one test session, from the distribution's own binaries.

``initdb`` makes a cluster in a temporary folder (in memory where there is room), ``pg_ctl``
starts it on 127.0.0.1 (a free port; its unix socket stays in that folder) and stops it at the
end. PostgreSQL refuses to run
as root, so under root (CI, containers) both run as the ``postgres`` system user that the Debian
package creates, and the folder belongs to it. Durability is switched off: the cluster is thrown
away, and a test run should not wait on fsync. Every wait is bounded.

Tests get a database each, copied from a template that Alembic migrated once per session:
copying is a few tens of milliseconds, migrating every time would be a second.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPERUSER = "galatea"
TEMPLATE = "galatea_template"
SYSTEM_USER = "postgres"  # created by Debian's postgresql-common
SHARED_MEMORY, SHARED_MEMORY_NEEDED = "/dev/shm", 1 << 30
START_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 60
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


class PostgresUnavailable(Exception):
    """Why no test server could be started here (the message is the skip or failure reason)."""


def find_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu), else ``pg_ctl`` on PATH."""

    def major(folder: str) -> int:
        found = re.search(r"/postgresql/(\d+)/bin$", folder)
        return int(found.group(1)) if found else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in map(Path, candidates):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


@dataclass
class PostgresServer:
    """A running server; ``url`` names a database on it for SQLAlchemy."""

    host: str
    port: int
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False)
    # pg_ctl "stop" or "start" on this server (outage tests); blocking, bounded.
    control: Callable[[str], None] | None = field(default=None, repr=False)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    async def create_database(self, template: str = TEMPLATE) -> str:
        """A new database copied from ``template``; returns its name."""
        name = f"galatea_test_{next(self._names)}"
        async with self._maintenance() as connection:
            # From PostgreSQL 15 the default copy goes through the WAL: 2 to 5 times slower.
            copy = " STRATEGY FILE_COPY" if connection.get_server_version().major >= 15 else ""
            await connection.execute(
                f'CREATE DATABASE "{name}" TEMPLATE "{template}"{copy}',
                timeout=COMMAND_TIMEOUT_S,
            )
        return name

    async def drop_database(self, name: str) -> None:
        await self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def execute(self, statement: str) -> None:
        """Run one statement as the superuser, in the ``postgres`` maintenance database."""
        async with self._maintenance() as connection:
            await connection.execute(statement, timeout=COMMAND_TIMEOUT_S)

    @asynccontextmanager
    async def _maintenance(self) -> AsyncIterator[Any]:
        import asyncpg  # the `postgres` extra; checked before the server starts

        connection = await asyncpg.connect(
            host=self.host, port=self.port, user=SUPERUSER, database="postgres", timeout=10
        )
        try:
            yield connection
        finally:
            await connection.close(timeout=10)


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[PostgresServer]:
    """initdb, start, yield the server, then stop it and remove the cluster."""
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable(
            "asyncpg is not installed (pip install -e '.[postgres,test]')"
        ) from exc
    run_as = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="galatea-pg-", dir=_memory_backed_folder()))
    data, log = root / "data", root / "server.log"
    try:
        if run_as is not None:
            os.chown(root, run_as.pw_uid, run_as.pw_gid)
        _run(
            [
                bin_dir / "initdb",
                f"--pgdata={data}",
                f"--username={SUPERUSER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            root,
            run_as,
        )
        port = _start(bin_dir, data, log, root, run_as)
        running = True

        def control(action: str) -> None:
            nonlocal running
            extra = (
                ["--mode=fast"]
                if action == "stop"
                else [f"--log={log}", f"--options=-c port={port}"]
            )
            pg_ctl = [bin_dir / "pg_ctl", action, f"--pgdata={data}", "--wait"]
            _run([*pg_ctl, f"--timeout={START_TIMEOUT_S}", *extra], root, run_as)
            running = action != "stop"

        try:
            yield PostgresServer("127.0.0.1", port, control=control)
        finally:
            if running:
                _run(
                    [
                        bin_dir / "pg_ctl",
                        "stop",
                        f"--pgdata={data}",
                        "--mode=immediate",
                        "--wait",
                        f"--timeout={START_TIMEOUT_S}",
                    ],
                    root,
                    run_as,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(
    bin_dir: Path, data: Path, log: Path, root: Path, run_as: pwd.struct_passwd | None
) -> int:
    """Start on a free port; a port taken between choosing and binding is tried again."""
    with (data / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in SETTINGS.items())
        conf.write(f"unix_socket_directories = '{root}'\n")
    for _attempt in range(3):
        port = _free_port()
        try:
            _run(
                [
                    bin_dir / "pg_ctl",
                    "start",
                    f"--pgdata={data}",
                    f"--log={log}",
                    "--wait",
                    f"--timeout={START_TIMEOUT_S}",
                    f"--options=-c port={port}",
                ],
                root,
                run_as,
            )
            return port
        except PostgresUnavailable:
            if "could not bind" not in _tail(log):
                raise
    raise PostgresUnavailable(f"PostgreSQL found no free port; its log ends:\n{_tail(log)}")


def _run(command: list[Any], cwd: Path, run_as: pwd.struct_passwd | None) -> None:
    # Output goes to a file, not a pipe: the server pg_ctl starts would hold a pipe open.
    with tempfile.TemporaryFile() as output:
        try:
            subprocess.run(
                [str(part) for part in command],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=COMMAND_TIMEOUT_S,
                env={**os.environ, "LC_ALL": "C"},
                **_as_user(run_as),
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output.seek(0)
            said = output.read().decode(errors="replace").strip()
            raise PostgresUnavailable(f"{Path(command[0]).name} failed ({exc}):\n{said}") from exc


def _as_user(run_as: pwd.struct_passwd | None) -> dict[str, Any]:
    if run_as is None:
        return {}
    return {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}


def _unprivileged_user() -> pwd.struct_passwd | None:
    """None when we are not root (the server runs as us), else the ``postgres`` account."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root, and there is no {SYSTEM_USER!r} user to run PostgreSQL as"
        ) from exc


def _memory_backed_folder() -> str | None:
    """/dev/shm when it has room (a container's default 64 MB has not), else the temp folder.

    A database copy creates some 300 files: 100-150 ms on a virtual disk, 20 ms in memory.
    """
    try:
        room = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    roomy = room.f_bavail * room.f_frsize >= SHARED_MEMORY_NEEDED
    return SHARED_MEMORY if roomy and os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def migrate_template(server: PostgresServer, timeout: float = COMMAND_TIMEOUT_S) -> None:
    """Create the template database and bring it to head with Alembic, once per session.

    Runs on its own thread and event loop, so that no test's event loop is disturbed.
    """
    from bot.store import Database
    from bot.store.migrate import upgrade_to_head

    async def migrate() -> None:
        await server.execute(f'CREATE DATABASE "{TEMPLATE}"')
        database = Database(server.url(TEMPLATE))
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-template")
    try:
        pool.submit(lambda: asyncio.run(asyncio.wait_for(migrate(), timeout))).result(timeout + 5)
    finally:
        pool.shutdown(wait=False)
