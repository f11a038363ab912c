"""How patient HTTP backends are: timeouts and the retry policy for HTTP 5xx."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Seconds allowed for connecting, for a whole request, and (optionally) between bytes."""

    connect: float = 10.0
    total: float = 300.0
    read: float | None = None  # longest silence inside a response; None: only ``total``

    def client_timeout(self) -> aiohttp.ClientTimeout:
        # sock_connect, not connect: waiting for a free pooled connection is not a sign
        # that the server is unreachable, only a new TCP connection that hangs is.
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a request the server failed with HTTP 5xx."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based): exponential backoff."""
        return min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))


NO_RETRY = RetryPolicy(max_retries=0)
