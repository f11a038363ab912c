"""Turning raw model output into the character's reply."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Sentence ends, with closing quotes, asterisks (actions) or brackets that may follow them.
_SENTENCE_END = re.compile(r"[.!?…~][\"'”’*)\]_]*(?=\s|$)|\*(?=\s|$)")
_FORMAT_MARKERS = ("<START>", "<|user|>", "<|system|>", "<|model|>", "</s>", "<|endoftext|>")


def clean_reply(
    raw: str,
    *,
    character_name: str,
    speakers: Sequence[str] = (),
    truncated: bool = False,
) -> str:
    """Clean a reply: no leading ``{char}:``, nobody else's lines, no half sentence at the end.

    ``truncated`` says the model was cut off by the token limit, so a trailing fragment is
    dropped back to the last complete sentence (when there is one). May return "": the caller
    decides what an empty reply means.
    """
    text = raw
    for marker in _FORMAT_MARKERS:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    own = re.compile(r"^\s*" + re.escape(character_name) + r"\s*:", re.IGNORECASE)
    while own.match(text):
        text = own.sub("", text, count=1)
    others = [re.escape(s) for s in speakers if s.casefold() != character_name.casefold()]
    others.append("You")
    other_line = re.compile(r"(?:^|\n)\s*(?:" + "|".join(others) + r")\s*:", re.IGNORECASE)
    match = other_line.search(text)
    if match:
        text = text[: match.start()]
    # The model continuing as itself on a new line: keep the words, drop the name.
    text = re.sub(r"\n\s*" + re.escape(character_name) + r"\s*:\s*", "\n", text)
    text = text.strip()
    if truncated:
        text = _drop_unfinished_sentence(text)
    return text


def _drop_unfinished_sentence(text: str) -> str:
    ends = list(_SENTENCE_END.finditer(text))
    if not ends:
        return text
    last = ends[-1].end()
    return text[:last].rstrip() if last < len(text) else text
