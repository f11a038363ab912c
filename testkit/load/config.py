"""How big and how long a load run is, from arguments or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class LoadConfig:
    """One load run. Environment names are ``GALATEA_LOAD_`` + the field name in capitals."""

    seconds: float = 60.0  # how long users keep posting
    channels: int = 20
    users_per_channel: int = 5
    guilds: int = 2  # channels are spread over this many servers
    min_interval: float = 2.0  # seconds between one user's messages: uniform in [min, max]
    max_interval: float = 6.0
    piece_delay: float = 0.01  # the test backend's pause between streamed pieces
    drain_seconds: float = 30.0  # how long unanswered messages may wait after the users stop
    sample_every: float = 10.0  # seconds between memory samples
    latency_bound: float = 10.0  # seconds from a message to the first text answering it
    # Live objects the bot may gain after the warm-up. Measured: within ±500 of flat (replies
    # in flight come and go); a leak of a few objects a message passes this within a minute.
    object_growth_bound: int = 3_000
    # RSS the process may gain a message after the warm-up, beyond what the emulator holds.
    # Measured about 12 KiB: the emulator (in this process) keeps every message, edit and
    # gateway event, and the allocator cannot give back arenas its records are spread over.
    # So only a leak of about 20 KiB a message fails it; the object count is the finer check.
    rss_per_message_bound_kib: float = 32.0
    seed: int = 20_251_125

    @property
    def users(self) -> int:
        return self.channels * self.users_per_channel

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> LoadConfig:
        """Defaults, then ``GALATEA_LOAD_*`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(f"GALATEA_LOAD_{field.name.upper()}")
            if raw is not None:
                kind = int if field.type in ("int", int) else float
                values[field.name] = kind(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)  # type: ignore[arg-type]
        if config.channels < 1 or config.users_per_channel < 1 or config.guilds < 1:
            raise ValueError("a load run needs at least one guild, channel and user")
        if not 0 < config.min_interval <= config.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        return config
