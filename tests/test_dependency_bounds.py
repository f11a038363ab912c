"""Where Galatea leans on another library's internals, the pin must hold what is installed.

bot/store/sqlite_driver.py subclasses SQLAlchemy's private aiosqlite adapter classes, so
pyproject.toml pins SQLAlchemy below its next minor version; these tests fail when the
installed SQLAlchemy leaves that range or the subclassed names move.
"""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def requirement(name: str) -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        found = Requirement(line)
        if found.name.lower() == name.lower():
            return found
    raise AssertionError(f"{name} is not a dependency")


def test_sqlalchemy_is_pinned_below_its_next_minor_version() -> None:
    pinned = requirement("SQLAlchemy").specifier
    upper = [spec for spec in pinned if spec.operator == "<"]
    assert len(upper) == 1, "the SQLite driver needs an upper bound on SQLAlchemy"
    bound = Version(upper[0].version)
    assert bound.micro == 0 and bound.minor > 0, "the bound is a minor version (<X.Y)"


def test_the_installed_sqlalchemy_is_inside_the_pin() -> None:
    installed = version("SQLAlchemy")
    assert requirement("SQLAlchemy").specifier.contains(installed), installed


def test_the_private_names_the_sqlite_driver_subclasses_exist() -> None:
    aiosqlite = importlib.import_module("sqlalchemy.dialects.sqlite.aiosqlite")
    for name in (
        "AsyncAdapt_aiosqlite_connection",
        "AsyncAdapt_aiosqlite_cursor",
        "AsyncAdapt_aiosqlite_dbapi",
    ):
        assert isinstance(getattr(aiosqlite, name, None), type), name
    concurrency = importlib.import_module("sqlalchemy.util.concurrency")
    assert callable(concurrency.await_)
    assert importlib.import_module("sqlalchemy.util").EMPTY_DICT == {}
