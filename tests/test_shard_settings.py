"""Sharding settings: SHARD_COUNT and SHARD_IDS, and the one clear line a mistake gets."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings


@pytest.fixture(autouse=True)
def no_shard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHARD_COUNT", "SHARD_IDS", "CHANNEL_LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("count", "ids", "runs", "shard_zero"),
    [
        (None, None, None, True),  # today's single process
        ("", "", None, True),  # blank lines in .env count as unset
        ("4", None, (0, 1, 2, 3), True),
        ("4", " 3, 1 ", (3, 1), False),
        ("2", "0", (0,), True),
    ],
)
def test_the_shards_a_process_runs(
    monkeypatch: pytest.MonkeyPatch,
    count: str | None,
    ids: str | None,
    runs: tuple[int, ...] | None,
    shard_zero: bool,
) -> None:
    for name, value in (("SHARD_COUNT", count), ("SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.shard_ids == runs
    assert settings.runs_shard_zero is shard_zero
    assert settings.CHANNEL_LEASE_SECONDS == 30


@pytest.mark.parametrize(
    ("count", "ids", "named"),
    [
        ("2", "0,0", "SHARD_IDS"),  # twice
        ("2", "2", "SHARD_IDS"),  # ids start at 0
        ("2", "-1", "SHARD_IDS"),
        ("2", "one", "SHARD_IDS"),
        (None, "0", "SHARD_IDS"),  # which shards of how many?
        ("0", None, "SHARD_COUNT"),
        ("many", None, "SHARD_COUNT"),
    ],
)
def test_a_bad_shard_setting_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None, named: str
) -> None:
    for name, value in (("SHARD_COUNT", count), ("SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    message = error.value.user_message
    assert message.startswith(f"Setting {named} is invalid") and "\n" not in message
    assert "each below SHARD_COUNT" in message or "whole number from 1" in message


def test_the_lease_must_last_some_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_LEASE_SECONDS", "0")
    with pytest.raises(ConfigError, match="CHANNEL_LEASE_SECONDS"):
        load_settings(None)
