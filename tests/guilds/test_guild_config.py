"""Server settings kept in memory: changes here show at once, other processes' within a bound."""

from __future__ import annotations

import pytest

from bot.errors import InvalidInput, PermissionDenied
from bot.guilds.config import GuildConfigService, Setting, validate_change
from bot.policy import OPERATOR, Caller
from bot.store import Database
from bot.store.guilds import CONFIG_FIELDS
from tests.support.clock import ManualClock


async def test_a_change_made_here_is_seen_at_once(database: Database) -> None:
    config = GuildConfigService(database)
    assert (await config.get(7)).ooc_prefix != "!!"
    await config.update(7, {Setting.OOC_PREFIX: "!!"}, caller=OPERATOR)
    assert (await config.get(7)).ooc_prefix == "!!"


async def test_another_process_change_is_seen_once_the_memory_runs_out(database: Database) -> None:
    clock = ManualClock()
    here, elsewhere = GuildConfigService(database, clock=clock), GuildConfigService(database)
    before = (await here.get(7)).ooc_prefix
    await elsewhere.update(7, {Setting.OOC_PREFIX: "%%"}, caller=OPERATOR)
    assert (await here.get(7)).ooc_prefix == before  # still what this process read
    clock.now += GuildConfigService.CACHE_SECONDS + 0.1
    assert (await here.get(7)).ooc_prefix == "%%"


async def test_reads_come_from_memory_until_it_runs_out(database: Database) -> None:
    clock = ManualClock()
    config = GuildConfigService(database, clock=clock)
    first = await config.get(7)
    async with database.write() as uow:  # behind the service's back
        await uow.guilds.update(7, {"ooc_prefix": "##"})
    assert await config.get(7) == first
    clock.now += GuildConfigService.CACHE_SECONDS + 0.1
    assert (await config.get(7)).ooc_prefix == "##"


async def test_only_admins_change_a_servers_settings(database: Database) -> None:
    config = GuildConfigService(database)
    member = Caller(user_id=5, display_name="Member")
    with pytest.raises(PermissionDenied):
        await config.update(7, {Setting.REPLY_MODE: "mention"}, caller=member)
    admin = Caller(user_id=6, display_name="Admin", is_admin=True)
    assert (await config.update(7, {Setting.REPLY_MODE: "mention"}, caller=admin)).reply_mode == (
        "mention"
    )


def test_every_setting_has_a_rule_and_a_stored_field() -> None:
    assert {setting.value for setting in Setting} == CONFIG_FIELDS


@pytest.mark.parametrize(
    ("setting", "value", "stored"),
    [
        (Setting.REPLY_MODE, "mention", "mention"),
        (Setting.NSFW_RULE, "never", "never"),
        (Setting.OOC_PREFIX, "  !! ", "!!"),
        (Setting.USER_COOLDOWN, 5, 5.0),
        (Setting.MAX_REPLY_TOKENS, 64, 64),
        (Setting.MAX_REPLY_TOKENS, None, None),
        (Setting.MAX_CHARACTERS, "3", 3),
        (Setting.REPLIES_PER_MESSAGE, 2.0, 2),
        (Setting.SAMPLER_PRESET, None, None),
        (Setting.ALLOWED_CHANNELS, [1, 2], (1, 2)),
        (Setting.CREATOR_ROLES, None, None),
    ],
)
def test_good_values_are_kept_normalised(setting: Setting, value: object, stored: object) -> None:
    assert validate_change(setting, value) == stored


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (Setting.REPLY_MODE, "sometimes"),
        (Setting.NSFW_RULE, None),
        (Setting.OOC_PREFIX, "a b"),
        (Setting.OOC_PREFIX, "123456789"),
        (Setting.USER_COOLDOWN, 3601),
        (Setting.USER_COOLDOWN, "soon"),
        (Setting.USER_COOLDOWN, True),
        (Setting.MAX_REPLY_TOKENS, 8),
        (Setting.MAX_CHARACTERS, 11),
        (Setting.MAX_CHARACTERS, 2.5),
        (Setting.REPLIES_PER_MESSAGE, 0),
        (Setting.SAMPLER_PRESET, "no such preset"),
        (Setting.SESSION_ROLES, ("7",)),
    ],
)
def test_bad_values_are_refused_with_a_sentence(setting: Setting, value: object) -> None:
    with pytest.raises(InvalidInput):
        validate_change(setting, value)
