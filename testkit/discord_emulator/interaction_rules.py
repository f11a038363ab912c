"""Discord's documented limits on commands, interactions, components and modals.

Every rule names the section of https://discord.com/developers/docs it comes from
(read from github.com/discord/discord-api-docs, developers/interactions/*.mdx and
developers/components/*.mdx). What the bot sends wrongly is refused like Discord refuses it
(400 50035 "Invalid Form Body" with per-field errors); what a member could not have typed or
clicked in Discord's client raises ``ValueError`` in the test instead (the client never sends it).

Not documented, and so kept as Discord is seen to answer rather than as a citation: the
per-field error codes inside 50035 bodies (``BASE_TYPE_MAX_LENGTH``,
``COMPONENT_CUSTOM_ID_DUPLICATED``...), and how long a modal stays open in the client.
"""

from __future__ import annotations

import re
from typing import Any

from testkit.discord_emulator import errors

# -- Interactions > Receiving and Responding > Responding to an Interaction -------------------
# "Interaction tokens are valid for 15 minutes ... but you must send an initial response within
# 3 seconds of receiving the event. If the 3 second deadline is exceeded, the token will be
# invalidated."
CALLBACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0


def invalid_webhook_token() -> errors.ApiError:
    """Topics > Opcodes and Status Codes > JSON Error Codes: 50027 Invalid webhook token."""
    return errors.ApiError(401, 50027, "Invalid Webhook Token")


def already_acknowledged() -> errors.ApiError:
    """JSON Error Codes: 40060 Interaction has already been acknowledged."""
    return errors.ApiError(400, 40060, "Interaction has already been acknowledged.")


# -- Interactions > Application Commands > Application Command Object -------------------------
# Application Command Naming: ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lowercase where a
# lowercase variant exists. Python's \w is letters, digits and "_" (close enough for ASCII
# and most scripts; Devanagari/Thai marks are not covered).
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
DESCRIPTION_MAX = 100  # command and option descriptions: 1-100 characters
MAX_OPTIONS = 25  # "Parameters for the command, max of 25"
MAX_CHOICES = 25  # Option Structure: "choices ... max 25"
CHOICE_NAME_MAX = 100  # Option Choice Structure: "1-100 character choice name"
CHOICE_VALUE_MAX = 100  # "Value for the choice, up to 100 characters if string"
STRING_LENGTH_MAX = 6000  # min_length 0-6000, max_length 1-6000
COMMAND_SIZE_MAX = 8000  # Slash Commands: combined name, description and value characters
# Registering a Command: "100 global CHAT_INPUT commands, 15 global USER commands, 15 global
# MESSAGE commands ... the same amount of guild-specific commands per guild".
COMMANDS_PER_TYPE = {1: 100, 2: 15, 3: 15}
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, NUMBER = 1, 2, 3, 4, 10

Problems = list[tuple[str, str, str]]  # (dotted path, code, message)


def _length(problems: Problems, path: str, value: Any, low: int, high: int) -> None:
    text = value if isinstance(value, str) else ""
    if not low <= len(text) <= high:
        problems.append(
            (path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
        )


def _too_many(problems: Problems, path: str, items: list[Any], limit: int) -> None:
    if len(items) > limit:
        problems.append((path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."))


def _name(problems: Problems, path: str, name: Any) -> None:
    if not isinstance(name, str) or not COMMAND_NAME.match(name) or name != name.lower():
        problems.append((path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))


def command_problems(command: dict[str, Any], prefix: str = "") -> Problems:
    """Application Command Structure, Option Structure, Option Choice Structure, Slash Commands
    (8,000 characters in all)."""
    problems: Problems = []
    kind = int(command.get("type", 1))
    if kind == 1:
        _name(problems, f"{prefix}name", command.get("name"))
        _length(problems, f"{prefix}description", command.get("description"), 1, DESCRIPTION_MAX)
        _options(problems, f"{prefix}options", command.get("options") or [])
        if _size(command) > COMMAND_SIZE_MAX:
            problems.append(
                (
                    f"{prefix}_errors" if prefix else "_errors",
                    "APPLICATION_COMMAND_TOO_LARGE",
                    f"Command exceeds maximum size ({COMMAND_SIZE_MAX})",
                )
            )
    else:
        _length(problems, f"{prefix}name", command.get("name"), 1, 32)
    return problems


def _options(problems: Problems, path: str, options: list[dict[str, Any]]) -> None:
    _too_many(problems, path, options, MAX_OPTIONS)
    seen: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        at = f"{path}.{index}"
        name = option.get("name")
        _name(problems, f"{at}.name", name)
        if name in seen:  # Option Structure: "name must be unique within an array of options"
            problems.append(
                (
                    f"{at}.name",
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                )
            )
        seen.add(str(name))
        _length(problems, f"{at}.description", option.get("description"), 1, DESCRIPTION_MAX)
        kind = int(option.get("type", 0))
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _options(problems, f"{at}.options", option.get("options") or [])
            continue
        # Option Structure (warning): "Required options must be listed before optional options"
        if option.get("required"):
            if optional_seen:
                problems.append(
                    (
                        f"{at}.required",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        _too_many(problems, f"{at}.choices", choices, MAX_CHOICES)
        for c_index, choice in enumerate(choices):
            _length(
                problems, f"{at}.choices.{c_index}.name", choice.get("name"), 1, CHOICE_NAME_MAX
            )
            if kind == STRING:
                _length(
                    problems,
                    f"{at}.choices.{c_index}.value",
                    choice.get("value"),
                    1,
                    CHOICE_VALUE_MAX,
                )
        if choices and option.get("autocomplete"):  # "autocomplete may not be set ... choices"
            problems.append(
                (
                    f"{at}.autocomplete",
                    "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be set with choices",
                )
            )
        for key, low in (("min_length", 0), ("max_length", 1)):
            if key in option and option[key] is not None:
                if kind != STRING or not low <= int(option[key]) <= STRING_LENGTH_MAX:
                    problems.append(
                        (
                            f"{at}.{key}",
                            "NUMBER_TYPE_MAX",
                            f"int value should be between {low} and {STRING_LENGTH_MAX}.",
                        )
                    )


def _size(command: dict[str, Any]) -> int:
    """Slash Commands: "combined name, description, and value properties for each command, its
    options (including subcommands and groups), and choices"."""
    total = len(str(command.get("name", ""))) + len(str(command.get("description", "")))
    for option in command.get("options") or []:
        total += _size(option)
    for choice in command.get("choices") or []:
        total += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return total


def check_command(command: dict[str, Any]) -> None:
    problems = command_problems(command)
    if problems:
        raise invalid_form(problems)


def check_command_set(commands: list[dict[str, Any]]) -> None:
    """Registering a Command: per-type counts, and names unique per type within a scope."""
    problems: Problems = []
    for index, command in enumerate(commands):
        problems += command_problems(command, f"{index}.")
    by_type: dict[int, list[str]] = {}
    for command in commands:
        by_type.setdefault(int(command.get("type", 1)), []).append(str(command.get("name")))
    for kind, names in by_type.items():
        limit = COMMANDS_PER_TYPE.get(kind)
        if limit is not None and len(names) > limit:
            problems.append(
                (
                    "_errors",
                    "APPLICATION_COMMANDS_TOO_MANY",
                    f"Maximum number of application commands reached ({limit})",
                )
            )
        if len(set(names)) != len(names):
            problems.append(
                (
                    "_errors",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            )
    if problems:
        raise invalid_form(problems)


def check_typed_value(option: dict[str, Any], value: Any) -> None:
    """What the client lets a member send for an option (Option Structure: choices,
    min_length/max_length, min_value/max_value). A value outside them cannot be typed."""
    name, kind = option.get("name"), int(option.get("type", 0))
    choices = option.get("choices") or []
    if choices and value not in [c.get("value") for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of its choices")
    if kind == STRING:
        text = str(value)
        low = int(option.get("min_length") or 0)
        high = int(option.get("max_length") or STRING_LENGTH_MAX)
        if not low <= len(text) <= high:
            raise ValueError(f"option {name!r}: {len(text)} characters, allowed {low}-{high}")
    elif kind in (INTEGER, NUMBER):
        if option.get("min_value") is not None and value < option["min_value"]:
            raise ValueError(f"option {name!r}: {value} is below {option['min_value']}")
        if option.get("max_value") is not None and value > option["max_value"]:
            raise ValueError(f"option {name!r}: {value} is above {option['max_value']}")
        if kind == INTEGER and not isinstance(value, int):
            raise ValueError(f"option {name!r}: {value!r} is not an integer")


# -- Components > Component Reference ----------------------------------------------------------
ACTION_ROW, BUTTON, TEXT_INPUT, LABEL = 1, 2, 4, 18
SELECTS = frozenset({3, 5, 6, 7, 8})
LINK, PREMIUM = 5, 6
CUSTOM_ID_MAX = 100  # "custom_id ... 1-100 characters" (Anatomy of a Component > Custom ID)
LEGACY_ROWS_MAX = 5  # Legacy Message Component Behavior: "up to 5 action rows"
ROW_BUTTONS_MAX = 5  # Action Row: "Up to 5 interactive button components or a single select"
BUTTON_LABEL_MAX = 80  # Button Structure: "label ... max 80 characters"
BUTTON_URL_MAX = 512  # Button Structure: "url ... max 512 characters"
SELECT_OPTIONS_MAX = 25  # String Select Structure: "options ... max 25"
SELECT_PLACEHOLDER_MAX = 150
SELECT_OPTION_TEXT_MAX = 100  # Select Option Structure: label, value, description max 100
IS_COMPONENTS_V2 = 1 << 15


def _custom_id(problems: Problems, path: str, component: dict[str, Any], seen: set[str]) -> None:
    custom_id = component.get("custom_id")
    _length(problems, f"{path}.custom_id", custom_id, 1, CUSTOM_ID_MAX)
    # Anatomy of a Component > Custom ID: "Multiple components on the same message must not
    # share the same custom_id."
    if custom_id in seen:
        problems.append(
            (
                f"{path}.custom_id",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        )
    seen.add(str(custom_id))


def _button(problems: Problems, path: str, button: dict[str, Any], seen: set[str]) -> None:
    label = button.get("label")
    if label is not None and len(str(label)) > BUTTON_LABEL_MAX:
        problems.append(
            (
                f"{path}.label",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {BUTTON_LABEL_MAX} or fewer in length.",
            )
        )
    style = int(button.get("style", 1))
    if style == LINK:  # Button Structure: link buttons carry a url and no custom_id
        _length(problems, f"{path}.url", button.get("url"), 1, BUTTON_URL_MAX)
    elif style != PREMIUM:
        _custom_id(problems, path, button, seen)


def _select(problems: Problems, path: str, select: dict[str, Any], seen: set[str]) -> None:
    _custom_id(problems, path, select, seen)
    placeholder = select.get("placeholder")
    if placeholder is not None and len(str(placeholder)) > SELECT_PLACEHOLDER_MAX:
        problems.append(
            (
                f"{path}.placeholder",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {SELECT_PLACEHOLDER_MAX} or fewer in length.",
            )
        )
    options = select.get("options") or []
    _too_many(problems, f"{path}.options", options, SELECT_OPTIONS_MAX)
    for index, option in enumerate(options):
        for key in ("label", "value"):
            _length(
                problems,
                f"{path}.options.{index}.{key}",
                option.get(key),
                1,
                SELECT_OPTION_TEXT_MAX,
            )


def message_component_problems(components: list[dict[str, Any]], flags: int = 0) -> Problems:
    """Legacy message components: up to 5 action rows, each with up to 5 buttons or one select;
    custom_ids of 1-100 characters, unique within the message. Components V2 messages
    (flag 1 << 15) are checked for custom_ids only (Galatea does not send them)."""
    problems: Problems = []
    seen: set[str] = set()
    if not flags & IS_COMPONENTS_V2:
        _too_many(problems, "components", components, LEGACY_ROWS_MAX)
    for r_index, row in enumerate(components):
        at = f"components.{r_index}"
        if int(row.get("type", 0)) != ACTION_ROW:
            if not flags & IS_COMPONENTS_V2:
                problems.append(
                    (
                        f"{at}.type",
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (1,).',
                    )
                )
            continue
        children = row.get("components") or []
        buttons = [c for c in children if int(c.get("type", 0)) == BUTTON]
        selects = [c for c in children if int(c.get("type", 0)) in SELECTS]
        if not children:
            problems.append(
                (f"{at}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            )
        _too_many(problems, f"{at}.components", buttons, ROW_BUTTONS_MAX)
        if selects and len(children) > 1:
            problems.append(
                (
                    f"{at}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            )
        for c_index, child in enumerate(children):
            c_at = f"{at}.components.{c_index}"
            if int(child.get("type", 0)) == BUTTON:
                _button(problems, c_at, child, seen)
            elif int(child.get("type", 0)) in SELECTS:
                _select(problems, c_at, child, seen)
    return problems


def check_message_components(components: list[dict[str, Any]], flags: int = 0) -> None:
    problems = message_component_problems(components, flags)
    if problems:
        raise invalid_form(problems)


# -- Interactions > Receiving and Responding > Modal; Components > Text Input, Label ----------
MODAL_TITLE_MAX = 45  # "Title of the popup modal, max 45 characters"
MODAL_COMPONENTS_MAX = 5  # "Between 1 and 5 (inclusive) components that make up the modal"
LABEL_MAX = 45  # Label Structure: "The label text; max 45 characters"
LABEL_DESCRIPTION_MAX = 100  # Label Structure: "description ... max 100 characters"
TEXT_INPUT_MAX = 4000  # Text Input Structure: min_length 0-4000, max_length 1-4000, value 4000
PLACEHOLDER_MAX = 100  # Text Input Structure: "placeholder ... max 100 characters"


def modal_problems(data: dict[str, Any]) -> Problems:
    problems: Problems = []
    _length(problems, "data.custom_id", data.get("custom_id"), 1, CUSTOM_ID_MAX)
    _length(problems, "data.title", data.get("title"), 1, MODAL_TITLE_MAX)
    top = data.get("components") or []
    if not 1 <= len(top) <= MODAL_COMPONENTS_MAX:
        problems.append(
            (
                "data.components",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MODAL_COMPONENTS_MAX} in length.",
            )
        )
    seen: set[str] = set()
    for index, component in enumerate(top):
        at = f"data.components.{index}"
        kind = int(component.get("type", 0))
        if kind == LABEL:
            _length(problems, f"{at}.label", component.get("label"), 1, LABEL_MAX)
            description = component.get("description")
            if description is not None and len(str(description)) > LABEL_DESCRIPTION_MAX:
                problems.append(
                    (
                        f"{at}.description",
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {LABEL_DESCRIPTION_MAX} or fewer in length.",
                    )
                )
            inputs = [component.get("component") or {}]
            at_inputs = [f"{at}.component"]
        elif kind == ACTION_ROW:  # the older layout: one text input per row
            inputs = component.get("components") or []
            at_inputs = [f"{at}.components.{i}" for i in range(len(inputs))]
            if len(inputs) != 1:
                problems.append(
                    (
                        f"{at}.components",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 1 in length.",
                    )
                )
        else:
            continue  # Text Display and file uploads carry no text limits checked here
        for field, path in zip(inputs, at_inputs, strict=True):
            if int(field.get("type", 0)) == TEXT_INPUT:
                _text_input(problems, path, field, seen)
            elif int(field.get("type", 0)) in SELECTS:
                _select(problems, path, field, seen)
    return problems


def _text_input(problems: Problems, path: str, field: dict[str, Any], seen: set[str]) -> None:
    _custom_id(problems, path, field, seen)
    if field.get("label") is not None:  # deprecated on the input; the Label's limit applies
        _length(problems, f"{path}.label", field.get("label"), 1, LABEL_MAX)
    for key, low in (("min_length", 0), ("max_length", 1)):
        if field.get(key) is not None and not low <= int(field[key]) <= TEXT_INPUT_MAX:
            problems.append(
                (
                    f"{path}.{key}",
                    "NUMBER_TYPE_MAX",
                    f"int value should be between {low} and {TEXT_INPUT_MAX}.",
                )
            )
    value = field.get("value")
    if value is not None and len(str(value)) > TEXT_INPUT_MAX:
        problems.append(
            (
                f"{path}.value",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {TEXT_INPUT_MAX} or fewer in length.",
            )
        )
    placeholder = field.get("placeholder")
    if placeholder is not None and len(str(placeholder)) > PLACEHOLDER_MAX:
        problems.append(
            (
                f"{path}.placeholder",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {PLACEHOLDER_MAX} or fewer in length.",
            )
        )


def check_modal(data: dict[str, Any]) -> None:
    problems = modal_problems(data)
    if problems:
        raise invalid_form(problems)


def text_inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modal's text inputs by custom_id, whichever layout it uses."""
    found: dict[str, dict[str, Any]] = {}
    for component in modal.get("components") or []:
        inner = [component.get("component") or {}, *list(component.get("components") or [])]
        for field in inner:
            if int(field.get("type", 0)) == TEXT_INPUT:
                found[str(field.get("custom_id"))] = field
    return found


def check_submitted_text(modal: dict[str, Any], values: dict[str, Any]) -> None:
    """What the client lets a member submit (Text Input Structure: required, min_length,
    max_length). A value outside them cannot be submitted."""
    fields = text_inputs(modal)
    for custom_id, field in fields.items():
        value = values.get(custom_id, field.get("value") or "")
        text = str(value)
        if not text and field.get("required", True):
            raise ValueError(f"text input {custom_id!r} is required")
        high = int(field.get("max_length") or TEXT_INPUT_MAX)
        low = int(field.get("min_length") or 0)
        if text and not low <= len(text) <= high:
            raise ValueError(
                f"text input {custom_id!r}: {len(text)} characters, allowed {low}-{high}"
            )
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"the modal has no text inputs {sorted(unknown)}")


def invalid_form(problems: Problems) -> errors.ApiError:
    """50035 Invalid Form Body, errors nested by path as Discord nests them."""
    tree: dict[str, Any] = {}
    for path, code, message in problems:
        node = tree
        for part in path.split("."):
            if part == "_errors":
                break
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return errors.ApiError(400, 50035, "Invalid Form Body", tree)
