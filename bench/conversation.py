"""Roleplay text for the benchmarks: a character, speakers and chat messages of realistic size.

Deterministic for a seed, varied enough that no two messages repeat (the token counter caches
counts per text, so repeated text would make the bot's own work look cheaper than it is).
"""

from __future__ import annotations

import random

CHARACTER_NAME = "Aqua"
PERSONA = (
    "{{char}} is a cheerful, vain water goddess who followed {{user}} into a world of swords "
    "and sorcery. She loves praise, parties and sweet wine, cries easily when she is teased, "
    "and brags about her divine powers even when they fail her. Beneath the noise she is "
    "loyal and kind: she heals her friends without being asked, blesses the town's fountains "
    "every morning and never abandons anyone in danger. She speaks quickly, laughs loudly, "
    "exaggerates everything and calls {{user}} by nicknames when she is in a good mood."
)
SCENARIO = "The adventurers' guild hall in the town of Axel, late in the evening, after a quest."
GREETING = "*waves from the bar with a mug in each hand* Welcome back, {{user}}! Drinks are on you!"
EXAMPLE_DIALOGUE = (
    "<START>\n{{user}}: Can you heal me?\n"
    "{{char}}: Of course! I am a goddess, after all! *her hands glow with a soft blue light*"
)
SPEAKERS = (
    "Alice",
    "Bob",
    "Chloe",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kaito",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
)

ACTIONS = (
    "waves",
    "laughs",
    "sighs",
    "smiles",
    "frowns",
    "nods",
    "shrugs",
    "grins",
    "points",
    "whispers",
    "leans closer",
    "crosses her arms",
    "raises an eyebrow",
    "sits down",
    "looks around",
    "taps the table",
    "opens the door",
    "pours a drink",
    "draws a sword",
    "counts the coins",
    "checks the map",
    "yawns",
    "stretches",
    "blushes",
)
NOUNS = (
    "egg",
    "dragon",
    "quest",
    "tavern",
    "sword",
    "shield",
    "potion",
    "castle",
    "forest",
    "river",
    "village",
    "merchant",
    "treasure",
    "map",
    "letter",
    "storm",
    "mountain",
    "cave",
    "king",
    "guard",
    "horse",
    "wagon",
    "festival",
    "market",
    "fountain",
    "spell",
    "book",
    "goblin",
    "wolf",
    "lantern",
    "bridge",
    "crown",
    "ring",
    "tower",
    "ship",
    "harbor",
)
ADJECTIVES = (
    "strange",
    "old",
    "heavy",
    "shiny",
    "broken",
    "secret",
    "tiny",
    "huge",
    "ancient",
    "dark",
    "warm",
    "cold",
    "quiet",
    "noisy",
    "golden",
    "silver",
    "dangerous",
    "lucky",
)
SENTENCES = (
    "We found a {adj} {noun} near the {noun2}.",
    "Do you think the {noun} is {adj}?",
    "I told you the {noun} was a bad idea, but nobody listens to me.",
    "Can you tell what is inside the {adj} {noun}?",
    "The {noun2} is on fire again, and the guild wants us to fix it by morning.",
    "If we sell the {noun}, we can pay for the {noun2} and still have money for dinner.",
    "Please stop bragging about your powers and help me carry this {adj} {noun}.",
    "Honestly, I have never seen anything like that {noun} before.",
    "Let's rest here tonight and leave for the {noun2} at dawn.",
    "Who left a {adj} {noun} in my room?",
    "Last time you blessed the {noun}, it turned into a {adj} {noun2}.",
    "I am not paying for your wine again, {char}.",
    "The guard at the {noun2} says the {noun} has been missing for three days.",
    "Why is there water everywhere? Was that you, {char}?",
)


def vocabulary_words() -> list[str]:
    """Words this module writes: the synthetic tokenizer gives them pieces of their own."""
    text = " ".join(
        [
            PERSONA,
            SCENARIO,
            GREETING,
            EXAMPLE_DIALOGUE,
            *SPEAKERS,
            *ACTIONS,
            *NOUNS,
            *ADJECTIVES,
            *SENTENCES,
            CHARACTER_NAME,
        ]
    )
    words: list[str] = []
    current = ""
    for char in text:
        if char.isalpha() or (char == "'" and current):
            current += char
        else:
            if current:
                words.append(current.strip("'"))
            current = ""
    if current:
        words.append(current)
    return list(dict.fromkeys(w for w in words if w and "{" not in w))


class MessageWriter:
    """Writes varied chat messages of one to three sentences, some with an *action*."""

    def __init__(self, seed: int, people: int = 3) -> None:
        self._rng = random.Random(seed)
        self._count = 0
        self._people = max(1, people)

    def message(self) -> str:
        rng = self._rng
        self._count += 1
        parts: list[str] = []
        if rng.random() < 0.5:
            parts.append(f"*{rng.choice(ACTIONS)}*")
        for _ in range(rng.randint(1, 3)):
            parts.append(
                rng.choice(SENTENCES).format(
                    adj=rng.choice(ADJECTIVES),
                    noun=rng.choice(NOUNS),
                    noun2=rng.choice(NOUNS),
                    char=CHARACTER_NAME,
                )
            )
        # A counter makes every message unique, like real chat, so no count is ever cached.
        parts.append(f"({self._count})" if rng.random() < 0.3 else f"#{self._count}")
        return " ".join(parts)

    def reply(self) -> str:
        """A stored character reply, for histories written straight into the database."""
        return f"*{self._rng.choice(ACTIONS)}* " + self.message()

    def speaker(self, channel: int) -> str:
        """Who writes next in ``channel``: one of its ``people`` (three unless told)."""
        return SPEAKERS[(channel * 3 + self._rng.randint(0, self._people - 1)) % len(SPEAKERS)]


def filler_text(seed: int, approx_chars: int) -> str:
    """Prose of about ``approx_chars`` characters for the raw prompt-evaluation measurements."""
    writer = MessageWriter(seed)
    lines: list[str] = []
    size = 0
    while size < approx_chars:
        line = f"{writer.speaker(seed)}: {writer.message()}\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)
