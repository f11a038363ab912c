"""The first start of a real deployment, as the operator sees it: the process, its log and its
exit status. A model that cannot be used stops start-up with one line (exit status 2); the
log has dates, no voice-support noise, and the invite link while the bot is in no server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from cogs.client import INVITE_PERMISSIONS
from testkit.discord_emulator import DiscordEmulator
from tests.test_main import run_main

ROOT = Path(__file__).resolve().parents[1]


def write_broken_ggml(path: Path) -> Path:
    """A file that starts like a GGML model and holds nothing: it passes the header check
    and fails in ctransformers, as a damaged or mislabelled GGML file does."""
    path.write_bytes(b"lmgg" + bytes(4096))
    return path


async def run_bot(
    env: dict[str, str], cwd: Path, *, stop_when: str, within: float
) -> tuple[int, str]:
    """``main.py run`` until it exits or prints ``stop_when`` (then SIGTERM)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "MODEL", "DATABASE_", "LOG_"))
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "run",
        env={**clean, **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    assert process.stdout is not None
    try:
        async with asyncio.timeout(within):
            async for raw in process.stdout:
                lines.append(raw.decode(errors="replace"))
                if stop_when and stop_when in lines[-1]:
                    process.send_signal(signal.SIGTERM)
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, "".join(lines)


async def test_a_model_that_cannot_load_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    model = write_broken_ggml(tmp_path / "pygmalion-6b.bin")
    async with DiscordEmulator() as emu:
        emu.add_guild("Tavern")
        env = {
            "DISCORD_TOKEN": emu.token,
            "DISCORD_API_BASE": emu.api_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            "MODEL": str(model),
        }
        code, output = await run_bot(env, tmp_path, stop_when="", within=60)
    assert code == 2, output
    expected = (
        "galatea: The model pygmalion-6b.bin could not be loaded: Failed to create LLM 'gptj' "
        f"from '{model}'."
    )
    assert output.count(expected) == 1, output
    assert "Traceback" not in output and "still loading" not in output


async def test_a_bot_in_no_server_logs_its_invite_link_with_dates_and_no_voice_noise(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    log_file = tmp_path / "logs" / "galatea.log"
    async with DiscordEmulator() as emu:  # no guilds: a bot that was never invited
        env = {
            "DISCORD_TOKEN": emu.token,
            "DISCORD_API_BASE": emu.api_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            "MODEL": str(tiny_model_path),
            "LOG_FILE": str(log_file),
        }
        code, output = await run_bot(env, tmp_path, stop_when="Invite it with", within=60)
        application_id = emu.application_id
    assert code == 0, output
    invite = (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}"
    )
    assert invite in output
    assert INVITE_PERMISSIONS == 311922117632  # the README's permission integer
    assert re.search(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} INFO ", output, re.MULTILINE)
    assert "voice will NOT be supported" not in output
    assert invite in log_file.read_text()


def test_a_missing_model_file_is_one_line_before_anything_connects(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "not-used",
        "MODEL": "models/pygmalion-2-7b.Q4_K_M.gguf",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
    }
    result = run_main("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "galatea: Setting MODEL names models/pygmalion-2-7b.Q4_K_M.gguf, and there is no such "
        "file: download a model with ./run.sh download, or point MODEL at the file."
    ]


def test_a_file_that_is_not_a_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.gguf").write_text("<html>404 Not Found</html>")
    env = {"MODEL": "notes.gguf", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    result = run_main("chat", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "galatea: Setting MODEL names notes.gguf, which is not a usable model: notes.gguf is not "
        "a GGUF or GGML model file. ./run.sh download fetches a known-good one."
    ]


def test_a_download_cut_short_is_one_line(tmp_path: Path, tiny_model_path: Path) -> None:
    data = tiny_model_path.read_bytes()
    (tmp_path / "cut.gguf").write_bytes(data[: len(data) // 2])
    env = {"MODEL": "cut.gguf", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    result = run_main("chat", env=env, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "cut.gguf is a damaged GGUF file (the file is cut short at" in line


def test_a_model_that_cannot_load_stops_the_chat_with_one_line(tmp_path: Path) -> None:
    model = write_broken_ggml(tmp_path / "pygmalion-6b.bin")
    env = {"MODEL": str(model), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    result = run_main("chat", env=env, cwd=tmp_path)
    assert result.returncode == 2
    ours = [line for line in result.stderr.splitlines() if line.startswith("galatea:")]
    assert ours == [
        f"galatea: The model pygmalion-6b.bin could not be loaded: Failed to create LLM 'gptj' "
        f"from '{model}'."
    ]
    assert "Traceback" not in result.stderr


def test_an_unknown_model_type_is_one_line(tmp_path: Path) -> None:
    result = run_main("migrate", env={"MODEL_TYPE": "GPTJ"}, cwd=tmp_path)  # case matters
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "galatea: Setting MODEL_TYPE is invalid (got 'GPTJ'): expected empty (read from the "
        "file) or a ctransformers model type: llama, gptj, gpt_neox, gpt2, gpt_bigcode, "
        "starcoder, falcon, mpt, replit or dolly-v2."
    ]


def test_known_model_types_are_accepted_as_ctransformers_spells_them(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    for model_type in ("gptj", "gpt-j", "gpt_neox", "dolly-v2"):
        result = run_main(
            "migrate", env={"MODEL_TYPE": model_type, "DATABASE_URL": db}, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr


def test_a_missing_optional_package_names_the_exact_install_command(tmp_path: Path) -> None:
    # llama_cpp is installed here (the test extra); hide it as an install without it would.
    script = (
        "import sys; sys.modules['llama_cpp'] = None; sys.path.insert(0, sys.argv[1]); "
        "import main; sys.exit(main.main(['chat']))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "DATABASE_"))}
    env = {**clean, "INFERENCE_BACKEND": "llama-cpp", "MODEL": "m.gguf"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "galatea: INFERENCE_BACKEND=llama-cpp needs the llama_cpp package, which is not "
        "installed: run .venv/bin/pip install -e '.[llama-cpp]' in the Galatea folder."
    ]
