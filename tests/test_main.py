"""The command line as an operator meets it: real processes, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_main(
    *args: str, env: dict[str, str] | None = None, stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "MODEL", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
    )


def test_help_lists_the_subcommands() -> None:
    result = run_main("--help")
    assert result.returncode == 0
    for command in ("run", "chat", "migrate"):
        assert command in result.stdout


def test_an_invalid_setting_is_one_clear_line_and_exit_status_2(tmp_path: Path) -> None:
    result = run_main("migrate", env={"CONTEXT_LENGTH": "lots"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "galatea: Setting CONTEXT_LENGTH is invalid (got 'lots'): expected a whole number of "
        "tokens between 256 and 131072 (empty: the model's own)."
    ]
    assert "Traceback" not in result.stderr


def test_missing_token_for_the_bot_is_exit_status_2(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    result = run_main("run", env={"DATABASE_URL": db}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TEMPERATURE=9\n")
    result = run_main("migrate", cwd=tmp_path)
    assert result.returncode == 2 and "TEMPERATURE" in result.stderr


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    db = tmp_path / "data" / "galatea.db"
    result = run_main("migrate", env={"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert db.is_file()


def test_chat_runs_end_to_end_on_the_tiny_model(tmp_path: Path, tiny_model_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        "MODEL": str(tiny_model_path),
        "MAX_NEW_TOKENS": "12",
    }
    script = "Aqua\nA goddess.\nHi {{user}}!\n\nHello!\n/user Bob\nHey!\n/quit\n"
    result = run_main("chat", "--user", "Alice", env=env, stdin=script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Aqua: Hi Alice!" in result.stdout
    assert "Now speaking as Bob." in result.stdout


def test_the_example_env_file_is_valid_and_pins_no_context_length(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    db = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    result = run_main("migrate", env={"DATABASE_URL": db}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\nCONTEXT_LENGTH=\n" in (ROOT / ".env.example").read_text()


def test_no_install_hint_names_the_unrelated_package_on_the_index() -> None:
    # "pip install galatea[...]" would fetch someone else's project of that name.
    for path in [ROOT / "README.md", ROOT / ".env.example", *(ROOT / "bot").rglob("*.py")]:
        assert "galatea[" not in path.read_text(), path


def test_log_lines_carry_the_date_and_an_optional_rotated_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "galatea.log"
    db = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    result = run_main(
        "migrate",
        env={"DATABASE_URL": db, "LOG_FILE": str(log_file), "LOG_LEVEL": "DEBUG"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = log_file.read_text().splitlines()
    assert lines and all(line[:4].isdigit() and line[4] == "-" for line in lines if line[:1] != " ")


def test_the_log_file_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    import main

    monkeypatch.setattr(main, "LOG_FILE_BYTES", 2_000)
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        main.configure_logging("INFO", str(tmp_path / "galatea.log"))
        for i in range(300):
            logging.getLogger("galatea.test").info("line %d of a long enough log message", i)
    finally:
        for handler in set(root.handlers) - set(before):
            handler.close()
            root.removeHandler(handler)
        root.setLevel(level)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["galatea.log", *(f"galatea.log.{n}" for n in range(1, 6))]
    assert all(p.stat().st_size <= 2_000 for p in tmp_path.iterdir())
