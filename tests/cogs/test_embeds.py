"""cogs/embeds.py: whatever goes in, the payload passes the emulation's check of Discord's
documented embed limits (testkit/discord_emulator/limits.py), cut visibly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.embeds import Embed, clip, fit_embed, fit_embeds, listing
from cogs.text import split_message
from testkit.discord_emulator.errors import ApiError
from testkit.discord_emulator.limits import check_embeds

COGS = Path(__file__).resolve().parents[2] / "cogs"


def test_every_embed_in_the_cogs_is_made_through_cogs_embeds() -> None:
    offenders = [
        path.name
        for path in COGS.glob("*.py")
        if path.name != "embeds.py" and re.search(r"discord\.Embed\(", path.read_text())
    ]
    assert offenders == []


def test_an_embed_past_every_limit_is_cut_visibly_and_accepted() -> None:
    embed = Embed(title="T" * 300, description="D" * 5000)
    for n in range(30):
        embed.add_field(name=f"N{n}" * 200, value="V" * 2000)
    embed.add_field(name="", value="")
    embed.set_footer(text="F" * 3000)
    embed.set_author(name="A" * 300)
    payload = embed.to_dict()
    check_embeds([payload])  # raises ApiError if Discord would refuse it
    assert payload["title"].endswith("…") and len(payload["title"]) <= 256
    assert len(payload["fields"]) == 25
    assert payload["fields"][-1]["value"] == "7 more not shown"  # 31 fields: 24 shown


def test_a_long_title_alone_is_cut_to_256_and_the_total_shortens_the_longest_text() -> None:
    payload = Embed(title="T" * 300, description="D" * 4096).to_dict()
    embed = Embed(title="t", description="D" * 4096)
    embed.add_field(name="Scenario", value="S" * 1024)
    embed.add_field(name="Greeting", value="G" * 1024)
    total = embed.to_dict()
    check_embeds([payload])
    check_embeds([total])
    assert len(payload["title"]) == 256 and payload["title"].endswith("…")
    assert len(total["description"]) == 6000 - 1 - 2 * 1024 - len("Scenario") - len("Greeting")
    assert [f["value"] for f in total["fields"]] == ["S" * 1024, "G" * 1024]


def test_a_blank_field_gets_a_dash_and_a_blank_footer_is_left_out() -> None:
    embed = Embed(title="t")
    embed.add_field(name="Secondary keys", value="   ")
    embed.set_footer(text=" ")
    payload = embed.to_dict()
    check_embeds([payload])
    assert payload["fields"][0]["value"] == "—" and "footer" not in payload


def test_without_the_fitting_the_same_embed_is_refused() -> None:
    with pytest.raises(ApiError):
        check_embeds([{"title": "t", "fields": [{"name": "n", "value": ""}]}])


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=7000)


@settings(max_examples=60, deadline=None)
@given(
    title=texts,
    description=texts,
    fields=st.lists(st.tuples(texts, texts), max_size=30),
    footer=texts,
)
def test_any_embed_fits(
    title: str, description: str, fields: list[tuple[str, str]], footer: str
) -> None:
    data: dict[str, Any] = {
        "title": title,
        "description": description,
        "fields": [{"name": n, "value": v} for n, v in fields],
        "footer": {"text": footer},
    }
    check_embeds([fit_embed(data)])


def test_several_embeds_share_the_6000() -> None:
    payloads = fit_embeds([{"description": "d" * 4096} for _ in range(12)])
    assert len(payloads) == 10
    check_embeds(payloads)


def test_clip_marks_the_cut() -> None:
    assert clip("abcdef", 4) == "abc…" and clip("  abc  ", 4) == "abc"


def test_listing_cuts_between_items_and_says_how_many_are_left() -> None:
    items = [f"<#{10**18 + i}>" for i in range(100)]
    text = listing(items, 200)
    assert len(text) <= 200 and text.endswith(" more")
    shown = text.split(", … and ")[0].split(", ")
    assert shown == items[: len(shown)]
    assert text.endswith(f"and {100 - len(shown)} more")
    assert listing(items[:3], 200) == ", ".join(items[:3])


@pytest.mark.parametrize("prefix", ["", "**Aqua**: ", "**" + "N" * 64 + "**: "])
@pytest.mark.parametrize("suffix", ["", " …"])
def test_split_message_leaves_room_for_prefix_and_suffix(prefix: str, suffix: str) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    pieces = split_message(text, prefix=prefix, suffix=suffix)
    assert all(len(prefix + p + suffix) <= 2000 for p in pieces)
    assert " ".join(pieces) == text
    one_word = "a" * 2000
    assert all(
        len(prefix + p + suffix) <= 2000
        for p in split_message(one_word, prefix=prefix, suffix=suffix)
    )
