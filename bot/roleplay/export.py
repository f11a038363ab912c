"""A session's history as files people can keep: plain text and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.errors import NotFound
from bot.store import UnitOfWork
from bot.values import Character, SessionMemory, StoredMessage


async def export_session(uow: UnitOfWork, session_id: int) -> tuple[str, str]:
    """A session's whole visible history as (text, JSON), read in bounded batches."""
    session = await uow.sessions.get(session_id)
    character = await uow.characters.get(session.character_id) if session else None
    if character is None:
        raise NotFound("That session no longer exists.")
    messages = [m async for m in uow.messages.iterate(session_id)]
    memory = await uow.memory.state(session_id)
    names = {c.id: c.name for c in [character]}
    for summary in memory.summaries:
        if summary.character_id not in names:
            other = await uow.characters.get(summary.character_id)
            names[summary.character_id] = other.name if other else "?"
    text = history_text(character, messages) + memory_text(memory, names)
    data = json.loads(history_json(character, messages))
    data["memory"] = memory_json(memory, names)
    return text, json.dumps(data, ensure_ascii=False, indent=2)


def memory_text(memory: SessionMemory, names: dict[int, str]) -> str:
    """The session's summaries and pinned facts, after the history (bot/memory/)."""
    lines = [f"Memory of {names[s.character_id]}: {s.text}" for s in memory.summaries if s.text]
    lines += [f"Pinned: {pin.text}" for pin in memory.pins]
    return "\n# Memory\n\n" + "\n".join(lines) + "\n" if lines else ""


def memory_json(memory: SessionMemory, names: dict[int, str]) -> dict[str, object]:
    return {
        "enabled": memory.enabled,
        "summaries": [
            {
                "character": names[s.character_id],
                "text": s.text,
                "covered_until_message": s.covered_until,
                "revision": s.revision,
            }
            for s in memory.summaries
        ],
        "pins": [{"text": pin.text, "pinned_by": pin.pinned_by} for pin in memory.pins],
    }


def history_text(character: Character, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# Roleplay with {character.name}", ""]
    for message in messages:
        # Each line is signed with whoever spoke it (several characters in a group scene).
        who = message.speaker or character.name
        stamp = message.created_at.strftime("%Y-%m-%d %H:%M")
        lines.append(f"[{stamp}] {who}: {message.content}")
    return "\n".join(lines) + "\n"


def history_json(character: Character, messages: Sequence[StoredMessage]) -> str:
    return json.dumps(
        {
            "character": {"name": character.name, "persona": character.persona},
            "messages": [
                {
                    "role": m.role.value,
                    "speaker": m.speaker,
                    "content": m.content,
                    "created_at": m.created_at.isoformat(),
                    "edited_at": m.edited_at.isoformat() if m.edited_at else None,
                    "discord_message_id": m.discord_message_id,
                    "versions": list(m.swipes) or None,
                }
                for m in messages
            ],
        },
        ensure_ascii=False,
        indent=2,
    )
