"""Load through the Discord emulation (issue 9): 20 channels × 5 users posting for a while
against the real bot on a real database with a fast backend.

``GALATEA_LOAD_SECONDS`` sets the length (default 60 s); the figures table is printed (see it
with ``-s``). Deselect with ``-m 'not load'``. The few-minutes run::

    GALATEA_LOAD_SECONDS=300 .venv/bin/pytest tests/load -q -s -p no:cacheprovider
"""

from __future__ import annotations

import pytest

from bot.store import Database
from testkit.discord_emulator import DiscordEmulator
from testkit.load.config import LoadConfig
from testkit.load.driver import run_load
from testkit.load.report import LoadReport

CONFIG = LoadConfig.from_env()
# Set-up (character, 20 sessions), the load, the drain and the checks, with room to spare.
TIME_LIMIT = int(CONFIG.seconds + CONFIG.drain_seconds + 120)

pytestmark = [pytest.mark.load, pytest.mark.timeout(TIME_LIMIT)]

# One run per database serves both tests below (a run costs a minute); a test run alone
# makes its own.
_reports: dict[str, LoadReport] = {}


async def _report(
    emu: DiscordEmulator, database: Database, request: pytest.FixtureRequest
) -> LoadReport:
    kind = request.node.callspec.params["database"]
    if kind not in _reports:
        report = await run_load(emu, database, CONFIG)
        print(f"\nLoad through the Discord emulation on {kind}:\n{report.table()}")
        print(report.channels_table())
        print(report.samples_table())
        _reports[kind] = report
    return _reports[kind]


async def test_many_channels_lose_nothing_answer_in_time_and_stay_flat(
    emu: DiscordEmulator, database: Database, request: pytest.FixtureRequest
) -> None:
    report = await _report(emu, database, request)
    assert report.total("sent") > CONFIG.users * CONFIG.seconds / CONFIG.max_interval / 2
    assert report.total("replies_stored") > 0
    assert report.problems() == []


async def test_no_message_is_answered_twice_under_load(
    emu: DiscordEmulator, database: Database, request: pytest.FixtureRequest
) -> None:
    report = await _report(emu, database, request)
    assert report.duplicate_replies() == []
