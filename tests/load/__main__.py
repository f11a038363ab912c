"""``python -m tests.load [--seconds N] ...``: one load run on a fresh SQLite file (or a
PostgreSQL URL), printed as a table; exit status 1 when a check failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from bot.store import Database
from bot.store.migrate import upgrade_to_head
from testkit.discord_emulator import DiscordEmulator
from testkit.load.config import LoadConfig
from testkit.load.driver import run_load
from testkit.load.report import LoadReport


async def _main(config: LoadConfig, url: str | None) -> LoadReport:
    with tempfile.TemporaryDirectory(prefix="galatea-load-") as folder:
        database = Database(url or f"sqlite+aiosqlite:///{Path(folder) / 'galatea.db'}")
        await upgrade_to_head(database)
        try:
            async with DiscordEmulator() as emu:
                return await run_load(emu, database, config)
        finally:
            await database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__)
    for field in fields(LoadConfig):
        kind = int if field.type in ("int", int) else float
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=None)
    parser.add_argument("--database-url", help="an empty, migratable database (default SQLite)")
    args = vars(parser.parse_args(argv))
    url = args.pop("database_url")
    report = asyncio.run(_main(LoadConfig.from_env(**args), url))
    print(report.table())
    print()
    print(report.channels_table())
    print()
    print(report.samples_table())
    problems = report.problems() + report.duplicate_replies()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
