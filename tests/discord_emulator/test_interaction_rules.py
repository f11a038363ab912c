"""The emulator refuses what Discord refuses: one test per documented interaction rule."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord import app_commands

from testkit.discord_emulator import DiscordEmulator, errors
from testkit.discord_emulator import interaction_rules as rules
from tests.discord_emulator.sample_bot import EmuBot, Scene

pytestmark = pytest.mark.timeout(30)


def codes(error: errors.ApiError) -> list[str]:
    """Every per-field error code in a 50035 body."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "_errors":
                    found.extend(e["code"] for e in value)
                else:
                    walk(value)

    walk(error.errors)
    return found


def refused(check: Any, *args: Any) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        check(*args)
    assert (caught.value.status, caught.value.code) == (400, 50035)
    assert caught.value.message == "Invalid Form Body"
    return caught.value


def command(**fields: Any) -> dict[str, Any]:
    return {"type": 1, "name": "character", "description": "Characters", **fields}


def option(**fields: Any) -> dict[str, Any]:
    return {"type": 3, "name": "name", "description": "The name", **fields}


# -- Application Commands: registration --------------------------------------------------------


def test_a_valid_command_is_accepted() -> None:
    rules.check_command(command(options=[option(required=True, max_length=80)]))


def test_command_names_follow_the_naming_rule() -> None:
    for name in ("Character", "two words", "x" * 33, ""):
        assert "APPLICATION_COMMAND_INVALID_NAME" in codes(
            refused(rules.check_command, command(name=name))
        )


def test_command_description_is_1_to_100_characters() -> None:
    for description in ("", "x" * 101):
        error = refused(rules.check_command, command(description=description))
        assert error.errors is not None and "description" in error.errors


def test_option_description_is_1_to_100_characters() -> None:
    error = refused(rules.check_command, command(options=[option(description="x" * 101)]))
    assert error.errors == {
        "options": {
            "0": {
                "description": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_BAD_LENGTH",
                            "message": "Must be between 1 and 100 in length.",
                        }
                    ]
                }
            }
        }
    }


def test_a_command_has_at_most_25_options() -> None:
    options = [option(name=f"o{i}") for i in range(26)]
    assert "BASE_TYPE_MAX_LENGTH" in codes(refused(rules.check_command, command(options=options)))


def test_option_names_are_unique() -> None:
    assert "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS" in codes(
        refused(rules.check_command, command(options=[option(), option()]))
    )


def test_required_options_come_before_optional_ones() -> None:
    options = [option(name="a"), option(name="b", required=True)]
    assert "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID" in codes(
        refused(rules.check_command, command(options=options))
    )


def test_at_most_25_choices_of_at_most_100_characters() -> None:
    many = [{"name": f"c{i}", "value": f"c{i}"} for i in range(26)]
    assert "BASE_TYPE_MAX_LENGTH" in codes(
        refused(rules.check_command, command(options=[option(choices=many)]))
    )
    long = [{"name": "x" * 101, "value": "v" * 101}]
    error = refused(rules.check_command, command(options=[option(choices=long)]))
    assert codes(error) == ["BASE_TYPE_BAD_LENGTH", "BASE_TYPE_BAD_LENGTH"]


def test_choices_and_autocomplete_exclude_each_other() -> None:
    choices = [{"name": "a", "value": "a"}]
    assert "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID" in codes(
        refused(rules.check_command, command(options=[option(choices=choices, autocomplete=True)]))
    )


def test_string_length_limits_are_within_0_to_6000() -> None:
    for fields in ({"max_length": 0}, {"max_length": 6001}, {"min_length": -1}):
        assert "NUMBER_TYPE_MAX" in codes(
            refused(rules.check_command, command(options=[option(**fields)]))
        )


def test_a_command_holds_at_most_8000_characters_in_all() -> None:
    options = [option(name=f"o{i}", description="d" * 100) for i in range(25)]
    group = {"type": 1, "name": "sub", "description": "d" * 100, "options": options}
    subcommands = [dict(group, name=f"s{i}") for i in range(4)]
    assert "APPLICATION_COMMAND_TOO_LARGE" in codes(
        refused(rules.check_command, command(options=subcommands))
    )


def test_at_most_100_chat_commands_with_unique_names() -> None:
    too_many = [command(name=f"c{i}") for i in range(101)]
    assert "APPLICATION_COMMANDS_TOO_MANY" in codes(refused(rules.check_command_set, too_many))
    twice = [command(), command()]
    assert "APPLICATION_COMMANDS_DUPLICATE_NAME" in codes(refused(rules.check_command_set, twice))


# -- Application Commands: what a member can type ----------------------------------------------


def test_a_typed_string_respects_min_and_max_length() -> None:
    rules.check_typed_value(option(max_length=5), "abcde")
    with pytest.raises(ValueError, match="allowed 0-5"):
        rules.check_typed_value(option(max_length=5), "abcdef")
    with pytest.raises(ValueError, match="allowed 0-6000"):  # Discord's own ceiling
        rules.check_typed_value(option(), "x" * 6001)


def test_a_typed_value_must_be_one_of_the_choices() -> None:
    with pytest.raises(ValueError, match="choices"):
        rules.check_typed_value(option(choices=[{"name": "a", "value": "a"}]), "b")


def test_a_typed_number_respects_min_and_max_value() -> None:
    number = {"type": 10, "name": "t", "description": "d", "min_value": 0.0, "max_value": 1.0}
    with pytest.raises(ValueError, match="above"):
        rules.check_typed_value(number, 1.5)
    with pytest.raises(ValueError, match="not an integer"):
        rules.check_typed_value({"type": 4, "name": "n", "description": "d"}, 1.5)


async def test_invoking_checks_options_against_the_synced_command(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    await bot.tree.sync()
    with pytest.raises(ValueError, match="no options"):
        await emu.invoke_command(
            "char say",
            {"name": "Aria", "text": "hi", "extra": 1},
            user=scene.alice,
            channel=scene.channel,
        )
    with pytest.raises(ValueError, match="needs"):
        await emu.invoke_command(
            "char say", {"name": "Aria"}, user=scene.alice, channel=scene.channel
        )


async def test_registration_is_refused_like_discord_refuses_it(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    bad = app_commands_with_long_description()
    bot.tree.add_command(bad)
    with pytest.raises(discord.HTTPException) as caught:
        await bot.tree.sync()
    assert (caught.value.status, caught.value.code) == (400, 50035)


def app_commands_with_long_description() -> Any:
    @app_commands.command(name="wordy", description="x" * 100)
    async def wordy(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok")

    # discord.py validates 100 too; the emulator must still refuse what slips through.
    wordy.description = "x" * 101
    return wordy


# -- Components --------------------------------------------------------------------------------


def row(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(children)}


def button(custom_id: str, label: str = "Go") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


def test_a_message_has_at_most_5_action_rows() -> None:
    rows = [row(button(f"b{i}")) for i in range(6)]
    assert codes(refused(rules.check_message_components, rows)) == ["BASE_TYPE_MAX_LENGTH"]


def test_an_action_row_has_at_most_5_buttons() -> None:
    rows = [row(*(button(f"b{i}") for i in range(6)))]
    assert codes(refused(rules.check_message_components, rows)) == ["BASE_TYPE_MAX_LENGTH"]


def test_a_select_fills_its_row_alone() -> None:
    select = {"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]}
    assert "COMPONENT_LAYOUT_WIDTH_EXCEEDED" in codes(
        refused(rules.check_message_components, [row(select, button("b"))])
    )


def test_custom_ids_are_1_to_100_characters_and_unique_in_a_message() -> None:
    assert codes(refused(rules.check_message_components, [row(button("x" * 101))])) == [
        "BASE_TYPE_BAD_LENGTH"
    ]
    assert codes(refused(rules.check_message_components, [row(button("a"), button("a"))])) == [
        "COMPONENT_CUSTOM_ID_DUPLICATED"
    ]


def test_a_select_has_at_most_25_options_of_100_characters_and_a_150_placeholder() -> None:
    options = [{"label": f"o{i}", "value": f"o{i}"} for i in range(26)]
    select = {"type": 3, "custom_id": "s", "options": options, "placeholder": "p" * 151}
    assert codes(refused(rules.check_message_components, [row(select)])) == [
        "BASE_TYPE_MAX_LENGTH",
        "BASE_TYPE_MAX_LENGTH",
    ]
    long = {"type": 3, "custom_id": "s", "options": [{"label": "x" * 101, "value": "v"}]}
    assert codes(refused(rules.check_message_components, [row(long)])) == ["BASE_TYPE_BAD_LENGTH"]


def test_a_button_label_holds_80_characters() -> None:
    assert codes(refused(rules.check_message_components, [row(button("a", "x" * 81))])) == [
        "BASE_TYPE_MAX_LENGTH"
    ]


def test_a_link_button_needs_a_url_not_a_custom_id() -> None:
    link = {"type": 2, "style": 5, "label": "Docs"}
    assert codes(refused(rules.check_message_components, [row(link)])) == ["BASE_TYPE_BAD_LENGTH"]


async def test_a_bot_message_with_duplicate_custom_ids_is_refused_on_the_wire(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    channel = bot.get_channel(scene.channel.id)
    assert isinstance(channel, discord.TextChannel)
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="A", custom_id="same"))
    view.add_item(discord.ui.Button(label="B", custom_id="same"))
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("two", view=view)
    assert (caught.value.status, caught.value.code) == (400, 50035)


# -- Modals ------------------------------------------------------------------------------------


def text_input(custom_id: str = "name", **fields: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": custom_id, "style": 1, "label": "Name", **fields}


def modal(*inputs: dict[str, Any], title: str = "New character") -> dict[str, Any]:
    return {"custom_id": "form", "title": title, "components": [row(i) for i in inputs]}


def test_a_valid_modal_is_accepted() -> None:
    rules.check_modal(modal(text_input(max_length=4000)))


def test_a_modal_title_holds_45_characters() -> None:
    error = refused(rules.check_modal, modal(text_input(), title="x" * 46))
    assert error.errors is not None and "title" in error.errors["data"]


def test_a_modal_custom_id_is_1_to_100_characters() -> None:
    error = refused(rules.check_modal, {**modal(text_input()), "custom_id": "x" * 101})
    assert error.errors is not None and "custom_id" in error.errors["data"]


def test_a_modal_has_1_to_5_components() -> None:
    six = [text_input(f"f{i}") for i in range(6)]
    assert "BASE_TYPE_BAD_LENGTH" in codes(refused(rules.check_modal, modal(*six)))
    assert "BASE_TYPE_BAD_LENGTH" in codes(refused(rules.check_modal, modal()))


def test_text_input_lengths_are_within_4000() -> None:
    for fields in ({"max_length": 4001}, {"min_length": 4001}, {"value": "x" * 4001}):
        assert codes(refused(rules.check_modal, modal(text_input(**fields))))


def test_text_input_label_45_and_placeholder_100_characters() -> None:
    assert codes(refused(rules.check_modal, modal(text_input(label="x" * 46))))
    assert codes(refused(rules.check_modal, modal(text_input(placeholder="x" * 101))))


def test_a_label_component_holds_45_and_its_description_100() -> None:
    label = {
        "type": 18,
        "label": "x" * 46,
        "description": "d" * 101,
        "component": text_input(label=None),
    }
    data = {"custom_id": "form", "title": "Form", "components": [label]}
    assert codes(refused(rules.check_modal, data)) == [
        "BASE_TYPE_BAD_LENGTH",
        "BASE_TYPE_MAX_LENGTH",
    ]


def test_a_submission_respects_the_inputs_limits() -> None:
    opened = modal(text_input(max_length=5), text_input("note", required=False))
    rules.check_submitted_text(opened, {"name": "Aria"})
    with pytest.raises(ValueError, match="allowed 0-5"):
        rules.check_submitted_text(opened, {"name": "Arianna"})
    with pytest.raises(ValueError, match="required"):
        rules.check_submitted_text(opened, {"name": ""})
    with pytest.raises(ValueError, match="no text inputs"):
        rules.check_submitted_text(opened, {"name": "A", "other": "x"})


async def test_a_modal_over_the_limits_is_refused_on_the_wire(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    class Wordy(discord.ui.Modal, title="x" * 46):
        text = discord.ui.TextInput(label="Text")

    @app_commands.command(name="wordy", description="Open a modal with a long title")
    async def wordy(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Wordy())

    bot.tree.add_command(wordy)
    await bot.tree.sync()
    record = await emu.invoke_command("wordy", user=scene.alice, channel=scene.channel)
    request = await emu.wait_for_request(method="POST", path=rf"^/interactions/{record.id}/")
    assert request.status == 400 and record.callback is None


async def test_a_modal_is_submitted_only_by_the_member_who_opened_it(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = await emu.invoke_command("char create", user=scene.alice, channel=scene.channel)
    await record.response()
    with pytest.raises(ValueError, match="only to the member who opened it"):
        await emu.submit_modal(
            None, {"char_name": "A", "char_persona": "p"}, scene.bob, opened_by=record
        )
    with pytest.raises(LookupError):
        await emu.submit_modal(None, {"char_name": "A", "char_persona": "p"}, scene.bob)
    submitted = await emu.submit_modal(None, {"char_name": "A", "char_persona": "p"}, scene.alice)
    assert submitted.user_id == scene.alice.id
    assert submitted.channel_id == scene.channel.id
    assert (await submitted.response())["data"]["content"] == "created A: p"


# -- Interaction tokens ------------------------------------------------------------------------


async def test_a_second_callback_is_already_acknowledged(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = await emu.invoke_command(
        "char say", {"name": "Aria", "text": "hi"}, user=scene.alice, channel=scene.channel
    )
    await record.response()
    with pytest.raises(errors.ApiError) as caught:
        emu.interactions.callback(record.id, record.token, {"type": 4, "data": {}}, [])
    assert (caught.value.status, caught.value.code) == (400, 40060)


async def test_followups_stop_after_15_minutes_with_invalid_webhook_token(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = await emu.invoke_command(
        "char think", {"prompt": "dragons"}, user=scene.alice, channel=scene.channel
    )
    await record.followup()
    emu.interactions.clock.advance(14 * 60)
    emu.interactions.followup(record.token, {"content": "still fine"}, [])
    emu.interactions.clock.advance(61)
    for attempt in (
        lambda: emu.interactions.followup(record.token, {"content": "too late"}, []),
        lambda: emu.interactions.edit(record.token, "@original", {"content": "late"}, []),
        lambda: emu.interactions.delete(record.token, "@original"),
    ):
        with pytest.raises(errors.ApiError) as caught:
            attempt()
        assert (caught.value.status, caught.value.code) == (401, 50027)
        assert caught.value.message == "Invalid Webhook Token"


async def test_the_first_answer_after_3_seconds_is_unknown_interaction(
    emu: DiscordEmulator, scene: Scene, bot: EmuBot
) -> None:
    record = emu.interaction_payloads.base(
        2, {"name": "x"}, user=scene.alice.user, channel=scene.channel
    )
    registered = emu.interactions.register(record)
    emu.interactions.clock.advance(3.01)
    with pytest.raises(errors.ApiError) as caught:
        emu.interactions.callback(registered.id, registered.token, {"type": 5}, [])
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        404,
        10062,
        "Unknown interaction",
    )
