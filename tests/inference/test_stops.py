"""Stop sequences applied the same way whatever the backend's token boundaries."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.inference.stops import StopMatcher


def _run(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces)
    return out + matcher.flush(), matcher.stopped


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet="ab\n:B", max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=10),
)
def test_output_is_the_text_up_to_the_first_stop_however_it_is_split(
    text: str, cuts: list[int]
) -> None:
    stops = ["\nB:", "aab"]
    bounds = sorted({0, len(text), *[min(c, len(text)) for c in cuts]})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    expected = text[: min(hits)] if hits else text
    assert _run(pieces, stops) == (expected, bool(hits))


def test_nothing_after_a_stop_is_emitted() -> None:
    assert _run(["Hi", "\nB", ":", " more"], ["\nB:"]) == ("Hi", True)
