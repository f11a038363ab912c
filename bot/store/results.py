"""How many rows a statement changed: SQLAlchemy types ``execute`` as returning a ``Result``,
while an UPDATE or DELETE returns a ``CursorResult``, which alone has ``rowcount``."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (0 when the driver does not say)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)
