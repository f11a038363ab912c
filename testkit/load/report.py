"""The figures of a load run, the problems they show, and the table printed for people."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from testkit.load.config import LoadConfig
from testkit.load.memory import MIB, Sample, growth_after_warm_up


@dataclass
class ChannelCheck:
    """One channel after the drain: the store against what was sent and what was shown."""

    name: str
    sent: int
    stored_humans: int
    humans_match: bool  # the stored human lines are exactly the sent ones, in order
    replies_shown: int  # character messages visible in the channel
    replies_stored: int  # character lines in the session history
    stored_twice: int  # stored replies sharing one Discord message
    stored_not_shown: int
    shown_not_stored: int
    repeated_answers: int  # replies that answered no new line: a duplicate reply
    untagged_replies: int
    unanswered: int
    latencies: list[float]  # seconds, message -> first text answering it
    bot_notes: list[str]  # the bot's own messages left in the channel (apologies, errors)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class LoadReport:
    config: LoadConfig
    checks: list[ChannelCheck]
    samples: list[Sample]
    tasks_before: int
    tasks_after: int
    drain_seconds: float
    still_busy: bool = False  # replies were still being written when the drain ended
    new_tasks: list[str] = field(default_factory=list)  # alive at the end, not at the start
    server_tasks: int = 0  # the emulator's, at the end: one per open HTTP connection
    generations: int = 0
    errors: list[str] = field(default_factory=list)
    emulator_errors: list[str] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [x for c in self.checks for x in c.latencies]

    def total(self, name: str) -> int:
        return sum(int(getattr(c, name)) for c in self.checks)

    def duplicate_replies(self) -> list[str]:
        """Channels where the character answered one message twice (a reply after which
        nothing new had been said), in words; kept apart from ``problems`` (a known bug)."""
        return [
            f"#{c.name}: {c.repeated_answers} replies answered a line already answered"
            for c in self.checks
            if c.repeated_answers
        ]

    def problems(self) -> list[str]:
        """Every other broken promise, in words; empty when the run was clean."""
        found: list[str] = []
        bound = self.config.latency_bound
        for c in self.checks:
            where = f"#{c.name}"
            if not c.humans_match:
                found.append(
                    f"{where}: {c.sent} lines sent, {c.stored_humans} stored, not the same lines "
                    "in the same order"
                )
            for what in ("stored_twice", "stored_not_shown", "shown_not_stored"):
                if getattr(c, what):
                    found.append(f"{where}: {getattr(c, what)} replies {what.replace('_', ' ')}")
            if c.untagged_replies:
                found.append(f"{where}: {c.untagged_replies} replies without their line number")
            if c.unanswered:
                found.append(f"{where}: {c.unanswered} lines never answered")
            if c.latencies and max(c.latencies) > bound:
                found.append(f"{where}: answered after {max(c.latencies):.2f} s (bound {bound} s)")
            if c.bot_notes:
                found.append(f"{where}: the bot said {c.bot_notes[:3]!r}")
        _, objects, rss, sent = growth_after_warm_up(self.samples)
        if objects > self.config.object_growth_bound:
            found.append(
                f"bot-side live objects grew by {objects} after the warm-up "
                f"(bound {self.config.object_growth_bound})"
            )
        per_message = rss / max(1, sent) / 1024
        if per_message > self.config.rss_per_message_bound_kib:
            found.append(
                f"bot-side RSS grew by {rss / MIB:.1f} MiB after the warm-up, "
                f"{per_message:.1f} KiB a message (bound {self.config.rss_per_message_bound_kib})"
            )
        if self.still_busy:
            found.append("replies were still being written when the drain ended")
        if self.tasks_after > self.tasks_before:
            found.append(
                f"asyncio tasks: {self.tasks_before} before, {self.tasks_after} after: "
                f"{self.new_tasks[:5]}"
            )
        found.extend(f"logged: {e}" for e in self.errors)
        found.extend(f"emulator: {e}" for e in self.emulator_errors)
        return found

    def table(self) -> str:
        """The figures, as a Markdown table."""
        cfg, lat = self.config, self.latencies
        first, last = self.samples[0], self.samples[-1]
        warm, objects, rss, sent = growth_after_warm_up(self.samples)
        per_channel_max = [max(c.latencies) for c in self.checks if c.latencies]
        rows = [
            (
                "channels × users per channel",
                f"{cfg.channels} × {cfg.users_per_channel} = {cfg.users} users "
                f"in {cfg.guilds} guilds",
            ),
            ("load / drain", f"{cfg.seconds:.0f} s / {self.drain_seconds:.1f} s"),
            ("messages sent", f"{self.total('sent')}"),
            ("messages stored", f"{self.total('stored_humans')}"),
            (
                "replies shown / stored",
                f"{self.total('replies_shown')} / "
                f"{self.total('replies_stored')} ({self.generations} generations)",
            ),
            ("duplicate replies", f"{self.total('repeated_answers')}"),
            (
                "replies stored twice / not shown / not stored",
                f"{self.total('stored_twice')} / "
                f"{self.total('stored_not_shown')} / {self.total('shown_not_stored')}",
            ),
            ("unanswered lines", f"{self.total('unanswered')}"),
            (
                "latency to first text p50 / p95 / max",
                f"{percentile(lat, 0.5):.2f} / "
                f"{percentile(lat, 0.95):.2f} / {max(lat, default=0.0):.2f} s",
            ),
            (
                "slowest channel's max / fastest channel's max",
                f"{max(per_channel_max, default=0):.2f} / {min(per_channel_max, default=0):.2f} s",
            ),
            ("RSS start / end (process)", f"{first.rss / MIB:.1f} / {last.rss / MIB:.1f} MiB"),
            (
                "emulator-held start / end",
                f"{first.emulator_bytes / MIB:.1f} / {last.emulator_bytes / MIB:.1f} MiB",
            ),
            (
                f"bot-side growth after the warm-up (from {warm:.0f} s)",
                f"{rss / MIB:+.1f} MiB ({rss / max(1, sent) / 1024:+.1f} KiB a message), "
                f"{objects:+d} objects",
            ),
            (
                "asyncio tasks start / end",
                f"{self.tasks_before} / {self.tasks_after} (+{self.server_tasks} emulator "
                "connections)",
            ),
            ("errors logged", f"{len(self.errors)}"),
        ]
        lines = ["| figure | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        return "\n".join(lines)

    def channels_table(self) -> str:
        """Per channel: lines sent and stored, replies, duplicates, latency to first text."""
        lines = [
            "| channel | sent | stored | replies | duplicates | p50 s | p95 s | max s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in self.checks:
            p50, p95 = percentile(c.latencies, 0.5), percentile(c.latencies, 0.95)
            worst = max(c.latencies, default=0.0)
            lines.append(
                f"| #{c.name} | {c.sent} | {c.stored_humans} | {c.replies_stored} | "
                f"{c.repeated_answers} | {p50:.2f} | {p95:.2f} | {worst:.2f} |"
            )
        return "\n".join(lines)

    def samples_table(self) -> str:
        lines = [
            "| t (s) | RSS MiB | emulator MiB | bot-side MiB | bot-side objects | cached messages "
            "| sample took s |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {s.at:.0f} | {s.rss / MIB:.1f} | {s.emulator_bytes / MIB:.1f} | "
            f"{s.bot_rss / MIB:.1f} | {s.bot_objects} | {s.cached_messages} | {s.cost:.2f} |"
            for s in self.samples
        ]
        return "\n".join(lines)
