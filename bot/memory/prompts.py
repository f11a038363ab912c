"""What memory puts into prompts: the block in the character's prompt, and summary prompts.

The block (summary, then pinned facts) stands in the character's definition: classic
Pygmalion after the persona and scenario, before ``<START>``; Metharme inside the system
block (bot/prompt/formats.py places it). Recalled lines stand as system lines just before the
newest line, held to a token budget like a lorebook's: near the end, so that the prompt's
start stays the same whatever is recalled.

A summary prompt asks the same model to fold new lines into the summary so far: Metharme
gets an instruction in its system turn; classic Pygmalion, which was not trained on
instructions, gets a chronicler "character" whose reply is the summary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.prompt.sanitize import defuse_tokens, neutralize, speaker_name
from bot.values import Pin, PromptFormat, RecalledLine

SUMMARY_LABEL = "Earlier in the story"
PIN_LABEL = "Remember"
RECALL_LABEL = "Earlier"
MAX_LINE_CHARS = 600  # a folded or recalled line is cut here: one long post cannot crowd out
MAX_SUMMARY_CHARS = 1_500
SUMMARY_STOPS = ("\n\n", "<|user|>", "<|system|>", "<|model|>", "<START>", "</s>", "\nYou:")


def _one_line(text: str, limit: int = MAX_LINE_CHARS) -> str:
    flat = " ".join(defuse_tokens(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def memory_lines(summary: str, pins: Sequence[Pin]) -> tuple[str, ...]:
    """The memory block: the summary so far, then each pinned fact, one line each."""
    lines = [f"[{SUMMARY_LABEL}: {_one_line(summary, MAX_SUMMARY_CHARS)}]"] if summary else []
    lines += [f"[{PIN_LABEL}: {_one_line(pin.text)}]" for pin in pins]
    return tuple(lines)


def recalled_lines(lines: Sequence[RecalledLine]) -> list[str]:
    """Recalled lines as the prompt shows them, oldest first (the format wraps each as a
    system line: ``[Earlier, Ann: ...]`` or ``<|system|>Earlier, Ann: ...``)."""
    return [recalled_line(line) for line in sorted(lines, key=lambda line: line.id)]


def recalled_line(line: RecalledLine) -> str:
    return f"{RECALL_LABEL}, {speaker_name(line.speaker)}: {_one_line(line.content)}"


@dataclass(frozen=True, slots=True)
class SummaryPrompt:
    text: str
    stop: tuple[str, ...]


def summary_prompt(
    prompt_format: PromptFormat,
    character_name: str,
    previous: str,
    lines: Sequence[tuple[str, str]],
    *,
    words: int,
) -> SummaryPrompt:
    """The prompt that folds ``lines`` ((speaker, text), oldest first) into ``previous``."""
    char = speaker_name(character_name)
    so_far = _one_line(previous, MAX_SUMMARY_CHARS) if previous else "(nothing yet)"
    transcript = "\n".join(
        f"{speaker_name(who)}: {neutralize(_one_line(said))}" for who, said in lines
    )
    if prompt_format is PromptFormat.METHARME:
        text = (
            f"<|system|>You keep the memory of a roleplay between {char} and the people "
            f"talking with {char}. Rewrite the summary so far to include the new lines: who is "
            "who, names, places, objects, promises and decisions, in the past tense. Keep what "
            f"will matter later, leave out small talk. At most {words} words, one paragraph."
            f"<|user|>Summary so far: {so_far}\n\nNew lines:\n{transcript}<|model|>Summary:"
        )
    else:
        text = (
            "Chronicler's Persona: A careful chronicler who keeps the memory of a story in a "
            f"short paragraph of at most {words} words: names, places, objects, promises and "
            "decisions, in the past tense.\n<START>\n"
            f"[Summary so far: {so_far}]\n{transcript}\n"
            f"[The chronicler rewrites the summary to include the new lines about {char}.]\n"
            "Chronicler: Summary:"
        )
    return SummaryPrompt(text, SUMMARY_STOPS)


_SENTENCE_END = re.compile(r"[.!?…](?=[\"')\]]?(\s|$))")


def clean_summary(raw: str) -> str:
    """One paragraph, cut after its last whole sentence, within MAX_SUMMARY_CHARS."""
    text = " ".join(defuse_tokens(raw).split())
    for prefix in ("Summary:", "summary:"):
        text = text.removeprefix(prefix).strip()
    text = text[:MAX_SUMMARY_CHARS]
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] < len(text):
        text = text[: ends[-1]]
    return text.strip()
