"""Discord-shaped API errors (``{"code", "message", "errors"}``) raised by the REST handlers."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response; the REST middleware turns it into Discord's JSON error body."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            payload["errors"] = self.errors
        return payload


def unauthorized() -> ApiError:
    return ApiError(401, 0, "401: Unauthorized")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def not_found(what: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def unknown_channel() -> ApiError:
    return not_found("Channel", 10003)


def unknown_message() -> ApiError:
    return not_found("Message", 10008)


def unknown_webhook() -> ApiError:
    return not_found("Webhook", 10015)


def unknown_interaction() -> ApiError:
    return not_found("interaction", 10062)


def invalid_form(field_errors: dict[str, tuple[str, str]]) -> ApiError:
    """Discord's 50035 "Invalid Form Body" with per-field ``_errors`` lists."""
    errors = {
        name: {"_errors": [{"code": code, "message": message}]}
        for name, (code, message) in field_errors.items()
    }
    return ApiError(400, 50035, "Invalid Form Body", errors)


def wrong_channel_type() -> ApiError:
    return ApiError(400, 50024, "Cannot execute action on this channel type")


def invalid_field(path: list[str | int], code: str, message: str) -> ApiError:
    """50035 for one nested field, shaped like Discord's ``errors`` tree
    (``{"embeds": {"0": {"title": {"_errors": [...]}}}}``)."""
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        tree = {str(part): tree}
    return ApiError(400, 50035, "Invalid Form Body", tree)
