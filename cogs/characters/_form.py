"""The form with a character's long texts, which slash-command options cannot hold (no line
breaks there): one input for each field whose spec has a form (bot.values.CHARACTER_FIELDS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import discord

from bot.characters.fields import FORM_FIELDS, CharacterDraft
from bot.values import CharacterFields, FieldSpec, FormInput
from cogs.forms import Opener, OwnedModal

OnSubmit = Callable[[discord.Interaction[Any], CharacterDraft], Awaitable[None]]


def _form(spec: FieldSpec) -> FormInput:
    if spec.form is None:
        raise ValueError(f"{spec.name} has no form input")
    return spec.form


def too_long_for_form(character: CharacterFields) -> FieldSpec | None:
    """The first field of ``character`` longer than its form input holds, if any."""
    for spec in FORM_FIELDS:
        if len(getattr(character, spec.name)) > _form(spec).max_length:
            return spec
    return None


class CharacterModal(OwnedModal):
    """The form; each opened form has an id of its own, and only its opener, in the server
    where it was opened, can submit it (see cogs/forms.py)."""

    def __init__(
        self, opener: Opener, *, title: str, draft: CharacterDraft, on_submit: OnSubmit
    ) -> None:
        super().__init__(opener, kind="character", title=title, timeout=900)
        self._on_submit = on_submit
        self._draft = draft  # what the form does not show (card fields, flags) stays as is
        self.inputs: dict[str, discord.ui.TextInput[CharacterModal]] = {}
        for spec in FORM_FIELDS:
            form = _form(spec)
            text_input: discord.ui.TextInput[CharacterModal] = discord.ui.TextInput(
                label=form.label,
                custom_id=form.custom_id or spec.name,
                style=discord.TextStyle.paragraph if form.paragraph else discord.TextStyle.short,
                default=getattr(draft, spec.name) or None,
                placeholder=form.placeholder,
                required=form.required,
                max_length=form.max_length,
            )
            self.inputs[spec.name] = text_input
            self.add_item(text_input)

    def draft(self) -> CharacterDraft:
        typed: dict[str, Any] = {name: field.value for name, field in self.inputs.items()}
        return replace(self._draft, **typed)

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        await self._on_submit(interaction, self.draft())

    async def on_error(  # type: ignore[override]  # a Modal's on_error has no item
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await interaction.client.tree.on_error(interaction, error)
