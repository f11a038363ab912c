"""Who speaks next in a group scene: named, replied to, or by talkativeness; never too many."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bot.roleplay.speakers import Candidate, choose_speakers, named_in

AQUA = Candidate(1, "Aqua", 0.5)
DARKNESS = Candidate(2, "Darkness", 0.5)
MEGUMIN = Candidate(3, "Megumin", 0.5)
CAST = [AQUA, DARKNESS, MEGUMIN]


def test_the_character_named_answers_and_nobody_else() -> None:
    assert choose_speakers("Darkness, hold the line!", CAST, limit=2) == [2]


def test_several_named_characters_answer_in_the_order_they_were_named() -> None:
    text = "Megumin, no explosions. Aqua, heal her."
    assert choose_speakers(text, CAST, limit=3) == [3, 1]


def test_names_match_whole_words_regardless_of_case() -> None:
    assert named_in("aqua? AQUARIUM!", CAST) == [1]
    assert named_in("The aquarium is closed.", CAST) == []


def test_the_limit_bounds_named_characters_too() -> None:
    assert choose_speakers("Aqua, Darkness, Megumin: hello!", CAST, limit=2) == [1, 2]


def test_a_reply_to_a_character_goes_first() -> None:
    assert choose_speakers("What do you think, Aqua?", CAST, limit=2, replied_to=3) == [3, 1]


def test_in_mention_mode_nobody_answers_an_unaddressed_message() -> None:
    assert choose_speakers("Nice weather.", CAST, limit=2, addressed_only=True) == []
    assert choose_speakers("Nice weather, Aqua.", CAST, limit=2, addressed_only=True) == [1]


def test_talkativeness_decides_when_nobody_is_named() -> None:
    chatty = Candidate(1, "Aqua", 1.0)
    silent = Candidate(2, "Darkness", 0.0)
    for seed in range(20):
        assert choose_speakers(
            "Hello all.", [chatty, silent], limit=2, rng=random.Random(seed)
        ) == [1]


def test_when_nobody_speaks_up_one_is_still_drawn() -> None:
    quiet = [Candidate(1, "Aqua", 0.0), Candidate(2, "Darkness", 0.0)]
    drawn = {
        tuple(choose_speakers("Hello?", quiet, limit=2, rng=random.Random(seed)))
        for seed in range(30)
    }
    assert drawn == {(1,), (2,)}


def test_a_lone_character_always_answers_in_all_mode() -> None:
    for seed in range(20):
        assert choose_speakers(
            "Hm.", [Candidate(1, "Aqua", 0.1)], limit=2, rng=random.Random(seed)
        ) == [1]


@given(
    text=st.text(max_size=60),
    talk=st.lists(st.floats(0, 1), min_size=1, max_size=6),
    limit=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_never_more_than_the_limit_and_never_twice(
    text: str, talk: list[float], limit: int, seed: int
) -> None:
    cast = [Candidate(i, f"C{i}", t) for i, t in enumerate(talk)]
    chosen = choose_speakers(text, cast, limit=limit, rng=random.Random(seed))
    assert 1 <= len(chosen) <= limit
    assert len(set(chosen)) == len(chosen)
    assert set(chosen) <= {c.character_id for c in cast}
