"""Fault injection: make the next matching REST requests fail like Discord/Cloudflare would."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    method: str | None
    path_pattern: str
    status: int
    remaining: int
    retry_after: float
    via: bool
    is_global: bool
    body: Any

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return re.search(self.path_pattern, path) is not None


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None,
        path_pattern: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: float = 0.05,
        via: bool = True,
        is_global: bool = False,
        body: Any = None,
    ) -> Fault:
        fault = Fault(
            method.upper() if method else None,
            path_pattern,
            status,
            times,
            retry_after,
            via,
            is_global,
            body,
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> web.Response | None:
        """The injected response for this request, if a fault with uses left matches it."""
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                return _response(fault)
        return None


def _response(fault: Fault) -> web.Response:
    headers = {"Content-Type": "application/json"}
    if fault.status == 429:
        body = fault.body or {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.is_global,
        }
        headers["Retry-After"] = str(max(1, round(fault.retry_after)))
        headers["X-RateLimit-Scope"] = "global" if fault.is_global else "user"
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        # discord.py only retries a 429 that came through Discord's proxy (has a Via header);
        # via=False imitates a Cloudflare ban, which discord.py raises immediately.
        if fault.via:
            headers["Via"] = "1.1 google"
    else:
        body = fault.body or {"message": f"{fault.status}: Injected failure", "code": 0}
    if isinstance(body, str):
        headers["Content-Type"] = "text/html"
        return web.Response(status=fault.status, body=body.encode(), headers=headers)
    return web.Response(status=fault.status, body=json.dumps(body).encode(), headers=headers)
