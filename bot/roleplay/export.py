"""A session's history as files people can keep: plain text and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.values import Character, Role, StoredMessage


def history_text(character: Character, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# Roleplay with {character.name}", ""]
    for message in messages:
        who = character.name if message.role is Role.CHARACTER else message.speaker
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
