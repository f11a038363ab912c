"""What the simulated users sent and what each channel showed back, kept compactly (plain
numbers in lists) so the record itself does not look like a leak in the memory figures."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from testkit.discord_emulator import StoredMessage
from testkit.support.ack_backend import answer_of


@dataclass
class ChannelLedger:
    """One channel: human lines in posting order and the character replies seen there."""

    channel_id: int
    sent_ids: list[int] = field(default_factory=list)  # Discord ids; line n is sent_ids[n - 1]
    sent_texts: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # monotonic seconds
    latencies: list[float] = field(default_factory=list)  # seconds, in line order
    answered: int = 0  # lines 1..answered have been answered
    reply_ids: list[int] = field(default_factory=list)  # webhook messages, first seen order
    reply_lines: list[int] = field(default_factory=list)  # the line each reply answered
    untagged_replies: int = 0  # character messages whose first text named no line

    def next_line(self) -> int:
        return len(self.sent_ids) + 1

    def sent(self, message: StoredMessage, text: str) -> None:
        self.sent_ids.append(message.id)
        self.sent_texts.append(text)
        self.sent_at.append(time.monotonic())

    def reply_seen(self, message: StoredMessage) -> None:
        """A character message appeared: it answers every line up to the one it names."""
        self.reply_ids.append(message.id)
        line = answer_of(message.content)
        if line is None:
            self.untagged_replies += 1
            return
        self.reply_lines.append(line)
        now = time.monotonic()
        for index in range(self.answered, min(line, len(self.sent_at))):
            self.latencies.append(now - self.sent_at[index])
        self.answered = max(self.answered, min(line, len(self.sent_at)))

    @property
    def unanswered(self) -> int:
        return len(self.sent_ids) - self.answered

    @property
    def repeated_answers(self) -> int:
        """Replies that answered nothing new: the line they name was already answered."""
        best, repeats = 0, 0
        for line in self.reply_lines:
            if line <= best:
                repeats += 1
            best = max(best, line)
        return repeats


class Ledger:
    """Every channel's record, fed by the users and by a tap on the emulator's messages."""

    def __init__(self, channel_ids: list[int], webhook_author: str) -> None:
        self.channels = {cid: ChannelLedger(cid) for cid in channel_ids}
        self._character = webhook_author
        self._seen: set[int] = set()
        self.all_answered = asyncio.Event()  # set whenever a reply leaves nothing unanswered

    def tap(self, message: StoredMessage) -> bool:
        """Called by the emulator on every message created or edited; never matches, so it
        keeps watching for the whole run (see ``DiscordEmulator.wait_for_message``)."""
        channel = self.channels.get(message.channel_id)
        if (
            channel is not None
            and message.webhook_id is not None
            and message.author_name == self._character
            and message.id not in self._seen
        ):
            self._seen.add(message.id)
            channel.reply_seen(message)
            if not self.unanswered:
                self.all_answered.set()
        return False

    def roots(self) -> tuple[object, ...]:
        """What this record holds, for the memory samples to count as the test's."""
        return (self.channels, self._seen)

    @property
    def sent(self) -> int:
        return sum(len(c.sent_ids) for c in self.channels.values())

    @property
    def unanswered(self) -> int:
        return sum(c.unanswered for c in self.channels.values())
