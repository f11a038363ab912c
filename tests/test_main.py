"""The command line as an operator meets it: real processes, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
